r"""BPR-MF trained on a :class:`dgl.distributed.DistGraph`: DGL graph servers and trainer
processes on this machine (127.0.0.1), one server per partition of a ``hetrec partition`` folder.

:func:`train_bprmf_distributed` writes an ``ip_config.txt`` with one line ``127.0.0.1 <port>``
per partition (DGL's "machine" *m* serves partition *m*), starts one DGL graph server per
partition and ``num_trainers`` trainer processes with the environment variables DGL's launcher
sets (``DGL_ROLE``, ``DGL_DIST_MODE=distributed``, ``DGL_SERVER_ID``, ``DGL_NUM_SERVER``,
``DGL_NUM_CLIENT``, ``DGL_IP_CONFIG``, ``DGL_CONF_PATH``, ``DGL_NUM_SAMPLER``,
``DGL_GRAPH_FORMAT``; ``MASTER_ADDR``, ``MASTER_PORT``, ``RANK``, ``WORLD_SIZE`` for
``torch.distributed``), and waits for them. Each trainer

1. calls :func:`dgl.distributed.initialize` and ``torch.distributed.init_process_group("gloo")``,
   opens the :class:`~dgl.distributed.DistGraph`,
2. holds the user and item ID embeddings as :class:`dgl.distributed.DistEmbedding` (rows stored
   on the servers, partitioned like the nodes), trained with :class:`dgl.distributed.optim.SparseAdam`,
3. takes its share of the training interactions with :func:`dgl.distributed.edge_split` over the
   ``interacted_by`` relation (an ``interacted_by`` edge is owned by the partition of its user,
   so a trainer sees all training items of its users and draws their negatives from the items
   they have not interacted with),
4. minimises the BPR loss of BPR-MF (:mod:`hetrec.models.bprmf`) with one uniform negative per
   positive and the L2 term on the batch's rows:

.. math::

    L = \frac{1}{|B|} \sum_{(u,i,j) \in B} -\ln \sigma(e_u^\top e_i - e_u^\top e_j)
        + \lambda \frac{1}{2|B|} \sum_{(u,i,j) \in B} \big(\|e_u\|^2 + \|e_i\|^2 + \|e_j\|^2\big).

A step takes ``batch_size`` triples over all trainers together (each trainer ``B / N`` of its
own). Each trainer divides its batch-mean loss by ``N``, so that every looked-up row gets the
gradient it would get from the mean over the whole step's batch on one machine; DGL's SparseAdam
then gathers a row's gradients from all trainers and *averages* them over the row's occurrences
in the step (hetrec's dense Adam sums them), and updates only those rows.

After the last epoch trainer 0 reads the two tables back, in the dataset graph's ids
(``orig_ids.npz``), and this process evaluates full ranking (:func:`hetrec.eval.topn_metrics`) on
the fold's **test** interactions of ``heldout.npz``, the training and validation items excluded.
Validation is not used (no early stopping, no model selection): the last epoch is evaluated.

If a process exits with an error (or is killed), the others are stopped and
:class:`DistributedTrainingError` names it, with the last line of its output; so does a run that
passes ``timeout_s``. A run never hangs.

**Localhost only, and why DGL is adjusted in these processes.** DGL 2.1 finds a process's machine
by its IP address and names the shared memory through which a server hands its partition to the
trainers of its machine after the data (``<name>-kvdata-``), not after the machine. With every
"machine" on 127.0.0.1 that gives every trainer machine 0, and two servers write the *same*
shared memory segments: partition 1's rows silently overwrite partition 0's. Each process here
therefore (a) prefixes those shared-memory names with this run and its machine, and (b) a trainer
reports machine ``rank % num_parts`` to DGL; servers are started with ``disable_shared_mem`` (the
graph structure stays in the server; the trainers read their partition's edges from the files).
On real machines (one server group per IP) neither is needed.
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
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import numpy as np

from ..data import INTERACTED_BY, INTERACTS
from .partition import ORIG_IDS_FILE, check_partition, load_heldout, local_partition_edges

_JOB_ENV = "HETREC_DIST_JOB"
_FAILED_AT_ENV = "HETREC_DIST_FAILED_AT"  # where a failing trainer writes when it failed
_USER_EMB, _ITEM_EMB = "hetrec_user_emb", "hetrec_item_emb"
#: seconds that servers and trainers may take to end after the other side has ended
GRACE_S = 20.0


class DistributedTrainingError(RuntimeError):
    """A distributed run that failed: a process exited with an error or was killed, or the run
    passed its time limit. The message names the process."""


@dataclass
class DistBPRConfig:
    """Settings of distributed BPR-MF (the names and defaults of :class:`hetrec.models.BPRMFConfig`
    and :class:`hetrec.train.TrainConfig` where they share a meaning)."""

    #: size d of user and item embeddings
    embedding_size: int = 64
    #: BPR triples per step, over all trainers together
    batch_size: int = 2048
    #: weight λ of the L2 term on the batch's rows
    reg_weight: float = 1e-4
    #: standard deviation of the normal initialisation
    init_std: float = 0.1
    epochs: int = 30
    #: SparseAdam's learning rate
    lr: float = 1e-3
    seed: int = 0
    #: cut-offs N of the test metrics
    ns: tuple = (5, 10, 20)

    def __post_init__(self):
        self.ns = tuple(int(n) for n in self.ns)
        for name in ("embedding_size", "batch_size", "epochs"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if not self.lr > 0 or self.reg_weight < 0 or not self.init_std > 0:
            raise ValueError("lr and init_std must be positive and reg_weight non-negative")


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


def train_bprmf_distributed(partition_dir, *, num_trainers: int | None = None, config: DistBPRConfig | None = None,
                            timeout_s: float = 600.0, threads: int = 1, fail_trainer: int | None = None,
                            fail_signal: int | None = None, log_dir=None, log=None) -> dict:
    """Train BPR-MF on the partitions in ``partition_dir`` (made by ``hetrec partition``) with one
    DGL graph server per partition and ``num_trainers`` trainers, all on 127.0.0.1, and evaluate
    it on the fold's test interactions (see the module's docstring).

    Parameters
    ----------
    partition_dir : path
        A partition folder; it is checked first (:func:`~hetrec.distributed.check_partition`).
    num_trainers : int, optional
        Trainer processes, a multiple of the number of partitions (DGL splits a partition's
        interactions among the trainers of its machine); default one per partition.
    config : DistBPRConfig, optional
    timeout_s : float
        The whole run's time limit; past it every process is stopped and
        :class:`DistributedTrainingError` raised.
    threads : int
        torch (and OpenMP) threads per process.
    fail_trainer : int, optional
        For tests: that trainer raises an error after its first step.
    fail_signal : int, optional
        For tests: instead, ``fail_trainer`` sends itself this signal (e.g. ``signal.SIGKILL``).
    log_dir : path, optional
        Keep each process's output there (``server<m>.log``, ``trainer<r>.log``); by default it
        is written to a temporary folder and only quoted in errors.
    log : callable, optional
        Receives progress lines.

    Returns
    -------
    dict
        ``"test"``: the test metrics (``topn_metrics``' keys); ``"loss"``: the mean training loss
        of each epoch over all trainers; ``"epoch_seconds"``: wall time of each epoch;
        ``"seconds"``: the whole run, process start to evaluation; ``"num_trainers"``,
        ``"num_servers"``, ``"interactions_per_trainer"``, ``"steps_per_epoch"``; ``"config"``;
        ``"user_raw_id"``: the users' ``raw_id`` node data as trainer 0 read it through the
        DistGraph, in the dataset graph's ids (a check that each server serves its own partition).
    """
    import torch

    config = config or DistBPRConfig()
    log = log or (lambda m: None)
    out = Path(partition_dir).resolve()
    meta = check_partition(out)
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
        job = {"partition_dir": str(out), "graph_name": meta["graph_name"],
               "part_config": str(out / meta["dgl_config"]), "num_parts": num_parts, "num_trainers": num_trainers,
               "config": asdict(config), "threads": threads, "fail_trainer": fail_trainer,
               "fail_signal": fail_signal, "shm_tag": tag,
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
            log(f"started {num_parts} graph server(s) and {num_trainers} trainer(s) on 127.0.0.1 "
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

    test = _evaluate(out, meta, result["user"], result["item"], config.ns)
    seconds = time.perf_counter() - t0
    log(f"trained in {seconds:.1f} s; test " + ", ".join(f"{k} {test[k]:.4f}" for k in test if "@" in k))
    return {"test": test, "loss": result["loss"], "epoch_seconds": result["epoch_seconds"], "seconds": seconds,
            "num_trainers": num_trainers, "num_servers": num_parts,
            "interactions_per_trainer": result["interactions"], "steps_per_epoch": result["steps"],
            "user_raw_id": result["raw_id"].numpy(),
            "config": asdict(config)}


def _start(log_path: Path, env: dict) -> subprocess.Popen:
    f = open(log_path, "wb")
    try:
        return subprocess.Popen([sys.executable, "-c", "from hetrec.distributed.train import _process_main; "
                                 "_process_main()"], env={**os.environ, **env}, stdout=f, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
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
    run; so does a server that has exited (without an error) while trainers still run after
    :data:`GRACE_S` (trainer 0 stops the servers as it exits, so a server may end just before the
    trainers do)."""
    trainers = {n: p for n, p in procs.items() if n.startswith("trainer")}
    server_gone = None
    while True:
        failed = [n for n, p in procs.items() if p.poll() not in (None, 0)]
        if failed:
            # a failing trainer makes the others and the servers fail or exit too: give its own
            # exit a moment to show, and name the trainer
            end = time.perf_counter() + 2
            while time.perf_counter() < end and not any(p.poll() not in (None, 0) for p in trainers.values()):
                time.sleep(0.05)
            failed = [n for n, p in trainers.items() if p.poll() not in (None, 0)] or failed
            name = _first_failure(failed, procs, logs)
            p = procs[name]
            code = p.poll()
            if code < 0:  # its output says nothing about it
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


def _first_failure(failed: list, procs: dict, logs: Path) -> str:
    """The process whose failure came first: one killed by a signal (it could not say when),
    else the earliest time a failing trainer stamped, else the first listed."""
    killed = [n for n in failed if procs[n].poll() < 0]
    if killed:
        return killed[0]

    def stamped(name):
        f = logs / (name.replace(" ", "") + ".failed")
        try:
            return float(f.read_text())
        except (OSError, ValueError):
            return float("inf")

    return min(failed, key=lambda n: (stamped(n), failed.index(n)))


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


def _evaluate(out: Path, meta: dict, user_emb, item_emb, ns) -> dict:
    """Full ranking on the fold's test interactions, training and validation items excluded."""
    from ..eval import topn_metrics

    shape = (meta["train_graph"]["num_nodes"]["user"], meta["train_graph"]["num_nodes"]["item"])
    users, items = [], []
    for p in range(meta["num_parts"]):
        u, i, _ = _edges(out, p, INTERACTS, dataset_ids=True)
        users.append(u)
        items.append(i)
    train = _matrix(np.concatenate(users), np.concatenate(items), shape)
    held = load_heldout(out)
    val, test = (_matrix(held[n][0], held[n][1], shape) for n in ("val", "test"))
    got = topn_metrics(user_emb, item_emb, exclude=[train, val], test=test, ns=ns)
    return {k: (int(v) if k == "num_users" else float(v)) for k, v in got.items()}


def _matrix(users, items, shape):
    import scipy.sparse as sp

    m = sp.csr_matrix((np.ones(len(users), dtype=np.float32), (users, items)), shape=shape)
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


def _edges(out: Path, part: int, etype, dataset_ids: bool = False) -> tuple:
    """``(src, dst, eid)`` of the edges of ``etype`` partition ``part`` owns, in DGL's ids or the
    dataset graph's."""
    src, dst, eid = local_partition_edges(out, part, verify=False)[etype]
    if not dataset_ids:
        return src, dst, eid
    with np.load(out / ORIG_IDS_FILE, allow_pickle=False) as z:
        return z[f"node:{etype[0]}"][src], z[f"node:{etype[2]}"][dst], eid


# ---------------------------------------------------------------------------------------------
# inside the server and trainer processes


def _as_machine(machine: int, tag: str) -> None:
    """Make this process one of several DGL "machines" on 127.0.0.1 (see the module's docstring):
    its shared-memory segments get names of their own, and a trainer reports ``machine``."""
    import dgl.distributed.kvstore as kvstore
    import dgl.distributed.rpc_client as rpc_client

    create = kvstore.empty_shared_mem

    def named_for_this_machine(name, *args, **kwargs):
        return create(f"{tag}m{machine}_{name}", *args, **kwargs)

    kvstore.empty_shared_mem = named_for_this_machine
    rpc_client.get_local_machine_id = lambda server_namebook: machine


def _normal_rows(std: float, shape, dtype):
    import torch

    return torch.randn(shape, dtype=dtype) * std


def _process_main() -> None:
    job = json.loads(Path(os.environ[_JOB_ENV]).read_text())
    import torch

    torch.set_num_threads(job["threads"])
    if os.environ["DGL_ROLE"] == "server":
        _serve(job)
        return
    try:
        _train(job)
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
    torch.manual_seed(DistBPRConfig(**job["config"]).seed * 1000 + server_id)  # the embeddings' initial rows
    _as_machine(server_id // int(os.environ["DGL_NUM_SERVER"]), job["shm_tag"])
    server = DistGraphServer(server_id, os.environ["DGL_IP_CONFIG"], int(os.environ["DGL_NUM_SERVER"]),
                             int(os.environ["DGL_NUM_CLIENT"]), os.environ["DGL_CONF_PATH"], disable_shared_mem=True,
                             graph_format=os.environ["DGL_GRAPH_FORMAT"].split(","))
    server.start()  # returns when the trainers are done and trainer 0 has asked the servers to stop


def _train(job: dict) -> None:
    from datetime import timedelta

    import dgl
    import torch
    import torch.distributed as dist

    from ..nn.losses import ranking_loss
    from ..sampling import ComplementNegativeSampler

    cfg = DistBPRConfig(**job["config"])
    rank, world, num_parts = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), job["num_parts"]
    machine = rank % num_parts
    _as_machine(machine, job["shm_tag"])
    dgl.distributed.initialize(os.environ["DGL_IP_CONFIG"])
    dist.init_process_group("gloo", rank=rank, world_size=world, timeout=timedelta(seconds=120))
    book = dgl.distributed.load_partition_book(job["part_config"], machine)[0]
    g = dgl.distributed.DistGraph(job["graph_name"], gpb=book)

    # this trainer's interactions: its share of the interacted_by edges its machine owns
    mine = dgl.distributed.edge_split(torch.ones(g.num_edges(INTERACTED_BY), dtype=torch.bool), book,
                                      etype=INTERACTED_BY, force_even=False).numpy()
    items, users, eids = _edges(Path(job["partition_dir"]), machine, INTERACTED_BY)
    # every training item of the machine's users is here: the negatives are drawn outside them
    train = _matrix(users, items, (g.num_nodes("user"), g.num_nodes("item")))
    sampler = ComplementNegativeSampler(train)
    take = np.isin(eids, mine)
    take &= sampler.num_free.numpy()[users] > 0  # a user with every item has no negative
    users, items = torch.from_numpy(users[take]), torch.from_numpy(items[take])

    counts = torch.tensor([len(users)], dtype=torch.int64)
    all_counts = [torch.zeros_like(counts) for _ in range(world)]
    dist.all_gather(all_counts, counts)
    all_counts = [int(c) for c in all_counts]
    # every trainer takes the same number of steps (SparseAdam's step is collective)
    steps = max(1, min(-(-sum(all_counts) // cfg.batch_size), min(all_counts)))

    init = partial(_normal_rows, cfg.init_std)  # called by each server on its rows (seeded there)
    user_emb = dgl.distributed.DistEmbedding(g.num_nodes("user"), cfg.embedding_size, _USER_EMB, init,
                                             g.get_node_partition_policy("user"))
    item_emb = dgl.distributed.DistEmbedding(g.num_nodes("item"), cfg.embedding_size, _ITEM_EMB, init,
                                             g.get_node_partition_policy("item"))
    opt = dgl.distributed.optim.SparseAdam([user_emb, item_emb], lr=cfg.lr)
    gen = torch.Generator().manual_seed(cfg.seed * 1000 + rank)
    losses, times = [], []
    for epoch in range(cfg.epochs):
        dist.barrier()
        start = time.perf_counter()
        total = torch.zeros(1, dtype=torch.float64)
        order = torch.randperm(len(users), generator=gen)
        for step, idx in enumerate(torch.tensor_split(order, steps)):
            u, i = users[idx], items[idx]
            j = sampler.sample(u, gen)
            eu, ei, ej = user_emb(u), item_emb(i), item_emb(j)
            bpr = ranking_loss((eu * ei).sum(1), (eu * ej).sum(1).unsqueeze(1), "bpr")
            reg = (eu.pow(2).sum() + ei.pow(2).sum() + ej.pow(2).sum()) / (2 * len(u))
            loss = bpr + cfg.reg_weight * reg
            (loss / world).backward()  # each row's gradient as from the mean over the whole step's batch
            opt.step()
            total += float(loss.detach())
            if rank == job["fail_trainer"] and epoch == 0 and step == 0:
                if job["fail_signal"]:
                    os.kill(os.getpid(), job["fail_signal"])
                raise RuntimeError(f"trainer {rank} fails on purpose after its first step")
        dist.all_reduce(total)
        times.append(time.perf_counter() - start)
        losses.append(float(total) / (steps * world))

    dist.barrier()
    if rank == 0:
        with np.load(Path(job["partition_dir"]) / ORIG_IDS_FILE, allow_pickle=False) as z:
            user_ids, item_ids = torch.from_numpy(z["node:user"]), torch.from_numpy(z["node:item"])
        tables = {}
        for name, emb, ids in (("user", user_emb, user_ids), ("item", item_emb, item_ids)):
            rows = emb.weight[torch.arange(len(ids))]  # DGL's ids
            table = torch.empty_like(rows)
            table[ids] = rows  # the dataset graph's ids
            tables[name] = table
        # node data read through the DistGraph from both servers (a check that they serve their own partitions)
        tables["raw_id"] = torch.empty(len(user_ids), dtype=torch.int64)
        tables["raw_id"][user_ids] = g.nodes["user"].data["raw_id"][torch.arange(len(user_ids))].to(torch.int64)
        torch.save({**tables, "loss": losses, "epoch_seconds": times, "interactions": all_counts, "steps": steps},
                   job["result"])
    dist.barrier()
    dist.destroy_process_group()


__all__ = ["train_bprmf_distributed", "DistBPRConfig", "DistributedTrainingError", "GRACE_S"]
