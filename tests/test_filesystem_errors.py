"""File-system errors outside the training loop end as one line ``Error: <path>: <reason>`` with a
non-zero exit code, never a traceback, and leave nothing a later command would trust: a full disk
and a read-only file system (real tmpfs mounts; skipped where mounting is not allowed), a name over
255 bytes, and a file where a folder belongs, meeting each command where it writes (docs/reliability.md,
"File-system errors")."""
import errno
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from hetrec import _io
from hetrec.cli import main

LONG = "n" * 300  # over the 255 bytes a file name may have


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line_error(result, pattern: str) -> str:
    """The command failed with one ``Error:`` line matching ``pattern`` and no traceback."""
    import re

    assert result.exit_code not in (0, None), result.output
    assert isinstance(result.exception, SystemExit), (result.exception, result.output)  # not an escaped exception
    assert "Traceback" not in result.output and "Stack trace" not in result.output, result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("Error: ") and re.search(pattern, last), result.output
    assert sum(line.startswith("Error") for line in result.output.splitlines()) == 1, result.output
    return last


class Mounts:
    """Small tmpfs file systems: ``full()`` (every byte taken by a file ``filler``, which
    :meth:`free` removes) and ``read_only()``. Skips the test where mounting is not allowed."""

    def __init__(self, tmp_path):
        self.tmp_path, self.mounted = tmp_path, []

    def _mount(self, options: str):
        if os.geteuid() != 0 or shutil.which("mount") is None:
            pytest.skip("mounting a tmpfs needs root")
        where = self.tmp_path / f"mnt{len(self.mounted)}"
        where.mkdir()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True, text=True)
        if r.returncode:
            pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
        self.mounted.append(where)
        return where

    def full(self, size: str = "1m", fill: bool = True):
        where = self._mount(f"size={size}")
        if fill:
            try:
                with open(where / "filler", "wb") as f:
                    while True:
                        f.write(b"\0" * 65536)
                        f.flush()
            except OSError as err:
                assert err.errno == errno.ENOSPC
        return where

    def free(self, where):
        (where / "filler").unlink()

    def read_only(self):
        return self._mount("size=1m,ro")

    def unmount(self):
        for where in self.mounted:
            subprocess.run(["umount", "-l", str(where)], capture_output=True)


@pytest.fixture
def mounts(tmp_path):
    m = Mounts(tmp_path)
    yield m
    m.unmount()


def place(kind: str, mounts, tmp_path, name: str = "out"):
    """``(path, reason pattern)``: where a command is told to write, and why that fails."""
    if kind == "full":
        return mounts.full() / name, "No space left on device"
    if kind == "read-only":
        return mounts.read_only() / name, "Read-only file system"
    if kind == "long name":
        return tmp_path / LONG / name, "File name too long"
    (tmp_path / "a-file").write_text("not a folder")
    return tmp_path / "a-file" / name, r"a-file: a file where a folder is needed"


KINDS = ["full", "read-only", "long name", "file in the way"]


def is_dir(path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # a name too long
        return False


def leftovers(folder) -> list:
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith(".tmp") or ".partial-" in p.name)


# -- train: claiming the run folder, its lock, its summary --------------------------------------

TRAIN = ["train", "--model", "mostpop"]


@pytest.mark.parametrize("kind", KINDS)
def test_train_into_an_unusable_folder_is_one_line(tables, tmp_path, mounts, kind):
    out, reason = place(kind, mounts, tmp_path)
    line = one_line_error(run(*TRAIN, "--tables", tables, "--out", out), reason)
    assert str(out.parent if kind == "file in the way" else out)[:40] in line or "a-file" in line
    assert not (is_dir(out.parent) and (out / "config.json").exists())
    if kind == "full":  # the folder was claimed, not written: once there is room, the same command runs
        assert leftovers(out.parent) == []
        mounts.free(out.parent)
        r = run(*TRAIN, "--tables", tables, "--out", out)
        assert r.exit_code == 0, r.output


def test_a_lock_file_that_is_a_folder_is_one_line(tables, tmp_path):
    out = tmp_path / "run"
    (out / ".lock").mkdir(parents=True)
    one_line_error(run(*TRAIN, "--tables", tables, "--out", out), r"run/\.lock: Is a directory")


