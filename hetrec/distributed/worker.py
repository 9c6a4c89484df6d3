"""Runs across machines with DGL's own launcher (``tools/launch.py`` of the DGL repository).

:func:`train_distributed` starts every process itself, on 127.0.0.1. On a cluster, DGL's
``launch.py`` starts them instead, over ssh, on every machine of an ``ip_config.txt``:

1. ``hetrec dist-train ... --prepare DIR --ip-config FILE`` (:func:`prepare_launch`) checks the
   partition folder and the ip_config (one ``IP [PORT]`` line per machine, as many machines as
   partitions; :func:`read_ip_config`), writes ``DIR/job.json`` (the model, its settings, the
   partition folder, the output folder) and ``DIR/ip_config.txt``, and returns the ``launch.py``
   command line, which the command prints;
2. ``launch.py`` runs the worker command ``python3 -m hetrec.distributed.worker --job
   DIR/job.json`` (:func:`main`) once per graph server (``DGL_ROLE=server``, ``DGL_SERVER_ID``)
   and, wrapped in ``python3 -m torch.distributed.launch --nproc_per_node=T --nnodes=M
   --node_rank=i --master_addr=<first machine> --master_port=<free port>``, once per trainer
   (``DGL_ROLE=client``; ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``LOCAL_WORLD_SIZE``,
   ``MASTER_ADDR``, ``MASTER_PORT`` from torch's launcher; ``--local-rank=K`` as an argument,
   which is ignored);
3. the processes run the server and trainer code of :func:`train_distributed`, without its two
   localhost adjustments (one server group per IP address: DGL's shared memory and machine ids
   are right as they are): trainer ``r`` is on machine ``r // LOCAL_WORLD_SIZE`` (torch's node
   rank, numbered by ``launch.py`` in the ip_config's order, as DGL numbers its machines; the
   trainer checks that DGL's machine id, found from its IP address, agrees) and takes its share
   ``LOCAL_RANK`` of its machine's interactions and nodes; ``torch.distributed`` joins through
   ``MASTER_ADDR`` / ``MASTER_PORT``;
4. trainer 0 writes ``results.json`` (and, with ``--save-embeddings``, ``embeddings.pt``) into
   the job's output folder, which must be on storage every machine sees, through a temporary
   file and a rename.

Tested here only on one machine (a one-partition folder, one server and two trainers started
with the environment ``launch.py`` sets); no run across machines has been made.
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import os
import shlex
import sys
import time
from dataclasses import asdict
from pathlib import Path

#: the worker command ``launch.py`` runs on every machine (``launch.py`` puts ``-m
#: torch.distributed.launch ...`` after the ``python3`` of a trainer's command)
WORKER_MODULE = "hetrec.distributed.worker"
JOB_FILE, IP_CONFIG_FILE, RESULTS_FILE = "job.json", "ip_config.txt", "results.json"


class LaunchError(ValueError):
    """A launch that cannot work: a bad ip_config, job file or environment. The message is one
    line and names the file (and line) or variable."""


def read_ip_config(path, num_parts: int | None = None) -> list:
    """The machines of an ip_config file, ``[(ip, port or None), ...]``: one ``IP [PORT]`` line
    per machine (the format ``launch.py`` and :func:`dgl.distributed.initialize` read), distinct
    IP addresses, and, if given, ``num_parts`` lines (DGL serves partition *m* on machine *m*).
    Raises :class:`LaunchError` naming the file and line."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise LaunchError(f"{path}: cannot read the ip_config ({err.__class__.__name__}: {err})") from None
    machines, seen = [], {}
    for n, line in enumerate(lines, 1):
        fields = line.split()
        if not fields:
            raise LaunchError(f"{path}:{n}: empty line; write one 'IP [PORT]' line per machine and nothing else "
                              "(launch.py refuses empty lines)")
        if len(fields) > 2:
            raise LaunchError(f"{path}:{n}: {line.strip()!r} has {len(fields)} fields; expected 'IP [PORT]'")
        try:
            ip = str(ipaddress.ip_address(fields[0]))
        except ValueError:
            raise LaunchError(f"{path}:{n}: {fields[0]!r} is not an IP address (DGL finds a machine's line by "
                              "its IP address; host names do not work)") from None
        port = None
        if len(fields) == 2:
            if not fields[1].isdigit() or not 1 <= int(fields[1]) <= 65535:
                raise LaunchError(f"{path}:{n}: port {fields[1]!r} is not an integer 1..65535")
            port = int(fields[1])
        if ip in seen:
            raise LaunchError(f"{path}:{n}: {ip} is already machine {seen[ip]} (line {seen[ip] + 1}); each machine "
                              "is one line with its own IP address (several partitions on one host: run hetrec "
                              "dist-train without --prepare)")
        seen[ip] = len(machines)
        machines.append((ip, port))
    if not machines:
        raise LaunchError(f"{path}: no machine; write one 'IP [PORT]' line per machine")
    if num_parts is not None and len(machines) != num_parts:
        raise LaunchError(f"{path}: {len(machines)} machine(s) for {num_parts} partition(s); DGL serves partition m "
                          f"on machine m, so write {num_parts} line(s)")
    return machines


