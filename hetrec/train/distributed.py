"""Data-parallel training on one machine: N processes, ``torch.distributed`` (gloo on CPU, nccl
on GPU) and ``DistributedDataParallel``.

:func:`launch` starts ``nproc`` processes (``spawn``) that rendezvous on 127.0.0.1, runs
``fn(rank, world, *args)`` in each, and returns rank 0's result. Each rank trains on its own
shard of every step's seed interactions (:meth:`hetrec.models.Recommender.distributed_batches`);
DDP averages the gradients, so one step equals one step of a single process on the
concatenated batch. Rank 0 evaluates, logs and writes checkpoints. When a rank fails, the
others are stopped and :func:`launch` raises :class:`~hetrec.train.TrainingError` naming the rank
and its error: a crash never leaves the run hanging (collectives also time out after
``timeout_s``).
"""
from __future__ import annotations

import os
import socket
import sys
import traceback
from datetime import timedelta

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def rank_and_world() -> tuple:
    """``(rank, world size)``; ``(0, 1)`` outside a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main() -> bool:
    return rank_and_world()[0] == 0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank, world, port, backend, threads, timeout_s, error_file, fn, args):
    from .._signals import raise_on_terminate

    raise_on_terminate()  # the parent's SIGTERM, forwarded: clean up as on SIGINT (atomic writes, locks)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    if threads:
        torch.set_num_threads(threads)
    dist.init_process_group(backend, rank=rank, world_size=world, timeout=timedelta(seconds=timeout_s))
    try:
        result = fn(rank, world, *args)
        if rank == 0 and result is not None:
            torch.save(result, error_file + ".result")
    except BaseException as err:  # noqa: BLE001 - reported to the parent, one line
        with open(f"{error_file}.{rank}", "w") as f:
            f.write(f"{type(err).__name__}: {err}\n{traceback.format_exc()}")
        raise
    else:
        # let gloo's worker threads finish and free every pending work object while this thread
        # waits without holding the GIL: destroying the group with a collective's work still
        # queued can deadlock (its tensors are freed on the worker thread, which needs the GIL
        # the joining main thread holds). After the barrier the rank's work is done and written:
        # leave without running C++ destructors at all, the surest way around that deadlock
        dist.barrier()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def launch(fn, nproc: int, *args, backend: str | None = None, threads: int | None = 1, timeout_s: int = 600):
    """Run ``fn(rank, nproc, *args)`` in ``nproc`` processes joined in one process group;
    return what rank 0 returned (it must be ``torch.save``-able). ``fn`` must be importable
    (a module-level function): processes are started with ``spawn``."""
    import tempfile

    from .errors import TrainingError

    if nproc < 1:
        raise ValueError(f"nproc must be at least 1, got {nproc}")
    backend = backend or ("nccl" if torch.cuda.is_available() and dist.is_nccl_available() else "gloo")
    with tempfile.TemporaryDirectory(prefix="hetrec-ddp-") as tmp:
        error_file = os.path.join(tmp, "error")
        try:
            ranks = mp.start_processes(_worker, args=(nproc, _free_port(), backend, threads, timeout_s, error_file, fn,
                                                      args), nprocs=nproc, join=False, start_method="spawn")
            try:
                while not ranks.join():
                    pass
            except KeyboardInterrupt:  # SIGINT or SIGTERM (hetrec._signals): no rank outlives this process
                _stop_ranks(ranks.processes)
                raise
        except (mp.ProcessRaisedException, mp.ProcessExitedException) as err:
            # the root cause is the rank that failed first (the others then fail in collectives)
            reports = sorted((os.path.getmtime(f"{error_file}.{r}"), r) for r in range(nproc)
                             if os.path.exists(f"{error_file}.{r}"))
            if reports:
                failed = reports[0][1]
                detail = open(f"{error_file}.{failed}").read().splitlines()[0]
            else:  # killed, no report: what the launcher saw
                failed = getattr(err, "error_index", "?")
                detail = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
            raise TrainingError(f"data-parallel training failed in rank {failed} of {nproc}: {detail}; "
                                "the other ranks were stopped") from None
        path = error_file + ".result"
        return torch.load(path, weights_only=True) if os.path.exists(path) else None


#: seconds the ranks have to clean up after SIGTERM before they are killed
STOP_GRACE_S = 10.0


def _stop_ranks(processes) -> None:
    """SIGTERM to every rank still running (each raises KeyboardInterrupt, so its atomic writes
    remove their temporary files), then SIGKILL to any still running after :data:`STOP_GRACE_S`."""
    import time

    for p in processes:
        if p.is_alive():
            p.terminate()
    end = time.monotonic() + STOP_GRACE_S
    for p in processes:
        p.join(max(0.0, end - time.monotonic()))
    for p in processes:
        if p.is_alive():
            p.kill()
            p.join()


def average_gradients_equivalent_batch(shards: list):
    """The single-process batch equal to ranks' shards of one step (for tests and checks):
    tensors concatenated in rank order (a mean loss does not depend on the order)."""
    first = shards[0]
    if isinstance(first, torch.Tensor):
        return torch.cat(shards)
    if isinstance(first, tuple) and hasattr(first, "_fields"):
        return type(first)(*(average_gradients_equivalent_batch([s[i] for s in shards]) for i in range(len(first))))
    if isinstance(first, dict):
        return {k: average_gradients_equivalent_batch([s[k] for s in shards]) for k in first}
    return first


__all__ = ["launch", "rank_and_world", "is_main", "average_gradients_equivalent_batch"]


def one_step_check(rank: int, world: int, name: str, overrides: dict, path: str, fail_rank: int = -1):
    """A self-check of data-parallel training (used by the tests): ``world`` ranks take one
    DDP step of model ``name`` on their shards of the first batch of a fixed synthetic graph;
    rank 0 writes the parameters after the step, the initial parameters and every rank's shard
    to ``path`` (``torch.save``), so that one process can repeat the step on the concatenated
    batch and compare. ``fail_rank`` makes that rank raise before its first step."""
    from torch.nn.parallel import DistributedDataParallel

    from .._random import seed_everything
    from ..data import kfold_split, synthetic
    from ..models import create_model

    g = synthetic(num_users=60, num_items=80, num_interactions=1200, num_tags=6, seed=5)
    split = kfold_split(g, k=5, seed=0)[0]
    seed_everything(0, -1)
    model = create_model(name, **overrides)
    model.setup(split)
    initial = {k: v.detach().clone() for k, v in model.state_dict().items()}
    DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(model, [n for n, _ in model.named_buffers()])
    ddp = DistributedDataParallel(model, find_unused_parameters=model.ddp_find_unused_parameters)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    shard = next(iter(model.distributed_batches(seed_everything(0, 1), rank, world)))
    if rank == fail_rank:
        raise RuntimeError(f"rank {rank} fails on purpose")
    model.train()
    out = ddp(shard)
    opt.zero_grad()
    out.loss.backward()
    opt.step()
    shards = [None] * world
    dist.all_gather_object(shards, shard)
    if rank == 0:
        torch.save({"initial": initial, "after": {k: v.detach().clone() for k, v in model.state_dict().items()},
                    "shards": shards}, path)
    return None
