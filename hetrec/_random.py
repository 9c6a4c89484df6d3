"""Seeding, in one place: the trainer's per-epoch seeding and reproducible DGL sampling.

Every random choice in hetrec's training comes from the generator :func:`seed_everything`
returns (or from the global generators it seeds, for DGL's own samplers). DGL's samplers draw
from per-thread generators; with more than one OpenMP thread the same ``dgl.seed`` does not
reliably give the same samples (observed on 2 cores for random walks and for
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


__all__ = ["seed_everything", "seeded_dgl", "dgl_one_thread"]
