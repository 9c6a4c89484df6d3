"""What a distributed trainer process does whatever its model: connect to the DistGraph, count
and drive its steps, rank users for validation and test, and save the result.

:mod:`hetrec.distributed.train` (the launcher and the BPR-MF / LightGCN trainers) and
:mod:`hetrec.distributed.mthgt` (the MTHGT trainer) both build on these pieces; neither imports
the other's internals, so the driver calls into the models and never the reverse.
"""
from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

from ..data import ITEM, USER
from .partition import local_partition_edges


def sparse_step(opt) -> None:
    """One step of DGL's distributed ``SparseAdam`` on the gradients of this step's lookups only.

    ``DistEmbedding`` records every lookup made with gradients (its trace) and ``SparseAdam.step``
    sends the gradients of the whole trace, clearing it afterwards only when ``zero_grad()`` was
    called since the last step. Without it the trace grows with every step, and each step applies
    (the mean of) every earlier step's gradients again, at a cost growing with the step count."""
    opt.zero_grad()
    opt.step()


def _check_metrics(ns: tuple, metric: str) -> None:
    """The cut-offs ``ns`` and the validation ``metric`` of a distributed config, or ValueError."""
    if not ns or min(ns) < 1:
        raise ValueError(f"ns must be positive integers, got {ns!r}")
    kind, _, n = str(metric).partition("@")
    if kind not in ("P", "R", "HR", "NDCG") or not n.isdigit() or int(n) not in ns:
        raise ValueError(f"metric must be P, R, HR or NDCG @ one of ns {ns}, got {metric!r}")


def _matrix(users, items, shape):
    import scipy.sparse as sp

    m = sp.csr_matrix((np.ones(len(users), dtype=np.float32), (users, items)), shape=shape)
    m.sum_duplicates()
    m.data[:] = 1.0
    return m


def _edges(out: Path, part: int, etype) -> tuple:
    """``(src, dst, eid)`` of the edges of ``etype`` that partition ``part`` owns, in DGL's ids."""
    return local_partition_edges(out, part, verify=False)[etype]


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


def _metric_names(ns) -> list:
    from ..eval import METRIC_NAMES

    return [f"{m}@{n}" for n in sorted(set(ns)) for m in METRIC_NAMES]


class _Ranking:
    """Full ranking of one trainer's share of users against all items, the metrics summed over
    every trainer (each trainer's mean times its number of users, then divided by the total)."""

    def __init__(self, share_users, train, heldout: dict, user_of, item_of, ns):
        self.users, self.ns = share_users, tuple(ns)
        shape = train.shape

        def rows(name):  # the held-out interactions of the share's users, rows in the share's order
            users, items = user_of[heldout[name][0]], item_of[heldout[name][1]]
            return _matrix(users, items, shape)[share_users]

        self.train, self.val, self.test = train[share_users], rows("val"), rows("test")

    def metrics(self, user_rows, item_table, which: str) -> dict:
        import torch
        import torch.distributed as dist

        from ..eval import topn_metrics

        names = _metric_names(self.ns)
        target = self.val if which == "val" else self.test
        exclude = [self.train] if which == "val" else [self.train, self.val]
        sums = torch.zeros(len(names) + 1, dtype=torch.float64)
        if target.nnz:
            got = topn_metrics(user_rows, item_table, exclude=exclude, test=target, ns=self.ns)
            sums[:-1] = torch.tensor([got[n] for n in names], dtype=torch.float64) * got["num_users"]
            sums[-1] = got["num_users"]
        dist.all_reduce(sums)
        count = int(sums[-1])
        return {**{n: float(sums[i]) / max(count, 1) for i, n in enumerate(names)}, "num_users": count}


