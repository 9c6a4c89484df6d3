"""BPR triples (user, training item, negative items): the batches of BPR-MF, LightGCN and NGCF."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
import torch

from .._random import draw_seed
from ..sampling import ComplementNegativeSampler
from .base import BatchBuilder


class BPRBatch(NamedTuple):
    """One batch of BPR triples; ``seed`` (drawn from the epoch generator) drives any
    randomness inside :meth:`Recommender.loss` (NGCF's dropout), so ``generator`` stays the
    only source of randomness of training."""

    users: torch.Tensor
    pos_items: torch.Tensor
    #: ``(B,)`` with one negative per positive, ``(B, k)`` with k
    neg_items: torch.Tensor
    seed: int


class BPRTripleBatches(BatchBuilder):
    """Every training interaction once per epoch, in an order drawn from the generator, in
    batches of ``batch_size``; each positive gets ``num_negatives`` negatives drawn uniformly
    from the items the user has not interacted with in training
    (:class:`~hetrec.sampling.ComplementNegativeSampler`). A user with every item in training
    has no negative and gets no triple.

    Parameters
    ----------
    train : scipy.sparse matrix
        The ``(users, items)`` training matrix (its entries are the training items).
    batch_size : int
        Triples per batch.
    num_negatives : int
        Negatives per positive (k; 1 is BPR's own setting).
    """

    def __init__(self, train, batch_size: int, num_negatives: int = 1):
        if num_negatives < 1:
            raise ValueError(f"num_negatives must be at least 1, got {num_negatives}")
        self.batch_size = batch_size
        self.num_negatives = num_negatives
        train = sp.csr_matrix(train)
        train.sum_duplicates()
        self.negative_sampler = ComplementNegativeSampler(train)
        coo = train.tocoo()
        users, items = coo.row.astype(np.int64), coo.col.astype(np.int64)
        keep = self.negative_sampler.num_free.numpy()[users] > 0
        self.users = torch.from_numpy(users[keep])
        self.items = torch.from_numpy(items[keep])

    def batches(self, generator: torch.Generator):
        n, k = len(self.users), self.num_negatives
        order = torch.randperm(n, generator=generator, device=generator.device)
        for start in range(0, n, self.batch_size):
            idx = order[start:start + self.batch_size]
            users = self.users[idx]
            neg = self.negative_sampler.sample(users.repeat_interleave(k), generator)
            if k > 1:
                neg = neg.view(-1, k)
            yield BPRBatch(users, self.items[idx], neg, draw_seed(generator))

    def shard(self, batch: BPRBatch, rank: int, world: int) -> BPRBatch:
        """Every ``world``-th triple from ``rank`` (the seed, which drives NGCF's dropout over
        the whole graph, is shared)."""
        return BPRBatch(batch.users[rank::world], batch.pos_items[rank::world], batch.neg_items[rank::world],
                        batch.seed)


__all__ = ["BPRBatch", "BPRTripleBatches"]
