"""Seeding, in one place: the trainer's per-epoch seeding and reproducible DGL sampling.

Every random choice in hetrec's training comes from the generator :func:`seed_everything`
returns: the batch builders (:mod:`hetrec.batching`) draw from it directly, or draw seeds from
it (:func:`draw_seed`) for DGL's samplers, which use global generators (:func:`seeded_dgl`,
:func:`seed_torch_and_dgl`, :func:`numpy_random_state`). DGL's samplers draw from per-thread
generators; with more than one OpenMP thread the same ``dgl.seed`` does not reliably give the
same samples (observed on 2 cores for random walks and for
``ShaDowKHopSampler``'s neighbour sampling), so :func:`seeded_dgl` and :func:`dgl_one_thread`
run DGL's sampling on one thread.
"""
from __future__ import annotations

import random
from contextlib import contextmanager

import numpy as np
import torch


def seed_everything(seed: int, epoch: int = -1) -> torch.Generator:
    """Seed every generator (Python, numpy, torch, DGL) from ``(seed, epoch)``; return a fresh
    ``torch.Generator`` seeded the same way, the one source of randomness of an epoch."""
    import dgl

    # one 31-bit seed per (seed, epoch): dgl.seed takes a C int
    s = int(np.random.SeedSequence([seed, epoch + 1]).generate_state(1, dtype=np.uint32)[0]) >> 1
    random.seed(s)
    np.random.seed(s)
    torch.manual_seed(s)
    dgl.seed(s)
    return torch.Generator().manual_seed(s)


def draw_seed(generator: torch.Generator, high: int = 2**62) -> int:
    """An integer in ``[0, high)`` drawn from ``generator``: the seed of a generator (a batch's,
    DGL's) that must follow from the trainer's generator."""
    return int(torch.randint(high, (1,), generator=generator, device=generator.device))


def numpy_random_state(generator: torch.Generator) -> np.random.RandomState:
    """A numpy ``RandomState`` seeded with ``generator``'s initial seed. For a generator from
    :func:`seed_everything` it draws what numpy's global generator draws right after that
    seeding (where DGL's ``DataLoader`` shuffles with it), without touching the global one."""
    return np.random.RandomState(generator.initial_seed() % 2**32)


def seed_torch_and_dgl(seed: int) -> None:
    """Seed torch's global generator and DGL's, the ones DGL's ``DataLoader``, its negative
    samplers and samplers without a generator of their own draw from."""
    import dgl

    torch.manual_seed(seed)
    dgl.seed(seed)


@contextmanager
def dgl_one_thread():
    """Run DGL's OpenMP work on one thread inside the block (restored afterwards)."""
    import dgl

    threads = dgl.utils.get_num_threads()
    dgl.utils.set_num_threads(1)
    try:
        yield
    finally:
        dgl.utils.set_num_threads(threads)


@contextmanager
def seeded_dgl(seed: int):
    """Run DGL's samplers reproducibly: seed DGL's generator and sample on one thread."""
    import dgl

    with dgl_one_thread():
        dgl.seed(int(seed))
        yield


__all__ = ["seed_everything", "draw_seed", "numpy_random_state", "seed_torch_and_dgl", "seeded_dgl",
           "dgl_one_thread"]
