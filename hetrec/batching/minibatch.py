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
    #: link-prediction triples of a multi-task model, ``{relation: (src, dst, fake (n, k))}``
    #: (local ids by type; ``src -> dst`` a training edge, ``fake`` uniform nodes of dst's type);
    #: None for a single-task model
    lp: dict | None = None


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
    lp_relations : sequence of tuple
        Relations (canonical edge types) a multi-task model predicts links of: each batch draws,
        per relation, ``lp_edges_per_relation`` of its edges with replacement (at most the
        relation's number of edges), each with ``lp_negatives`` uniform fake destinations, as
        :class:`~hetrec.batching.FullGraphBatches` does. Empty (the default): no triples, and the
        batches are exactly those of a single-task model.
    lp_edges_per_relation, lp_negatives : int
        See ``lp_relations``.
    """

    def __init__(self, graph, batch_size: int, num_negatives: int, negative_pool: int = 65536, lp_relations=(),
                 lp_edges_per_relation: int = 256, lp_negatives: int = 1):
        self.batch_size = batch_size
        self.num_negatives = num_negatives
        self.negative_pool = negative_pool
        self.num_items = graph.num_nodes(ITEM)
        self.users, self.items = graph.edges(etype=INTERACTS, order="eid")
        lp_relations = [tuple(et) for et in lp_relations]
        self.lp_edges_per_relation = lp_edges_per_relation
        self.lp_negatives = lp_negatives
        # each relation's edges (by edge id) and its destination type's node count
        self.lp_edges = {et: (*graph.edges(etype=et, order="eid"), graph.num_nodes(et[2]))
                         for et in lp_relations if graph.num_edges(et)}
        self.multitask = bool(lp_relations)

    def batches(self, generator: torch.Generator):
        dev = generator.device
        order = torch.randperm(len(self.users), generator=generator, device=dev)
        for n, start in enumerate(range(0, len(self.users), self.batch_size)):
            idx = order[start:start + self.batch_size]
            pool = torch.randint(0, self.num_items, (self.negative_pool,), generator=generator, device=dev)
            neg = pool[torch.randint(0, len(pool), (len(idx), self.num_negatives), generator=generator, device=dev)]
            seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=dev))
            # drawn after everything a single-task batch draws: its batches stay what they were
            lp = self._lp_triples(generator) if self.multitask else None
            yield MiniBatch(self.users[idx].long(), self.items[idx].long(), neg, seed, n == 0, lp)

    def _lp_triples(self, generator) -> dict:
        dev = generator.device
        out = {}
        for et, (src, dst, n_dst) in self.lp_edges.items():
            pick = torch.randint(0, len(src), (min(self.lp_edges_per_relation, len(src)),), generator=generator,
                                 device=dev)
            fake = torch.randint(0, n_dst, (len(pick), self.lp_negatives), generator=generator, device=dev)
            out[et] = (src[pick].long(), dst[pick].long(), fake)
        return out

    def shard(self, batch: MiniBatch, rank: int, world: int) -> MiniBatch:
        """Every ``world``-th interaction (with its negatives) and link-prediction triple from
        ``rank``; the seed is the batch's."""
        lp = None if batch.lp is None else {et: tuple(t[rank::world] for t in triple)
                                            for et, triple in batch.lp.items()}
        return MiniBatch(batch.users[rank::world], batch.pos_items[rank::world], batch.neg_items[rank::world],
                         batch.seed, batch.first, lp)


__all__ = ["MiniBatch", "MiniBatches"]
