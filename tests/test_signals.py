"""SIGTERM (what ``kill`` and job schedulers send) stops ``hetrec`` as SIGINT does: the processes
it started are stopped, its temporary files and shared memory removed, the run can be resumed,
and it ends with one line and exit code 143 (docs/reliability.md, "Signals"). Each test runs the
real command in a process of its own (this checkout's hetrec) and signals only that process."""
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _default_signals() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


class Command:
    """``hetrec ARGS`` in a process of its own, with its own temporary folder and a mark in its
    environment that every process it starts inherits."""

    def __init__(self, tmp_path: Path, *args):
        self.mark = f"hetrec-signal-test-{os.getpid()}-{time.monotonic_ns()}"
        self.tmp = tmp_path / "tmp"
        self.tmp.mkdir(exist_ok=True)
        self.err_path = tmp_path / f"stderr-{self.mark}.txt"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               "TMPDIR": str(self.tmp), "OMP_NUM_THREADS": "1", "HETREC_SIGNAL_TEST": self.mark}
        with open(self.err_path, "wb") as err:
            # SIGINT and SIGTERM as a shell's foreground job has them: a test run started in the
            # background by a non-interactive shell inherits SIGINT ignored, and hetrec keeps an
            # ignored signal ignored (test_an_ignored_sigterm_stays_ignored)
            self.proc = subprocess.Popen([sys.executable, "-m", "hetrec.cli", *map(str, args)], cwd=tmp_path, env=env,
                                         stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL,
                                         preexec_fn=_default_signals)

    @property
    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float = 240.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if re.search(pattern, self.stderr):
                return
            assert self.proc.poll() is None, f"ended before {pattern!r}:\n{self.stderr[-3000:]}"
            time.sleep(0.2)
        self.proc.kill()
        pytest.fail(f"no {pattern!r} after {timeout:.0f} s:\n{self.stderr[-3000:]}")

    def stop(self, signum=signal.SIGTERM, timeout: float = 120.0) -> int:
        self.proc.send_signal(signum)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            pytest.fail(f"still running {timeout:.0f} s after {signum!r}:\n{self.stderr[-3000:]}")

    def survivors(self) -> list:
        """Processes (other than the command itself) still running with this command's mark."""
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if self.mark.encode() in Path(f"/proc/{pid}/environ").read_bytes():
                    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")[:200]
                    found.append(f"{pid}: {cmdline.decode(errors='replace')}")
            except OSError:  # gone meanwhile, or not ours to read
                continue
        return found

    def check_stopped_cleanly(self, rc: int, signum=signal.SIGTERM, then: str = "") -> None:
        lines = self.stderr.strip().splitlines()
        assert "Traceback" not in self.stderr, self.stderr[-3000:]
        assert rc == 128 + signum, self.stderr[-3000:]
        assert lines[-1] == f"Error: stopped by {signal.Signals(signum).name}{then}", lines[-3:]
        # multiprocessing's resource tracker leaves on its own once the command's end closes its
        # pipe; on a loaded machine that can take a moment after the command has exited
        end = time.monotonic() + 15
        while self.survivors() and time.monotonic() < end:
            time.sleep(0.2)
        assert self.survivors() == []
        assert list(self.tmp.iterdir()) == []  # temporary folders (launch's, the DistGraph job's) removed


def no_temporaries(folder: Path) -> list:
    return [p for p in folder.rglob("*") if p.name.endswith(".tmp") or ".partial-" in p.name]


