r"""BPR-MF, LightGCN and MTHGT trained on a :class:`dgl.distributed.DistGraph`: DGL graph servers
and trainer processes on this machine (127.0.0.1), one server per partition of a ``hetrec
partition`` folder.

:func:`train_distributed` (``model="bprmf"``, ``"lightgcn"`` or ``"mthgt"``;
:func:`train_bprmf_distributed` is its BPR-MF form) writes an ``ip_config.txt`` with one line ``127.0.0.1 <port>`` per partition
(DGL's "machine" *m* serves partition *m*), starts one DGL graph server per partition and
``num_trainers`` trainer processes with the environment variables DGL's launcher sets
(``DGL_ROLE``, ``DGL_DIST_MODE=distributed``, ``DGL_SERVER_ID``, ``DGL_NUM_SERVER``,
``DGL_NUM_CLIENT``, ``DGL_IP_CONFIG``, ``DGL_CONF_PATH``, ``DGL_NUM_SAMPLER``,
``DGL_GRAPH_FORMAT``; ``MASTER_ADDR``, ``MASTER_PORT``, ``RANK``, ``WORLD_SIZE`` for
``torch.distributed``), and waits for them. Each trainer

1. calls :func:`dgl.distributed.initialize` and ``torch.distributed.init_process_group("gloo")``,
   opens the :class:`~dgl.distributed.DistGraph`,
2. holds the user and item ID (layer-0) embeddings as :class:`dgl.distributed.DistEmbedding`
   (rows stored on the servers, partitioned like the nodes), trained with
   :class:`dgl.distributed.optim.SparseAdam`,
3. takes its share of the training interactions with :func:`dgl.distributed.edge_split` over the
   ``interacted_by`` relation (an ``interacted_by`` edge is owned by the partition of its user,
   so a trainer sees all training items of its users and draws their negatives from the items
   they have not interacted with), and its share of the nodes with
   :func:`dgl.distributed.node_split`, for evaluation,
4. minimises the BPR loss of hetrec's BPR-MF and LightGCN (:mod:`hetrec.models._bpr`) with one
   uniform negative per positive and the L2 term on the batch's layer-0 rows:

.. math::

    L = \frac{1}{|B|} \sum_{(u,i,j) \in B} -\ln \sigma(e_u^\top e_i - e_u^\top e_j)
        + \lambda \frac{1}{2|B|} \sum_{(u,i,j) \in B}
          \big(\|e^{(0)}_u\|^2 + \|e^{(0)}_i\|^2 + \|e^{(0)}_j\|^2\big),

with :math:`e = e^{(0)}` for BPR-MF and, for LightGCN, :math:`e` the K-layer output of
:class:`hetrec.distributed.lightgcn.DistLightGCN`: computed exactly (no sampling) from the
layer-0 rows of the batch's K-hop neighbourhood, gathered with DGL's distributed neighbour
queries and normalised with the training graph's global degrees.

A step takes ``batch_size`` triples over all trainers together (each trainer ``B / N`` of its
own). Each trainer divides its batch-mean loss by ``N``, so that every looked-up row gets the
gradient it would get from the mean over the whole step's batch on one machine; DGL's SparseAdam
then gathers a row's gradients from all trainers and *averages* them over the row's occurrences
in the step (hetrec's dense Adam sums them), and updates only those rows. BPR-MF looks a row up
once per triple it appears in; LightGCN looks up each row of the K-hop neighbourhood once per
trainer (its gradient is the sum over the trainer's batch), so there a row's gradients are
averaged over the trainers that looked it up.

**MTHGT** (``model="mthgt"``, :class:`~hetrec.distributed.mthgt.DistMTHGTConfig`: a preset of
MTHGT's sampled recipe or one of its ablations) shares steps 1 and 3, the evaluation and the
failure handling below, but trains hetrec's MTHGT with its own loss on sampled subgraphs, one
``DistEmbedding`` per node type and replicated dense parameters whose gradients are all-reduced:
:mod:`hetrec.distributed.mthgt` says how.

**Evaluation** is full ranking over the distributed embeddings. Every ``eval_every`` epochs the
trainers compute the final embeddings of all users and items (LightGCN: layer by layer, each
trainer for its share of nodes, through a :class:`~dgl.distributed.DistTensor`; BPR-MF: the
layer-0 rows), store them in a ``DistTensor``, and each trainer ranks every item for its share
of users (the item rows pulled whole) against the fold's **validation** interactions of
``heldout.npz``, training items excluded (as :class:`hetrec.train.Trainer` does); the metrics
are summed over trainers. The epoch with the best validation ``metric`` is kept (its embeddings
copied to another ``DistTensor``); training stops after ``patience`` evaluations without a gain,
and that epoch's embeddings are ranked against the **test** interactions, training and validation
items excluded. With ``eval_every=0`` nothing is validated and the last epoch is tested.

If a process exits with an error (or is killed), the others are stopped and
:class:`DistributedTrainingError` names it, with the last line of its output; so does a run that
passes ``timeout_s``. A run never hangs.

**Localhost only, and why DGL is adjusted in these processes.** DGL 2.1 finds a process's machine
by its IP address and names the shared memory through which a server hands its partition to the
trainers of its machine after the data (``<name>-kvdata-``), not after the machine. With every
"machine" on 127.0.0.1 that gives every trainer machine 0, and two servers write the *same*
shared memory segments: partition 1's rows silently overwrite partition 0's. Each process here
therefore (a) prefixes those shared-memory names with this run and its machine, and (b) a trainer
reports machine ``rank % num_parts`` to DGL (and passes its index among its machine's trainers,
``rank // num_parts``, to ``edge_split`` and ``node_split``, which would otherwise use DGL's own
trainer rank, numbered in another order); servers are started with ``disable_shared_mem`` (the
graph structure stays in the server: every neighbour query is a remote call, and the trainers
read their partition's edges from the files). On real machines (one server group per IP) neither
is needed: :mod:`hetrec.distributed.worker` runs these processes under DGL's ``launch.py``
without them.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict
from pathlib import Path

from .partition import check_partition
from .runtime import (
    _as_machine,
    _result_record,
)

_JOB_ENV = "HETREC_DIST_JOB"
_FAILED_AT_ENV = "HETREC_DIST_FAILED_AT"  # where a failing trainer writes when it failed
_PARENT_ENV = "HETREC_DIST_PARENT"  # the pid of the process that started a server or trainer (it dies with it)
#: seconds that servers and trainers may take to end after the other side has ended
GRACE_S = 20.0


class DistributedTrainingError(RuntimeError):
    """A distributed run that failed: a process exited with an error or was killed, or the run
    passed its time limit. The message names the process."""








from .bpr import DistBPRConfig, DistLightGCNConfig  # noqa: E402
from .bpr import train_process as train_process_bpr  # noqa: E402
from .mthgt import DistMTHGTConfig  # noqa: E402
from .mthgt import train_process as train_process_mthgt  # noqa: E402

#: the models :func:`train_distributed` trains, and their settings' classes
DIST_MODELS = {"bprmf": DistBPRConfig, "lightgcn": DistLightGCNConfig, "mthgt": DistMTHGTConfig}


def _free_ports(n: int) -> list:
    socks = []
    try:
        for _ in range(n):  # held open together, so the ports differ
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def train_distributed(partition_dir, model: str = "bprmf", *, num_trainers: int | None = None,
                      config: DistBPRConfig | None = None, timeout_s: float = 600.0, threads: int = 1,
                      return_embeddings: bool = False, fail_trainer: int | None = None,
                      fail_signal: int | None = None, log_dir=None, log=None, verify: bool = True,
                      probe: dict | None = None) -> dict:
    """Train ``model`` (``"bprmf"``, ``"lightgcn"`` or ``"mthgt"``) on the partitions in ``partition_dir``
    (made by ``hetrec partition``) with one DGL graph server per partition and ``num_trainers``
    trainers, all on 127.0.0.1, validate it, and test the best epoch (see the module's docstring).

    Parameters
    ----------
    partition_dir : path
        A partition folder; it is checked first (:func:`~hetrec.distributed.check_partition`).
    model : str
        A key of :data:`DIST_MODELS`.
    num_trainers : int, optional
        Trainer processes, a multiple of the number of partitions (DGL splits a partition's
        interactions and nodes among the trainers of its machine); default one per partition.
    config : DistBPRConfig, DistLightGCNConfig or DistMTHGTConfig, optional
        The model's settings (``DIST_MODELS[model]``); default its defaults.
    timeout_s : float
        The whole run's time limit; past it every process is stopped and
        :class:`DistributedTrainingError` raised.
    threads : int
        torch (and OpenMP) threads per process.
    return_embeddings : bool
        Also return the tested epoch's final user and item embeddings (trainer 0 reads every row
        back: only for graphs whose tables fit one process).
    fail_trainer : int, optional
        For tests: that trainer raises an error after its first step.
    fail_signal : int, optional
        For tests: instead, ``fail_trainer`` sends itself this signal (e.g. ``signal.SIGKILL``).
    log_dir : path, optional
        Keep each process's output there (``server<m>.log``, ``trainer<r>.log``); by default it
        is written to a temporary folder and only quoted in errors.
    log : callable, optional
        Receives progress lines.
    verify : bool
        Check every file of the folder against the sha256 that ``hetrec_partition.json`` records
        first (``hetrec dist-train`` does so itself before it creates its run folder, and passes
        ``False``); the metadata is read in any case.
    probe : dict, optional
        For tests: ``{"user": table, "item": table, "users": ids, "items": ids}`` (tables of
        layer-0 rows and node ids, in the dataset graph's ids). The trainers write the tables into
        the ``DistEmbedding`` tables and, instead of training, return the final embeddings of
        those nodes computed as a training batch's are (``"probe_batch"``) and of all nodes
        computed layer-wise as for evaluation (``"probe_all"``), in the dataset graph's ids.
        For ``"mthgt"``: ``{"tables": {node type: table}, "state": dense state dict}`` (the ID
        tables in the dataset graph's ids and :func:`~hetrec.distributed.mthgt.dense_state` of a
        single-machine model); ``"probe_all"`` is then ``{task: {node type: rows}}``, the task
        embeddings of every node computed layer-wise (:mod:`hetrec.distributed.mthgt`); in the
        mini-batch mode a further ``"history"`` entry gives ``"probe_history"``, the estimator's
        layers (:func:`hetrec.distributed.minibatch.probe_history`).

    Returns
    -------
    dict
        ``"model"``; ``"test"``: the test metrics of the tested epoch (``topn_metrics``' keys);
        ``"val"``: its validation metrics (empty with ``eval_every=0``); ``"best_epoch"``: the
        tested epoch; ``"epochs_run"``; ``"stopped_early"``; ``"history"``: one
        ``{"epoch", "val", "eval_seconds"}`` per validation; ``"loss"``: the mean training loss of
        each epoch over all trainers; ``"epoch_seconds"``: wall time of each epoch's training;
        ``"seconds"``: the whole run, process start to the test metrics; ``"num_trainers"``,
        ``"num_servers"``, ``"interactions_per_trainer"``, ``"users_per_trainer"`` (whom each
        ranks), ``"steps_per_epoch"``; ``"config"``; ``"user_raw_id"``: the users' ``raw_id``
        node data as trainer 0 read it through the DistGraph, in the dataset graph's ids (a check
        that each server serves its own partition); with ``return_embeddings``,
        ``"user_embeddings"`` and ``"item_embeddings"`` (dataset ids).
    """
    import torch

    if model not in DIST_MODELS:
        raise ValueError(f"model must be one of {', '.join(DIST_MODELS)}, got {model!r}")
    config = config or DIST_MODELS[model]()
    if type(config) is not DIST_MODELS[model]:
        raise ValueError(f"model {model!r} takes a {DIST_MODELS[model].__name__}, got a {type(config).__name__}")
    log = log or (lambda m: None)
    out = Path(partition_dir).resolve()
    meta = check_partition(out, files=verify)
    num_parts = int(meta["num_parts"])
    num_trainers = num_parts if num_trainers is None else int(num_trainers)
    if num_trainers < 1 or num_trainers % num_parts:
        raise ValueError(f"num_trainers must be a positive multiple of the {num_parts} partition(s), got {num_trainers}")
    if fail_trainer is not None and not 0 <= fail_trainer < num_trainers:
        raise ValueError(f"fail_trainer must be a trainer rank 0..{num_trainers - 1}, got {fail_trainer}")

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hetrec-dist-") as tmp:
        tmp = Path(tmp)
        logs = Path(log_dir) if log_dir is not None else tmp
        logs.mkdir(parents=True, exist_ok=True)
        *server_ports, master_port = _free_ports(num_parts + 1)
        ip_config = tmp / "ip_config.txt"
        ip_config.write_text("".join(f"127.0.0.1 {p}\n" for p in server_ports))
        tag = f"hetrec{os.getpid()}x{server_ports[0]}"
        if probe is not None:
            torch.save(probe if model == "mthgt" else {k: torch.as_tensor(v) for k, v in probe.items()},
                       tmp / "probe.pt")
        job = {"partition_dir": str(out), "graph_name": meta["graph_name"], "model": model,
               "part_config": str(out / meta["dgl_config"]), "num_parts": num_parts, "num_trainers": num_trainers,
               "config": asdict(config), "threads": threads, "fail_trainer": fail_trainer,
               "fail_signal": fail_signal, "shm_tag": tag, "return_embeddings": bool(return_embeddings),
               "probe": str(tmp / "probe.pt") if probe is not None else None,
               "result": str(tmp / "result.pt")}
        (tmp / "job.json").write_text(json.dumps(job))
        common = {_JOB_ENV: str(tmp / "job.json"), "DGLBACKEND": "pytorch", "DGL_DIST_MODE": "distributed",
                  "DGL_IP_CONFIG": str(ip_config), "DGL_NUM_SERVER": "1", "DGL_NUM_CLIENT": str(num_trainers),
                  "DGL_CONF_PATH": job["part_config"], "DGL_NUM_SAMPLER": "0", "DGL_GRAPH_FORMAT": "csc",
                  "OMP_NUM_THREADS": str(threads), "PYTHONUNBUFFERED": "1"}
        procs = {}
        try:
            for m in range(num_parts):
                procs[f"server {m}"] = _start(logs / f"server{m}.log", {**common, "DGL_ROLE": "server",
                                                                      "DGL_SERVER_ID": str(m)})
            for r in range(num_trainers):
                procs[f"trainer {r}"] = _start(logs / f"trainer{r}.log", {
                    **common, "DGL_ROLE": "client", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(master_port),
                    "RANK": str(r), "WORLD_SIZE": str(num_trainers), _FAILED_AT_ENV: str(logs / f"trainer{r}.failed")})
            log(f"started {num_parts} graph server(s) and {num_trainers} {model} trainer(s) on 127.0.0.1 "
                f"(ports {', '.join(map(str, server_ports))})")
            _wait(procs, logs, t0 + timeout_s, timeout_s)
        finally:
            _stop(procs.values())
            for f in Path("/dev/shm").glob(f"{tag}*"):  # what DGL leaves of a stopped process
                f.unlink(missing_ok=True)
        if not os.path.exists(job["result"]):  # pragma: no cover - the trainers exit 0 only after writing it
            raise DistributedTrainingError("distributed training failed: the trainers exited without an error but "
                                           "trainer 0 wrote no result")
        result = torch.load(job["result"], weights_only=True)

    seconds = time.perf_counter() - t0
    if probe is not None:
        return {**{k: result[k] for k in ("probe_batch", "probe_all", "probe_history") if k in result},
                "seconds": seconds}
    test = result["test"]
    log(f"trained {result['epochs_run']} epoch(s) in {seconds:.1f} s; tested epoch {result['best_epoch']}: "
        + ", ".join(f"{k} {test[k]:.4f}" for k in test if "@" in k))
    out_dict = {**_result_record(result, model, asdict(config), num_trainers, num_parts, seconds),
                "user_raw_id": result["raw_id"].numpy()}
    if return_embeddings:
        out_dict["user_embeddings"], out_dict["item_embeddings"] = result["user"], result["item"]
    return out_dict


def train_bprmf_distributed(partition_dir, *, num_trainers: int | None = None, config: DistBPRConfig | None = None,
                            timeout_s: float = 600.0, threads: int = 1, fail_trainer: int | None = None,
                            fail_signal: int | None = None, log_dir=None, log=None, **kwargs) -> dict:
    """:func:`train_distributed` with ``model="bprmf"`` (the same parameters and result)."""
    return train_distributed(partition_dir, "bprmf", num_trainers=num_trainers, config=config, timeout_s=timeout_s,
                             threads=threads, fail_trainer=fail_trainer, fail_signal=fail_signal, log_dir=log_dir,
                             log=log, **kwargs)


def _start(log_path: Path, env: dict) -> subprocess.Popen:
    f = open(log_path, "wb")
    try:
        # the processes import the hetrec this process runs (not whatever their working folder
        # or the environment would find first)
        root = str(Path(__file__).resolve().parents[2])
        code = f"import sys; sys.path.insert(0, {root!r}); from hetrec.distributed.train import _process_main; _process_main()"
        env = {**os.environ, **env, _PARENT_ENV: str(os.getpid())}
        return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=f,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    finally:
        f.close()


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return "unknown signal"


def _last_error(log_path: Path) -> str:
    lines = [ln.strip() for ln in log_path.read_text(errors="replace").splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.split(":")[0].endswith(("Error", "Exception", "Interrupt")) or "Error:" in ln]
    return (errors or lines or ["no output"])[-1][:500]


def _wait(procs: dict, logs: Path, deadline: float, timeout_s: float) -> None:
    """Until every trainer has finished. The first process that exits with an error fails the
    run (:func:`_first_failure` names it); so does a server that has exited (without an error)
    while trainers still run after :data:`GRACE_S` (trainer 0 stops the servers as it exits, so a
    server may end just before the trainers do)."""
    trainers = {n: p for n, p in procs.items() if n.startswith("trainer")}
    server_gone = None
    seen = {}  # process -> wall-clock time its failed exit was first seen

    def look():
        now = time.time()
        for n, p in procs.items():
            if n not in seen and p.poll() not in (None, 0):
                seen[n] = now

    while True:
        look()
        if seen:
            # one failure brings others (the other trainers fail in their next collective, a
            # server may abort when a client vanishes): wait until a trainer has failed or
            # stamped its failure, up to FAILURE_WAIT_S, then name the first
            end = time.perf_counter() + FAILURE_WAIT_S
            while time.perf_counter() < end and not any(n in seen or _stamp(logs, n) < float("inf") for n in trainers):
                time.sleep(0.05)
                look()
            time.sleep(0.2)  # failures within the same moment: let them show before choosing
            look()
            name = _first_failure(seen, procs, logs)
            p = procs[name]
            end = time.perf_counter() + 2  # a trainer that stamped exits right after: show how
            while p.poll() is None and time.perf_counter() < end:
                time.sleep(0.05)
            code = p.poll()
            if code is None:  # stamped its failure but has not exited yet
                how = f"failed: {_last_error(logs / (name.replace(' ', '') + '.log'))}"
            elif code < 0:  # its output says nothing about it
                how = f"was killed by signal {-code} ({_signal_name(-code)})"
            else:
                how = f"exited with code {code}: {_last_error(logs / (name.replace(' ', '') + '.log'))}"
            raise DistributedTrainingError(f"distributed training failed: {name} (pid {p.pid}) {how}; "
                                           f"the other {len(procs) - 1} process(es) were stopped")
        if all(p.poll() == 0 for p in trainers.values()):
            break
        gone = [n for n, p in procs.items() if n.startswith("server") and p.poll() == 0]
        if gone and server_gone is None:
            server_gone = time.perf_counter()
        if gone and time.perf_counter() - server_gone > GRACE_S:
            raise DistributedTrainingError(f"distributed training failed: {gone[0]} (pid {procs[gone[0]].pid}) "
                                           f"exited while the trainers were still running; every process was stopped")
        if time.perf_counter() > deadline:
            running = [n for n, p in procs.items() if p.poll() is None]
            raise DistributedTrainingError(f"distributed training timed out after {timeout_s:.0f} s; still running: "
                                           f"{', '.join(running)}; every process was stopped")
        time.sleep(0.05)
    grace = time.perf_counter() + GRACE_S
    while any(p.poll() is None for p in procs.values()) and time.perf_counter() < grace:
        time.sleep(0.05)


#: seconds to wait, after a first failed process, for a trainer's failure to show
FAILURE_WAIT_S = 5.0
#: signals that only come from outside a process (a user, a scheduler, the OOM killer), never
#: as the consequence of another process's failure (unlike SIGABRT or SIGSEGV)
_EXTERNAL_SIGNALS = {signal.SIGKILL, signal.SIGTERM, signal.SIGINT, signal.SIGHUP}


def _stamp(logs: Path, name: str) -> float:
    """When trainer ``name`` stamped its failure (wall clock), or infinity."""
    try:
        return float((logs / (name.replace(" ", "") + ".failed")).read_text())
    except (OSError, ValueError):
        return float("inf")


def _first_failure(seen: dict, procs: dict, logs: Path) -> str:
    """The process whose failure came first, from ``seen`` (process -> when its failed exit was
    seen) and the failure stamps trainers write when they raise.

    Trainers before servers (a server fails when its clients vanish). Among the trainers, one
    killed by an external signal (SIGKILL, SIGTERM, SIGINT, SIGHUP: it could not stamp, and no
    failure elsewhere sends those) comes first, the earliest seen; otherwise the earliest of the
    stamps and, for trainers that did not stamp (a crash), the times their exits were seen."""
    trainers = [n for n in procs if n.startswith("trainer") and (n in seen or _stamp(logs, n) < float("inf"))]
    pool = trainers or list(seen)

    def external(n):
        code = procs[n].poll()
        return code is not None and code < 0 and -code in _EXTERNAL_SIGNALS

    killed = [n for n in pool if external(n)]
    if killed:
        return min(killed, key=lambda n: seen[n])
    return min(pool, key=lambda n: (min(_stamp(logs, n), seen.get(n, float("inf"))), list(procs).index(n)))


def _stop(procs) -> None:
    alive = [p for p in procs if p.poll() is None]
    for p in alive:
        p.send_signal(signal.SIGTERM)
    end = time.perf_counter() + 5
    for p in alive:
        try:
            p.wait(timeout=max(0.1, end - time.perf_counter()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()






# ---------------------------------------------------------------------------------------------
# inside the server and trainer processes






def _process_main(job: dict | None = None) -> None:
    """A server or trainer process (``DGL_ROLE``) of ``job`` (default: the file ``$HETREC_DIST_JOB``)."""
    if os.environ.get(_PARENT_ENV):  # started by train_distributed: never outlive it (even killed by SIGKILL)
        from .._signals import die_with_parent

        die_with_parent(int(os.environ[_PARENT_ENV]))
    if job is None:
        job = json.loads(Path(os.environ[_JOB_ENV]).read_text())
    import torch

    torch.set_num_threads(job["threads"])
    if os.environ["DGL_ROLE"] == "server":
        _serve(job)
        return
    try:
        if job["model"] == "mthgt":
            train_process_mthgt(job)
        else:
            train_process_bpr(job)
    except BaseException:
        # when it failed, for the parent to tell the first failure from its consequences (the
        # other trainers fail in their next collective)
        stamp = os.environ.get(_FAILED_AT_ENV)
        if stamp:
            Path(stamp).write_text(repr(time.time()))
        # leave at once: DGL's exit handler would wait for the other trainers at a barrier
        # they never reach (they wait for this one in a collective)
        traceback.print_exc()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)


def _serve(job: dict) -> None:
    import torch
    from dgl.distributed import DistGraphServer

    server_id = int(os.environ["DGL_SERVER_ID"])
    torch.manual_seed(job["config"]["seed"] * 1000 + server_id)  # the embeddings' initial rows
    localhost = not job.get("launcher")  # several "machines" on 127.0.0.1 (see the module's docstring)
    if localhost:
        _as_machine(server_id // int(os.environ["DGL_NUM_SERVER"]), job["shm_tag"])
    server = DistGraphServer(server_id, os.environ["DGL_IP_CONFIG"], int(os.environ["DGL_NUM_SERVER"]),
                             int(os.environ["DGL_NUM_CLIENT"]), os.environ["DGL_CONF_PATH"],
                             disable_shared_mem=localhost, graph_format=os.environ["DGL_GRAPH_FORMAT"].split(","))
    server.start()  # returns when the trainers are done and trainer 0 has asked the servers to stop




















__all__ = ["train_distributed", "train_bprmf_distributed", "DistBPRConfig", "DistLightGCNConfig", "DIST_MODELS",
           "DistributedTrainingError", "GRACE_S"]