def _counts(num_examples: int, num_users: int, world: int, batch_size: int) -> tuple:
    """``(training examples per trainer, users ranked per trainer, steps per epoch)``, gathered
    from every trainer. Every trainer takes the same number of steps (SparseAdam's step and the
    all-reduces are collective): a step takes ``batch_size`` examples over all trainers, and no
    trainer runs out of examples."""
    import torch
    import torch.distributed as dist

    counts = torch.tensor([num_examples, num_users], dtype=torch.int64)
    gathered = [torch.zeros_like(counts) for _ in range(world)]
    dist.all_gather(gathered, counts)
    examples, users = [int(c[0]) for c in gathered], [int(c[1]) for c in gathered]
    return examples, users, max(1, min(-(-sum(examples) // batch_size), min(examples)))


def _drive(job: dict, cfg, *, g, rank: int, world: int, share: dict, steps: int, num_examples: int, gen,
           train_step, share_embeddings, final: dict, best: dict, ranking: _Ranking, num_items: int, num_users: int,
           user_orig, interactions: list, ranked_users: list, in_dataset_ids, before_epoch=None) -> None:
    """The part of a trainer that every model shares: epochs of ``steps`` steps over a fresh
    permutation of this trainer's ``num_examples`` training examples, validation every
    ``cfg.eval_every`` epochs with early stopping, the test of the best epoch, and trainer 0's
    result; then the trainer leaves (:func:`_leave`). The model's part is in two hooks:

    - ``train_step(indices)``: one optimisation step on those of this trainer's examples; returns
      the step's loss (a float);
    - ``share_embeddings(out)``: the final user and item embeddings of this trainer's ``share``
      of nodes, written to ``out`` (``{node type: DistTensor}``), every trainer's rows written
      when it returns (a barrier), and returned (``{node type: rows}``). Collective.

    ``before_epoch()``, if given, runs at the start of each epoch (before the permutation)."""
    import torch
    import torch.distributed as dist

    losses, times, history = [], [], []
    best_metric, best_epoch, bad, epoch = -math.inf, 0, 0, 0
    while epoch < cfg.epochs:
        epoch += 1
        dist.barrier()
        start = time.perf_counter()
        if before_epoch is not None:
            before_epoch()
        total = torch.zeros(1, dtype=torch.float64)
        order = torch.randperm(num_examples, generator=gen)
        for step, idx in enumerate(torch.tensor_split(order, steps)):
            total += train_step(idx)
            if rank == job["fail_trainer"] and epoch == 1 and step == 0:
                if job["fail_signal"]:
                    os.kill(os.getpid(), job["fail_signal"])
                raise RuntimeError(f"trainer {rank} fails on purpose after its first step")
        dist.all_reduce(total)
        times.append(time.perf_counter() - start)
        losses.append(float(total) / (steps * world))
        if cfg.eval_every and (epoch % cfg.eval_every == 0 or epoch == cfg.epochs):
            start = time.perf_counter()
            rows = share_embeddings(final)
            val = ranking.metrics(rows[USER], final[ITEM][torch.arange(num_items)], "val")
            history.append({"epoch": epoch, "val": val, "eval_seconds": time.perf_counter() - start})
            if val[cfg.metric] > best_metric:  # the same sums on every trainer: the same decision
                best_metric, best_epoch, bad = val[cfg.metric], epoch, 0
                for nt in (USER, ITEM):
                    if len(share[nt]):
                        best[nt][share[nt]] = rows[nt]
            else:
                bad += 1
            if rank == 0:  # progress, in trainer 0's log
                print(f"epoch {epoch}  loss {losses[-1]:.4f}  val {cfg.metric} {val[cfg.metric]:.4f}  best "
                      f"{best_metric:.4f}@{best_epoch}  {times[-1]:.1f} s train", flush=True)
            if bad >= cfg.patience:
                break

    if not cfg.eval_every:  # the last epoch is tested
        share_embeddings(best)
        best_epoch = epoch
    g.barrier()  # every trainer's rows of the tested epoch are written
    test = ranking.metrics(best[USER][share[USER]], best[ITEM][torch.arange(num_items)], "test")
    val = next((h["val"] for h in history if h["epoch"] == best_epoch), {})
    dist.barrier()
    if rank == 0:
        result = {"test": test, "val": val, "best_epoch": best_epoch, "epochs_run": epoch, "history": history,
                  "loss": losses, "epoch_seconds": times, "interactions": interactions, "ranked_users": ranked_users,
                  "steps": steps}
        if job["return_embeddings"]:
            tested = in_dataset_ids({USER: best[USER], ITEM: best[ITEM]})
            result["user"], result["item"] = tested[USER], tested[ITEM]
        # node data read through the DistGraph from every server (a check that they serve their own partitions)
        result["raw_id"] = torch.empty(num_users, dtype=torch.int64)
        result["raw_id"][user_orig] = g.nodes[USER].data["raw_id"][torch.arange(num_users)].to(torch.int64)
        _save_result(job, result)
    _leave()


def _connect(job: dict) -> tuple:
    """Join the run as a trainer: ``(rank, world, machine, index_on_machine, partition book,
    DistGraph)``. Started by :func:`train_distributed` (``job["launcher"]`` false), trainer ``r``
    is on "machine" ``r % num_parts`` of 127.0.0.1 (with the localhost adjustments of the module's
    docstring); started by DGL's ``launch.py`` (through ``torch.distributed.launch``), the
    machine is torch's node rank (``RANK // LOCAL_WORLD_SIZE``, which ``launch.py`` numbers in
    the order of the ip_config's lines, as DGL numbers its machines) and the index on it
    ``LOCAL_RANK``; DGL's own machine id (from this machine's IP address) must agree."""
    from datetime import timedelta

    import dgl
    import torch.distributed as dist

    rank, world, num_parts = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), job["num_parts"]
    if job.get("launcher"):
        machine, index_on_machine = rank // int(os.environ["LOCAL_WORLD_SIZE"]), int(os.environ["LOCAL_RANK"])
    else:
        machine, index_on_machine = rank % num_parts, rank // num_parts
        _as_machine(machine, job["shm_tag"])
    dgl.distributed.initialize(os.environ["DGL_IP_CONFIG"])
    if job.get("launcher"):
        dgl_machine = dgl.distributed.rpc.get_machine_id()
        if dgl_machine != machine:
            raise RuntimeError(f"trainer {rank} is on DGL's machine {dgl_machine} (by its IP address) but torch's node "
                               f"rank says machine {machine}: the ip_config's lines must be in launch.py's order")
    dist.init_process_group("gloo", rank=rank, world_size=world, timeout=timedelta(seconds=120))
    book = dgl.distributed.load_partition_book(job["part_config"], machine)[0]
    g = dgl.distributed.DistGraph(job["graph_name"], gpb=book)
    return rank, world, machine, index_on_machine, book, g


def _result_record(result: dict, model: str, config: dict, num_trainers: int, num_servers: int,
                   seconds: float) -> dict:
    """What :func:`train_distributed` returns, from what trainer 0 saved."""
    return {"model": model, "test": result["test"], "val": result["val"], "best_epoch": result["best_epoch"],
            "epochs_run": result["epochs_run"], "stopped_early": result["epochs_run"] < config["epochs"],
            "history": result["history"], "loss": result["loss"], "epoch_seconds": result["epoch_seconds"],
            "seconds": seconds, "num_trainers": num_trainers, "num_servers": num_servers,
            "interactions_per_trainer": result["interactions"], "users_per_trainer": result["ranked_users"],
            "steps_per_epoch": result["steps"], "config": config}


def _save_result(job: dict, result: dict) -> None:
    """Trainer 0's result: for :func:`train_distributed`, ``job["result"]`` (read back by the
    parent); for a run of DGL's launcher (:mod:`hetrec.distributed.worker`), ``results.json``
    (and, with ``return_embeddings``, ``embeddings.pt``) in ``job["out_dir"]``, each written
    through a temporary file and renamed."""
    from .._io import atomic_torch_save, atomic_write_text

    if not job.get("launcher"):
        atomic_torch_save(result, job["result"])
        return
    out = Path(job["out_dir"])
    seconds = time.time() - job["started"]
    record = {"parts": job["partition_dir"], "graph_name": job["graph_name"], "split": job["split"],
              "hetrec_version": job["hetrec_version"], "launcher": "dgl launch.py", "machines": job["num_parts"],
              **_result_record(result, job["model"], job["config"], job["num_trainers"], job["num_parts"], seconds)}
    if "probe_all" in result:  # pragma: no cover - probes are train_distributed's
        raise RuntimeError("a launcher run has no probe")
    if job["return_embeddings"]:
        atomic_torch_save({"user": result["user"], "item": result["item"], "model": job["model"],
                           "best_epoch": result["best_epoch"]}, out / "embeddings.pt")
    atomic_write_text(out / "results.json", json.dumps(record, indent=2) + "\n")


def _leave() -> None:
    """End a trainer that has done its work: wait for the others, let DGL end its client (trainer
    0 stops the servers), and exit at once. Not through the interpreter's teardown: there, freeing
    a ``DistTensor`` is an RPC with a barrier among the trainers (``delete_data``), each trainer
    freeing in its own order, and freeing the gloo process group joins threads that still hold
    the tensors of DGL SparseAdam's unawaited ``isend`` calls and wait for the GIL, which the
    freeing thread holds. One test run here hung at its end in both ways at once."""
    import dgl
    import torch.distributed as dist

    dist.barrier()
    dgl.distributed.exit_client()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