def resume_finishes(tmp_path, args) -> None:
    r = subprocess.run([sys.executable, "-m", "hetrec.cli", *map(str, args), "--resume"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=600,
                       env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr[-3000:]
    assert "finished earlier" not in r.stderr and "NDCG@10" in r.stdout


# tiny batches: ~300 steps an epoch on the 600-interaction tables, so that the run is still
# training when the signal arrives (the test polls the log every 0.2 s; the 9 epochs left after
# epoch 3 take seconds, where with the default batch an epoch took ~10 ms and an idle machine
# could finish 150 epochs before the signal), and the resumed run has few epochs left to finish
TRAIN = ["train", "--model", "bprmf", "--epochs", "12", "--patience", "12", "--set", "batch_size=2"]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stopped_train_ends_in_one_line_and_resumes(tables, tmp_path, signum):
    args = [*TRAIN, "--tables", tables, "--out", tmp_path / "run"]
    cmd = Command(tmp_path, *args)
    cmd.wait_for(r"epoch +3 ")
    rc = cmd.stop(signum)
    cmd.check_stopped_cleanly(rc, signum, then="; continue the run with --resume")
    assert (tmp_path / "run" / "fold-0" / "checkpoint.pt").is_file() and not no_temporaries(tmp_path / "run")
    resume_finishes(tmp_path, args)


def test_sigterm_to_data_parallel_train_stops_every_rank_and_resumes(tables, tmp_path):
    args = [*TRAIN, "--nproc", "2", "--tables", tables, "--out", tmp_path / "run"]
    cmd = Command(tmp_path, *args)
    cmd.wait_for(r"epoch +3 ")
    assert len(cmd.survivors()) >= 3  # the command, its two ranks (and torch's helpers)
    rc = cmd.stop(signal.SIGTERM)
    cmd.check_stopped_cleanly(rc, then="; continue the run with --resume")
    assert not no_temporaries(tmp_path / "run")
    resume_finishes(tmp_path, args)


def test_sigterm_to_dist_train_stops_every_server_and_trainer(tmp_path):
    parts = tmp_path / "parts"
    r = subprocess.run([sys.executable, "-m", "hetrec.cli", "partition", "--synthetic", "600", "--num-parts", "2",
                        "--out", parts], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr
    out = tmp_path / "run"
    cmd = Command(tmp_path, "dist-train", "--parts", parts, "--model", "bprmf", "--epochs", "100000", "--patience",
                  "100000", "--out", out)
    cmd.wait_for(r"started 2 graph server")
    time.sleep(8)  # servers serving, trainers connected and training (they log nothing per epoch)
    assert cmd.proc.poll() is None, cmd.stderr
    assert len(cmd.survivors()) == 5  # the command, two graph servers, two trainers
    rc = cmd.stop(signal.SIGTERM)
    cmd.check_stopped_cleanly(rc)
    assert not list(Path("/dev/shm").glob(f"hetrec{cmd.proc.pid}x*"))  # DGL's shared memory
    assert not (out / "results.json").exists()


# -- in this process: the handler itself ---------------------------------------------------------

def test_sigterm_at_any_point_of_a_command_is_one_line_and_the_handlers_are_restored(tables, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from hetrec import cli_common
    from hetrec.cli import main

    before = signal.getsignal(signal.SIGTERM)

    def killed_while_loading(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the signal is handled here, in the main thread
        pytest.fail("SIGTERM did not stop the command")

    monkeypatch.setattr(cli_common, "_load", killed_while_loading)
    monkeypatch.setattr("hetrec.cli._load", killed_while_loading)
    r = CliRunner().invoke(main, ["data", "info", "--tables", str(tables)])
    assert r.exit_code == 143 and r.output.strip().splitlines() == ["Error: stopped by SIGTERM"], r.output
    assert signal.getsignal(signal.SIGTERM) is before

    def killed_while_parsing(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(main, "parse_args", killed_while_parsing)
    r = CliRunner().invoke(main, ["data", "info"])
    assert r.exit_code == 130 and r.output.strip().splitlines() == ["Error: stopped by SIGINT"], r.output


def test_an_ignored_sigterm_stays_ignored():
    from hetrec._signals import terminate_as_interrupt

    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)  # as under nohup-like wrappers
    try:
        with terminate_as_interrupt():
            assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.1)
    finally:
        signal.signal(signal.SIGTERM, previous)
