"""Batches for MTHGT's mini-batch mode: interactions and a few negatives shared by the batch, so
a step's nodes (and cost) are bounded by the batch, not the graph (:mod:`hetrec.models._history`)."""
from __future__ import annotations

from typing import NamedTuple

import torch

from ..data.schema import INTERACTS, ITEM
from .base import BatchBuilder


class MiniBatch(NamedTuple):
    """One mini-batch step. Every random choice is drawn from the trainer's epoch generator."""

    users: torch.Tensor
    pos_items: torch.Tensor
    #: ``(B, k)`` negatives per interaction, drawn uniformly from a pool of ``negative_pool``
    #: uniform items shared by the batch (so the batch's items stay bounded); a negative that is
    #: one of the user's training items is masked out of its loss by the model
    neg_items: torch.Tensor
    #: seed of the step's neighbour draws
    seed: int
    #: the epoch's first batch (the model refreshes its historical embeddings there)
    first: bool


class MiniBatches(BatchBuilder):
    """Every training interaction once per epoch, in batches of ``batch_size``, each interaction
    with ``num_negatives`` negatives drawn uniformly from a pool of ``negative_pool`` uniform items
    shared by the batch, and a seed for the batch's neighbour draws.

    Parameters
    ----------
    graph : DGLGraph
        The training graph (on the CPU).
    batch_size : int
        Interactions per batch.
    num_negatives : int
        Negative items per interaction.
    negative_pool : int
        Items per batch the negatives are drawn from.
    """

    def __init__(self, graph, batch_size: int, num_negatives: int, negative_pool: int = 65536):
        self.batch_size = batch_size
        self.num_negatives = num_negatives
        self.negative_pool = negative_pool
        self.num_items = graph.num_nodes(ITEM)
        self.users, self.items = graph.edges(etype=INTERACTS, order="eid")

    def batches(self, generator: torch.Generator):
        dev = generator.device
        order = torch.randperm(len(self.users), generator=generator, device=dev)
        for n, start in enumerate(range(0, len(self.users), self.batch_size)):
            idx = order[start:start + self.batch_size]
            pool = torch.randint(0, self.num_items, (self.negative_pool,), generator=generator, device=dev)
            neg = pool[torch.randint(0, len(pool), (len(idx), self.num_negatives), generator=generator, device=dev)]
            seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=dev))
            yield MiniBatch(self.users[idx].long(), self.items[idx].long(), neg, seed, n == 0)

    def shard(self, batch: MiniBatch, rank: int, world: int) -> MiniBatch:
        """Every ``world``-th interaction (with its negatives) from ``rank``; the seed is the batch's."""
        return MiniBatch(batch.users[rank::world], batch.pos_items[rank::world], batch.neg_items[rank::world],
                         batch.seed, batch.first)


__all__ = ["MiniBatch", "MiniBatches"]