def test_a_full_disk_when_the_summary_is_written_is_one_line_and_resume_writes_it(tables, tmp_path, monkeypatch):
    from hetrec import _integrity

    out = tmp_path / "run"
    real = _integrity.atomic_write_text  # every sealed JSON file (the summary too) is written through it

    def full_at_the_summary(path, text):
        if Path(path) == out / "metrics.json":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real(path, text)

    monkeypatch.setattr(_integrity, "atomic_write_text", full_at_the_summary)
    one_line_error(run(*TRAIN, "--tables", tables, "--out", out), r"run/metrics\.json: No space left on device")
    assert not (out / "metrics.json").exists() and (out / "fold-0" / "metrics.json").is_file()
    monkeypatch.setattr(_integrity, "atomic_write_text", real)
    r = run(*TRAIN, "--tables", tables, "--out", out, "--resume")
    assert r.exit_code == 0 and "finished earlier" in r.output, r.output
    assert json.loads((out / "metrics.json").read_text())["folds"]["0"]["test"]


# -- evaluate ------------------------------------------------------------------------------------

def test_evaluate_of_an_unreadable_model_or_data_is_one_line(tables, tmp_path):
    out = tmp_path / "run"
    assert run(*TRAIN, "--tables", tables, "--out", out).exit_code == 0
    one_line_error(run("evaluate", "--run", tmp_path / LONG / "run"), "does not exist")
    model = out / "fold-0" / "model.pt"
    model.unlink()
    model.mkdir()  # a folder where the model file belongs
    one_line_error(run("evaluate", "--run", out), r"model\.pt: (.*Is a directory|no trained model)")


def test_a_run_on_a_read_only_file_system_evaluates(tables, tmp_path, mounts):
    disk = mounts.full(size="4m", fill=False)
    assert run(*TRAIN, "--tables", tables, "--out", disk / "run").exit_code == 0
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
    r = run("evaluate", "--run", disk / "run")
    assert r.exit_code == 0 and "NDCG@10" in r.output, r.output
    one_line_error(run(*TRAIN, "--tables", tables, "--out", disk / "run", "--resume"), "Read-only file system")


def test_evaluate_of_a_run_whose_tables_folder_became_a_file_is_one_line(tables, tmp_path):
    own = tmp_path / "tables"
    shutil.copytree(tables, own)
    out = tmp_path / "run"
    assert run(*TRAIN, "--tables", own, "--out", out).exit_code == 0
    shutil.rmtree(own)
    own.write_text("a file now")
    one_line_error(run("evaluate", "--run", out), "tables")


# -- data info: the dataset cache is optional, whatever stops its write -------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_a_cache_that_cannot_be_written_is_a_warning_and_leaves_nothing(lastfm_dir, tmp_path, mounts, monkeypatch,
                                                                        kind):
    cache, _ = place(kind, mounts, tmp_path, "cache")
    monkeypatch.setenv("HETREC_CACHE", str(cache))
    r = run("data", "info", "lastfm", "--data-dir", lastfm_dir.parent)
    assert r.exit_code == 0 and r.exception is None, r.output
    assert "Traceback" not in r.output
    assert "warning: could not write the dataset cache" in r.output and "interacts" in r.output
    root = cache.parent if is_dir(cache.parent) else tmp_path
    assert leftovers(root) == [] and not list(root.rglob("*.bin"))


def test_tables_in_an_unusable_folder_are_one_line(tmp_path):
    one_line_error(run("data", "info", "--tables", tmp_path / LONG), "File name too long|not")
    (tmp_path / "a-file").write_text("x")
    one_line_error(run("data", "info", "--tables", tmp_path / "a-file" / "tables"), "a-file|not")


# -- partition: DGL's C++ writer on a full disk, and the hidden temporary folder ---------------

def test_partition_on_a_full_disk_says_so_in_one_line_and_leaves_nothing(tmp_path, mounts):
    small = mounts.full(size="300k", fill=False)  # room for a part of DGL's files, not all
    line = one_line_error(run("partition", "--synthetic", "3000", "--num-parts", "2", "--method", "random",
                              "--out", small / "parts"), r"parts: No space left on device; nothing was written")
    assert "FileStream" not in line
    assert list(small.iterdir()) == []  # no partial partition folder, hidden or not


