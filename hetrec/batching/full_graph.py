"""Batches for training on the whole graph (MTHGT's full-graph mode): recommendation triples,
link-prediction samples and the edges each step hides from message passing."""
from __future__ import annotations

from typing import NamedTuple

import scipy.sparse as sp
import torch

from ..data.schema import INTERACTS, reverse_etypes
from ..sampling import ComplementNegativeSampler
from .base import BatchBuilder


class FullGraphBatch(NamedTuple):
    """One full-graph training step: recommendation triples and link-prediction samples.
    Every random choice in it is drawn from the trainer's epoch generator."""

    users: torch.Tensor
    pos_items: torch.Tensor
    #: (B, num_negatives) items outside each user's training items
    neg_items: torch.Tensor
    #: relation -> (src, dst, fake_dst) node ids of the training graph
    lp: dict
    #: relation -> edge ids of the training graph hidden from message passing in this step
    hidden: dict
    #: a seed for the step's own random draws (e.g. a model's training noise), drawn from the
    #: epoch generator when the builder has ``draw_seeds``; None otherwise
    seed: int | None = None


def reverse_edge_ids(g, et, rev):
    """For every edge ``(s, d)`` of ``et``, the id of an edge ``(d, s)`` of ``rev`` (a one-to-one
    pairing, multi-edges included), or None when ``rev`` does not mirror ``et`` exactly."""
    s, d = g.edges(etype=et)
    rs, rd = g.edges(etype=rev)
    if len(s) != len(rs):
        return None
    n = g.num_nodes(et[2])
    key, rkey = s * n + d, rd * n + rs
    order, rorder = torch.argsort(key, stable=True), torch.argsort(rkey, stable=True)
    if not torch.equal(key[order], rkey[rorder]):
        return None
    out = torch.empty_like(order)
    out[order] = rorder
    return out


class FullGraphBatches(BatchBuilder):
    """Every training interaction once per epoch, in batches of ``batch_size``, with
    ``num_negatives`` negatives per interaction drawn uniformly from the items outside the
    user's training items (:class:`~hetrec.sampling.ComplementNegativeSampler`; users with
    every item get no triple), and for each relation of ``lp_relations`` up to
    ``lp_edges_per_relation`` edges drawn with replacement as link-prediction positives, each
    with ``lp_negatives`` uniform fake destinations. With ``drop_batch_edges`` a batch also
    names the edges to hide from message passing in its step: its interactions and
    link-prediction positives, and their reverses.

    Parameters
    ----------
    graph : DGLGraph
        The training graph (on the CPU); every relation has its reverse.
    train : scipy.sparse matrix
        The ``(users, items)`` training matrix (its entries are the training items).
    batch_size : int
        Interactions per batch.
    num_negatives : int
        Negative items per interaction.
    lp_relations : sequence of tuple
        Relations sampled for link prediction (empty: none).
    lp_edges_per_relation : int
        Link-prediction positives per relation and batch.
    lp_negatives : int
        Fake destinations per link-prediction positive.
    drop_batch_edges : bool
        Name the edges to hide in :attr:`FullGraphBatch.hidden` (else it is empty).
    draw_seeds : bool
        Draw :attr:`FullGraphBatch.seed` from the epoch generator, after the batch's other draws
        (off: the generator's stream is that of a builder without seeds).
    """

    def __init__(self, graph, train, batch_size: int, num_negatives: int, lp_relations=(),
                 lp_edges_per_relation: int = 256, lp_negatives: int = 1, drop_batch_edges: bool = True,
                 draw_seeds: bool = False):
        self.graph = graph
        self.draw_seeds = draw_seeds
        self.batch_size = batch_size
        self.num_negatives = num_negatives
        self.lp_relations = list(lp_relations)
        self.lp_edges_per_relation = lp_edges_per_relation
        self.lp_negatives = lp_negatives
        self.drop_batch_edges = drop_batch_edges
        train = sp.csr_matrix(train)
        train.sum_duplicates()
        self.negative_sampler = ComplementNegativeSampler(train)
        users, items = graph.edges(etype=INTERACTS)
        keep = self.negative_sampler.num_free[users] > 0  # users with every item: no negative
        self.eids = torch.arange(len(keep), device=keep.device)[keep]
        self.users, self.items = users[keep], items[keep]
        self.reverse = reverse_etypes(graph)
        self.reverse_eids = {et: reverse_edge_ids(graph, et, self.reverse[et]) for et in graph.canonical_etypes}

    def batches(self, generator: torch.Generator):
        g, k = self.graph, self.num_negatives
        order = torch.randperm(len(self.users), generator=generator, device=generator.device)
        for start in range(0, len(self.users), self.batch_size):
            idx = order[start:start + self.batch_size]
            users = self.users[idx]
            neg = self.negative_sampler.sample(users.repeat_interleave(k), generator).view(-1, k)
            lp, hidden = {}, {INTERACTS: [self.eids[idx]]}
            for et in self.lp_relations:
                m = g.num_edges(et)
                if m == 0:
                    continue
                pick = torch.randint(0, m, (min(self.lp_edges_per_relation, m),), generator=generator,
                                     device=generator.device)
                src, dst = g.find_edges(pick, etype=et)
                fake = torch.randint(0, g.num_nodes(et[2]), (len(pick), self.lp_negatives), device=generator.device,
                                     generator=generator)
                lp[et] = (src, dst, fake)
                hidden.setdefault(et, []).append(pick)
            if self.drop_batch_edges:
                for et in list(hidden):
                    rev = self.reverse_eids.get(et)
                    if rev is not None:
                        hidden.setdefault(self.reverse[et], []).append(rev[torch.cat(hidden[et])])
                hidden = {et: torch.unique(torch.cat(parts)) for et, parts in hidden.items()}
            else:
                hidden = {}
            seed = None
            if self.draw_seeds:
                seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
            yield FullGraphBatch(users, self.items[idx], neg, lp, hidden, seed)

    def shard(self, batch: FullGraphBatch, rank: int, world: int) -> FullGraphBatch:
        """Every ``world``-th positive (and its negatives and link-prediction triples) from
        ``rank``; the edges hidden from message passing stay those of the whole batch, so every
        rank propagates over the same graph."""
        lp = {et: tuple(t[rank::world] for t in triple) for et, triple in batch.lp.items()}
        return FullGraphBatch(batch.users[rank::world], batch.pos_items[rank::world],
                              batch.neg_items[rank::world], lp, batch.hidden, batch.seed)


__all__ = ["FullGraphBatch", "FullGraphBatches", "reverse_edge_ids"]