def prepare_launch(partition_dir, model: str, *, config, ip_config, job_dir, out_dir, num_trainers: int | None = None,
                   threads: int = 1, return_embeddings: bool = False, verify: bool = True,
                   launch_py: str = "tools/launch.py") -> dict:
    """Prepare a run of DGL's ``launch.py`` (see the module's docstring): check the partition
    folder and ``ip_config``, write ``job_dir/job.json`` and ``job_dir/ip_config.txt`` (both new
    or empty folders; ``out_dir`` is created, for trainer 0's ``results.json``), and return
    ``{"job": path, "ip_config": path, "command": the launch.py command line, "machines": [...],
    "trainers_per_machine": T}``. Every path in them is absolute: the partition folder, the job
    folder and the output folder must be at those paths on every machine (shared storage)."""
    from .. import __version__ as version
    from .partition import check_partition
    from .train import DIST_MODELS

    if model not in DIST_MODELS:
        raise ValueError(f"model must be one of {', '.join(DIST_MODELS)}, got {model!r}")
    config = config or DIST_MODELS[model]()
    if type(config) is not DIST_MODELS[model]:
        raise ValueError(f"model {model!r} takes a {DIST_MODELS[model].__name__}, got a {type(config).__name__}")
    parts = Path(partition_dir).resolve()
    meta = check_partition(parts, files=verify)
    num_parts = int(meta["num_parts"])
    machines = read_ip_config(ip_config, num_parts)
    num_trainers = num_parts if num_trainers is None else int(num_trainers)
    if num_trainers < 1 or num_trainers % num_parts:
        raise ValueError(f"num_trainers must be a positive multiple of the {num_parts} partition(s), got {num_trainers}")
    job_dir, out_dir = Path(job_dir).resolve(), Path(out_dir).resolve()
    for name, folder in (("job folder", job_dir), ("output folder", out_dir)):
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            raise ValueError(f"{name} {folder} is not a new or empty folder")
        if "python" in str(folder):
            # launch.py inserts "-m torch.distributed.launch ..." after every "python3" of the command
            raise ValueError(f"{name} {folder}: launch.py rewrites every 'python...' in the worker command; "
                             "choose a path without 'python'")
    job = {"launcher": True, "partition_dir": str(parts), "graph_name": meta["graph_name"], "model": model,
           "part_config": str(parts / meta["dgl_config"]), "num_parts": num_parts, "num_trainers": num_trainers,
           "config": asdict(config), "threads": int(threads), "fail_trainer": None, "fail_signal": None,
           "shm_tag": None, "return_embeddings": bool(return_embeddings), "probe": None, "result": None,
           "out_dir": str(out_dir), "split": {k: meta[k] for k in ("fold", "k", "seed", "val_ratio")},
           "hetrec_version": version}
    from .._integrity import write_json
    from .._io import atomic_write_text

    job_dir.mkdir(parents=True, exist_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    ip_path = job_dir / IP_CONFIG_FILE
    atomic_write_text(ip_path, "".join(f"{ip} {port}\n" if port else f"{ip}\n" for ip, port in machines))
    job_path = job_dir / JOB_FILE
    write_json(job_path, job, {"model": model})  # type-checked and its digest checked by the worker
    per_machine = num_trainers // num_parts
    worker = f"python3 -m {WORKER_MODULE} --job {job_path}"
    command = " ".join(["python3", shlex.quote(launch_py), "--workspace", shlex.quote(str(job_dir)),
                        "--num_trainers", str(per_machine), "--num_servers", "1", "--num_samplers", "0",
                        "--num_omp_threads", str(int(threads)), "--part_config", shlex.quote(job["part_config"]),
                        "--ip_config", shlex.quote(str(ip_path)), shlex.quote(worker)])
    return {"job": job_path, "ip_config": ip_path, "command": command, "machines": machines,
            "trainers_per_machine": per_machine}


def _env_int(name: str) -> int:
    value = os.environ.get(name)
    if value is None:
        raise LaunchError(f"environment variable {name} is not set (DGL's launch.py sets it; start this worker "
                          "through launch.py)")
    try:
        return int(value)
    except ValueError:
        raise LaunchError(f"environment variable {name}={value!r} is not an integer") from None


def check_environment(job: dict, job_path) -> str:
    """The role (``"server"`` or ``"client"``) of this process, after checking that the
    environment ``launch.py`` set fits ``job``; :class:`LaunchError` otherwise."""
    role = os.environ.get("DGL_ROLE")
    if role not in ("server", "client"):
        raise LaunchError(f"environment variable DGL_ROLE is {role!r}, not 'server' or 'client' (DGL's launch.py "
                          "sets it; start this worker through launch.py)")
    for name in ("DGL_IP_CONFIG", "DGL_CONF_PATH", "DGL_GRAPH_FORMAT"):
        if not os.environ.get(name):
            raise LaunchError(f"environment variable {name} is not set (DGL's launch.py sets it)")
    expect = {"DGL_NUM_SERVER": 1, "DGL_NUM_SAMPLER": 0, "DGL_NUM_CLIENT": job["num_trainers"]}
    if role == "client":
        expect["WORLD_SIZE"] = job["num_trainers"]
        expect["LOCAL_WORLD_SIZE"] = job["num_trainers"] // job["num_parts"]
        for name in ("RANK", "LOCAL_RANK", "MASTER_PORT"):
            _env_int(name)
        if not os.environ.get("MASTER_ADDR"):
            raise LaunchError("environment variable MASTER_ADDR is not set (torch.distributed.launch sets it)")
    for name, want in expect.items():
        got = _env_int(name)
        if got != want:
            raise LaunchError(f"environment variable {name}={got}, but {job_path} is for {want} (launch.py's "
                              "--num_trainers is per machine, --num_servers 1, --num_samplers 0)")
    if role == "server" and not 0 <= _env_int("DGL_SERVER_ID") < job["num_parts"]:
        raise LaunchError(f"DGL_SERVER_ID={os.environ['DGL_SERVER_ID']} is not a machine 0..{job['num_parts'] - 1}")
    conf = Path(os.environ["DGL_CONF_PATH"])
    if not conf.exists() or not os.path.samefile(conf, job["part_config"]):
        raise LaunchError(f"DGL_CONF_PATH={conf} is not the partition configuration {job['part_config']} of "
                          f"{job_path}")
    if role == "client" and (Path(job["out_dir"]) / RESULTS_FILE).exists():
        raise LaunchError(f"{Path(job['out_dir']) / RESULTS_FILE} exists: the job's output folder holds a run "
                          "already; prepare a new job")
    return role


def main(argv=None) -> int:
    """``python -m hetrec.distributed.worker --job JOB.json``: one server or trainer process of
    a ``launch.py`` run (arguments other than ``--job``, such as torch's ``--local-rank``, are
    ignored). Setting errors are one line on standard error and exit code 2; a failing trainer
    prints its traceback and exits with 1."""
    parser = argparse.ArgumentParser(prog=f"python -m {WORKER_MODULE}", description=__doc__.splitlines()[0])
    parser.add_argument("--job", required=True, help="the job.json that hetrec dist-train --prepare wrote")
    args, _ = parser.parse_known_args(argv)
    started = time.time()
    try:
        from .. import _schemas
        from .._integrity import unseal

        try:
            job = json.loads(Path(args.job).read_text())
        except (OSError, ValueError) as err:
            raise LaunchError(f"{args.job}: cannot read the job file ({err.__class__.__name__}: {err})") from None
        try:  # every field type-checked, and the job as dist-train --prepare wrote it
            _schemas.check(job, _schemas.LAUNCH_JOB, args.job)
            job = unseal(job, args.job, {"model": job["model"]}, fix="prepare the job again (hetrec dist-train --prepare)")
        except ValueError as err:
            raise LaunchError(f"{err} (not a job file of hetrec dist-train --prepare?)") from None
        if not job["launcher"]:
            raise LaunchError(f"{args.job}: not a job file of hetrec dist-train --prepare (launcher is false)")
        check_environment(job, args.job)
    except LaunchError as err:
        print(f"{WORKER_MODULE}: error: {err}", file=sys.stderr)
        return 2
    os.environ.setdefault("DGLBACKEND", "pytorch")
    from .train import _process_main

    _process_main({**job, "started": started})  # a trainer leaves through os._exit
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