@pytest.mark.parametrize("kind", KINDS)
def test_partition_into_an_unusable_folder_is_one_line(tmp_path, mounts, kind):
    out, reason = place(kind, mounts, tmp_path, "parts")
    one_line_error(run("partition", "--synthetic", "600", "--num-parts", "2", "--out", out), reason)
    if is_dir(out.parent):
        assert [p.name for p in out.parent.iterdir() if p.name != "filler"] == []


# -- tune: the study's folder and its database -------------------------------------------------

TUNE = ["tune", "--model", "mostpop", "--trials", "1"]


@pytest.mark.parametrize("kind", KINDS)
def test_tune_into_an_unusable_folder_is_one_line(tables, tmp_path, mounts, kind):
    out, reason = place(kind, mounts, tmp_path, "study")
    one_line_error(run(*TUNE, "--tables", tables, "--out", out), reason)
    if kind == "full":
        mounts.free(out.parent)
        r = run(*TUNE, "--tables", tables, "--out", out)
        assert r.exit_code == 0, r.output


def test_a_study_resumed_on_a_full_disk_is_one_line_and_keeps_its_trials(tables, tmp_path, mounts):
    disk = mounts.full(size="4m", fill=False)
    out = disk / "study"
    args = ["tune", "--model", "itemknn", "--tables", tables, "--out", out]
    assert run(*args, "--trials", "1").exit_code == 0
    try:  # now fill the disk
        with open(disk / "filler", "wb") as f:
            while True:
                f.write(b"\0" * 4096)
                f.flush()
    except OSError:
        pass
    one_line_error(run(*args, "--trials", "3"), "No space left on device")
    mounts.free(disk)
    r = run(*args, "--trials", "3")
    assert r.exit_code == 0, r.output
    assert len((out / "trials.csv").read_text().splitlines()) >= 4  # header + 3 finished trials
    assert leftovers(disk) == []


# -- the one-line form itself ----------------------------------------------------------------

def test_os_error_lines():
    from hetrec._errors import error_line, first_line

    assert error_line(OSError(errno.ENOSPC, "No space left on device", "/x/y")) == "/x/y: No space left on device"
    assert error_line(OSError(errno.EXDEV, "Invalid cross-device link", "/a", None, "/b")) == \
        "/a -> /b: Invalid cross-device link"
    assert error_line(ValueError("not an OS error")) is None
    native = "[05:05:21] /opt/dgl/src/io.cc:38: Check failed: fwrite: No space left on device\nStack trace:\n  [bt] (0)"
    assert first_line(native) == "Check failed: fwrite: No space left on device"


def test_atomic_writes_into_a_read_only_folder_leave_nothing(mounts):
    ro = mounts.read_only()
    with pytest.raises(OSError, match="Read-only"):
        _io.atomic_write_text(ro / "x.json", "{}")
    assert list(ro.iterdir()) == []


# -- dist-train: its run folder ----------------------------------------------------------------

@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dist") / "parts"
    r = run("partition", "--synthetic", "600", "--num-parts", "2", "--out", folder)
    assert r.exit_code == 0, r.output
    return folder


@pytest.mark.parametrize("kind", KINDS)
def test_dist_train_into_an_unusable_folder_is_one_line(parts, tmp_path, mounts, kind):
    out, reason = place(kind, mounts, tmp_path, "run")
    one_line_error(run("dist-train", "--parts", parts, "--model", "bprmf", "--epochs", "1", "--out", out), reason)
    assert not (is_dir(out) and (out / "results.json").exists())


def test_names_at_the_limit_are_not_refused_for_their_temporary_names(tables, tmp_path):
    # the temporary file or folder beside a target is named after it: it must fit where the target fits
    _io.atomic_write_text(tmp_path / ("a" * 255), "x")
    assert (tmp_path / ("a" * 255)).read_text() == "x" and len(list(tmp_path.iterdir())) == 1
    r = run("partition", "--synthetic", "600", "--num-parts", "2", "--out", tmp_path / ("p" * 255))
    assert r.exit_code == 0, r.output
    r = run(*TRAIN, "--tables", tables, "--out", tmp_path / ("r" * 255))
    assert r.exit_code == 0, r.output
