"""The real-cluster path: a job prepared for DGL's launch.py (``hetrec dist-train --prepare``) and
its worker processes, started here as launch.py starts them on one machine (a one-partition
folder, so no localhost adjustment is involved), plus the ip_config's checks."""
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import hetrec
from hetrec.cli import main as cli
from hetrec.distributed import DistBPRConfig, partition_fold
from hetrec.distributed.train import _free_ports
from hetrec.distributed.worker import LaunchError, prepare_launch, read_ip_config
from hetrec.distributed.worker import main as worker_main


@pytest.fixture(scope="module")
def one_part(synthetic_splits, tmp_path_factory):
    out = tmp_path_factory.mktemp("launch") / "parts"
    partition_fold(synthetic_splits, 0, 1, out, method="random", seed=0)
    return out


def _option(tokens, name):
    return tokens[tokens.index(name) + 1]


def _launch_like_dgl(command: str, timeout_s: float = 90.0) -> dict:
    """Start what DGL 2.1's tools/launch.py starts for ``command`` on a one-machine ip_config:
    per server ``cd WORKSPACE; (export DGL_ROLE=server DGL_NUM_SAMPLER DGL_NUM_CLIENT DGL_CONF_PATH
    DGL_IP_CONFIG DGL_NUM_SERVER DGL_GRAPH_FORMAT DGL_KEEP_ALIVE OMP_NUM_THREADS DGL_SERVER_ID;
    WORKER)`` and for the machine's trainers the worker command with its ``python3`` replaced by
    ``python3 -m torch.distributed.launch --nproc_per_node=T --nnodes=1 --node_rank=0
    --master_addr=IP --master_port=P`` under the client environment (DGL_DIST_MODE=distributed,
    DGL_ROLE=client, ..., DGL_GROUP_ID=0). Returns each process's exit code and output."""
    tokens = shlex.split(command)
    workspace, trainers = _option(tokens, "--workspace"), int(_option(tokens, "--num_trainers"))
    servers, samplers = int(_option(tokens, "--num_servers")), int(_option(tokens, "--num_samplers"))
    part_config, ip_config = _option(tokens, "--part_config"), _option(tokens, "--ip_config")
    worker = shlex.split(tokens[-1])
    assert worker[0] == "python3"
    hosts = [line.split() for line in open(ip_config).read().splitlines()]
    assert len(hosts) == 1
    common = {"DGL_NUM_SAMPLER": str(samplers), "DGL_NUM_CLIENT": str(trainers * (1 + samplers) * len(hosts)),
              "DGL_CONF_PATH": part_config, "DGL_IP_CONFIG": ip_config, "DGL_NUM_SERVER": str(servers),
              "DGL_GRAPH_FORMAT": "csc", "OMP_NUM_THREADS": "1"}
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DGL_", "HETREC_DIST"))}
    # launch.py passes its PYTHONPATH on: this checkout's hetrec, wherever the processes start
    base["PYTHONPATH"] = os.pathsep.join([str(Path(hetrec.__file__).parents[1]), *filter(None, [
        os.environ.get("PYTHONPATH")])])
    procs = {}
    try:
        for i in range(servers * len(hosts)):
            procs[f"server{i}"] = subprocess.Popen(
                [sys.executable, *worker[1:]], cwd=workspace, start_new_session=True, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env={**base, **common, "DGL_ROLE": "server", "DGL_KEEP_ALIVE": "0", "DGL_SERVER_ID": str(i)})
        master_port = _free_ports(1)[0]
        torch_launch = ["-m", "torch.distributed.launch", f"--nproc_per_node={trainers}", f"--nnodes={len(hosts)}",
                        "--node_rank=0", f"--master_addr={hosts[0][0]}", f"--master_port={master_port}"]
        procs["trainers"] = subprocess.Popen(
            [sys.executable, *torch_launch, *worker[1:]], cwd=workspace, start_new_session=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env={**base, **common, "DGL_DIST_MODE": "distributed", "DGL_ROLE": "client", "DGL_GROUP_ID": "0"})
        end = time.monotonic() + timeout_s
        outputs = {}
        for name, p in procs.items():
            out, _ = p.communicate(timeout=max(1.0, end - time.monotonic()))
            outputs[name] = (p.returncode, out.decode(errors="replace"))
        return outputs
    finally:
        for p in procs.values():
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def _ip_config(tmp_path, text, name="ip_config.txt"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_prepared_job_runs_as_dgls_launcher_starts_it_on_one_machine(one_part, synthetic_splits, tmp_path):
    port = _free_ports(1)[0]
    config = DistBPRConfig(embedding_size=16, batch_size=256, lr=0.05, epochs=4, patience=10, seed=0)
    job = prepare_launch(one_part, "bprmf", config=config, ip_config=_ip_config(tmp_path, f"127.0.0.1 {port}\n"),
                         job_dir=tmp_path / "job", out_dir=tmp_path / "out", num_trainers=2)
    command = job["command"]
    assert job["trainers_per_machine"] == 2 and job["machines"] == [("127.0.0.1", port)]
    for part in ("--num_trainers 2", "--num_servers 1", "--num_samplers 0", f"--workspace {tmp_path / 'job'}",
                 f"--part_config {one_part.resolve() / 'hetrec.json'}",
                 f"--ip_config {tmp_path / 'job' / 'ip_config.txt'}",
                 f"'python3 -m hetrec.distributed.worker --job {tmp_path / 'job' / 'job.json'}'"):
        assert part in command, (part, command)
    assert json.loads((tmp_path / "job" / "job.json").read_text())["launcher"] is True

    got = _launch_like_dgl(command)
    for name, (code, out) in got.items():
        assert code == 0, f"{name} exited with {code}:\n{out[-3000:]}"
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == ["results.json"]  # written through a temporary file and renamed: none left
    r = json.loads((tmp_path / "out" / "results.json").read_text())
    assert r["model"] == "bprmf" and r["launcher"] == "dgl launch.py" and r["num_trainers"] == 2
    assert r["num_servers"] == 1 and r["epochs_run"] == 4 and len(r["history"]) == 4
    # every training interaction belongs to one of the two trainers, every user is ranked by one
    split = synthetic_splits[0]
    assert sum(r["interactions_per_trainer"]) == split.train.nnz and min(r["interactions_per_trainer"]) > 0
    assert sum(r["users_per_trainer"]) == split.train.shape[0]
    assert r["loss"][-1] < 0.8 * r["loss"][0], r["loss"]  # it trains
    assert 0 < r["test"]["NDCG@10"] <= 1 and r["split"]["fold"] == 0


def test_the_ip_config_is_checked_line_by_line(tmp_path):
    cases = {
        "": "no machine",
        "127.0.0.1 1234\n\n10.0.0.2\n": "ip_config.txt:2: empty line",
        "10.0.0.1 1234 x\n": "ip_config.txt:1: '10.0.0.1 1234 x' has 3 fields",
        "node-a 1234\n": "ip_config.txt:1: 'node-a' is not an IP address",
        "10.0.0.1 99999\n": "ip_config.txt:1: port '99999' is not an integer 1..65535",
        "10.0.0.1\n10.0.0.1 30050\n": "ip_config.txt:2: 10.0.0.1 is already machine 0",
    }
    for text, message in cases.items():
        with pytest.raises(LaunchError, match=message.replace(".", r"\.").replace("'", ".")):
            read_ip_config(_ip_config(tmp_path, text))
    with pytest.raises(LaunchError, match=r"2 machine\(s\) for 1 partition\(s\)"):
        read_ip_config(_ip_config(tmp_path, "10.0.0.1\n10.0.0.2 30050\n"), num_parts=1)
    assert read_ip_config(_ip_config(tmp_path, "10.0.0.1\n10.0.0.2 30050\n"), 2) == [("10.0.0.1", None),
                                                                                      ("10.0.0.2", 30050)]
    with pytest.raises(LaunchError, match="cannot read the ip_config"):
        read_ip_config(tmp_path / "missing.txt")


def test_prepare_from_the_command_line(one_part, tmp_path):
    bad = _ip_config(tmp_path, "10.0.0.1\nnode-b\n")
    args = ["dist-train", "--parts", str(one_part), "--model", "lightgcn", "--out", str(tmp_path / "out"),
            "--prepare", str(tmp_path / "job")]
    r = CliRunner().invoke(cli, args + ["--ip-config", str(bad)])
    assert r.exit_code != 0 and r.exception is None or isinstance(r.exception, SystemExit)
    assert f"{bad}:2: 'node-b' is not an IP address" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "job").exists() and not (tmp_path / "out").exists()  # nothing created
    r = CliRunner().invoke(cli, args)
    assert r.exit_code != 0 and "--ip-config" in r.output
    r = CliRunner().invoke(cli, args[:-2] + ["--ip-config", str(bad)])
    assert r.exit_code != 0 and "--ip-config" in r.output and "--prepare" in r.output
    good = _ip_config(tmp_path, "10.0.0.1 30050\n", "good.txt")
    r = CliRunner().invoke(cli, args + ["--ip-config", str(good), "--epochs", "3", "--num-trainers", "2"])
    assert r.exit_code == 0, r.output
    assert "python3 tools/launch.py" in r.output and "--num_trainers 2 --num_servers 1 --num_samplers 0" in r.output
    job = json.loads((tmp_path / "job" / "job.json").read_text())
    assert job["model"] == "lightgcn" and job["config"]["epochs"] == 3 and job["num_trainers"] == 2
    assert (tmp_path / "job" / "ip_config.txt").read_text() == "10.0.0.1 30050\n"
    r = CliRunner().invoke(cli, args + ["--ip-config", str(good)])  # a used job folder is refused
    assert r.exit_code != 0 and "not a new or empty folder" in r.output


