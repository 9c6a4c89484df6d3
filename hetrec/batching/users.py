"""Batches of users (their whole training rows are the input): the batches of MultVAE."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
import torch

from .._random import draw_seed
from .base import BatchBuilder


class UserRowBatch(NamedTuple):
    """One batch of users. ``seed`` (drawn from the epoch generator) drives the randomness
    inside :meth:`Recommender.loss` (MultVAE's input dropout and reparameterisation noise), so
    the generator stays the only source of randomness of training.

    A named tuple, like :class:`~hetrec.batching.BPRBatch`: :func:`hetrec.train.device.to_device`
    moves the tensors of named tuples to the training device."""

    #: ``(B,)`` user ids
    users: torch.Tensor
    seed: int


class UserRowBatches(BatchBuilder):
    """Every user with at least one training item once per epoch, in an order drawn from the
    generator (a permutation), in batches of ``batch_size`` users; each batch carries a seed
    drawn from the generator after its users.

    Parameters
    ----------
    train : scipy.sparse matrix
        The ``(users, items)`` training matrix (users without an entry get no batch).
    batch_size : int
        Users per batch (MultVAE's paper: 500).
    """

    def __init__(self, train, batch_size: int):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.batch_size = batch_size
        train = sp.csr_matrix(train)
        train.eliminate_zeros()
        self.users = torch.from_numpy(np.flatnonzero(np.diff(train.indptr) > 0).astype(np.int64))

    def batches(self, generator: torch.Generator):
        order = self.users[torch.randperm(len(self.users), generator=generator, device=generator.device)]
        for start in range(0, len(order), self.batch_size):
            yield UserRowBatch(order[start:start + self.batch_size], draw_seed(generator))

    def shard(self, batch: UserRowBatch, rank: int, world: int) -> UserRowBatch:
        """Every ``world``-th user from ``rank``, with a seed of its own derived from the batch's
        seed and the rank: the noise is drawn per row from the seed, so with a shared seed the
        ranks would give their ``j``-th users the same dropout mask and the same noise."""
        seed = int(np.random.SeedSequence([batch.seed, rank]).generate_state(1, dtype=np.uint64)[0]) >> 2
        return UserRowBatch(batch.users[rank::world], seed)


__all__ = ["UserRowBatch", "UserRowBatches"]