def test_the_worker_refuses_an_environment_launch_py_did_not_set(one_part, tmp_path, monkeypatch, capsys):
    job = prepare_launch(one_part, "bprmf", config=None, ip_config=_ip_config(tmp_path, "127.0.0.1\n"),
                         job_dir=tmp_path / "job", out_dir=tmp_path / "out", num_trainers=2)["job"]
    for k in list(os.environ):
        if k.startswith("DGL_") or k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"):
            monkeypatch.delenv(k)
    assert worker_main(["--job", str(job)]) == 2
    assert "DGL_ROLE is None" in capsys.readouterr().err
    env = {"DGL_ROLE": "client", "DGL_IP_CONFIG": "x", "DGL_CONF_PATH": str(one_part / "hetrec.json"),
           "DGL_GRAPH_FORMAT": "csc", "DGL_NUM_SERVER": "1", "DGL_NUM_SAMPLER": "0", "DGL_NUM_CLIENT": "2",
           "RANK": "0", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1234", "WORLD_SIZE": "4",
           "LOCAL_WORLD_SIZE": "2"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert worker_main(["--job", str(job), "--local-rank=0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"hetrec.distributed.worker: error: environment variable WORLD_SIZE=4, but {job} is for 2 "
                   "(launch.py's --num_trainers is per machine, --num_servers 1, --num_samplers 0)")
    assert worker_main(["--job", str(tmp_path / "nope.json")]) == 2
    assert "nope.json: cannot read the job file" in capsys.readouterr().err


def test_a_job_file_with_a_field_of_the_wrong_type_or_edited_is_one_line(one_part, tmp_path, capsys):
    job = prepare_launch(one_part, "bprmf", config=None, ip_config=_ip_config(tmp_path, "127.0.0.1\n"),
                         job_dir=tmp_path / "job", out_dir=tmp_path / "out", num_trainers=2)["job"]
    doc = json.loads(job.read_text())
    job.write_text(json.dumps({**doc, "num_trainers": "2"}))
    assert worker_main(["--job", str(job)]) == 2
    assert "job.json: field num_trainers: expected an integer, got the text '2'" in capsys.readouterr().err
    job.write_text(json.dumps({**doc, "num_trainers": 4}))
    assert worker_main(["--job", str(job)]) == 2
    assert "job.json: changed since hetrec wrote it" in capsys.readouterr().err
