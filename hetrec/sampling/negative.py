"""Negative samplers: :class:`InBatchNegativeSampler` for
``dgl.dataloading.as_edge_prediction_sampler``, and :class:`ComplementNegativeSampler`, exact
uniform negatives per user from outside the user's training items (BPR triples, full-graph MTHGT).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch


class InBatchNegativeSampler:
    """Corrupt each positive edge ``(u, v)`` into ``k`` edges ``(u, v')`` with ``v'`` drawn
    uniformly from the destinations of the batch's positive edges of the same relation.

    Why: with node-induced subgraphs, a uniformly drawn negative item enters the subgraph with
    almost no edges to the batch, while positive items are linked to it through other users; a
    GNN can then tell positives from negatives by subgraph connectivity alone, a shortcut that
    does not carry over to full-graph inference. In-batch negatives are drawn from the same
    population as the positives (so, like popularity-weighted negatives, they also emphasise
    popular items). Randomness comes from ``generator`` if given, else torch's global generator
    (like DGL's ``Uniform``).
    """

    def __init__(self, k: int = 1, generator: torch.Generator | None = None):
        if k < 1:
            raise ValueError(f"k must be positive, got {k}")
        self.k = k
        self.generator = generator

    def __call__(self, g, eids):
        """Like DGL's negative samplers: a ``(src, dst)`` pair of tensors for a tensor of edge
        ids (only on a graph with one relation), a dict of them for a dict of edge ids.

        A negative is never the edge's own destination: ``v'`` is drawn among the batch's
        destinations that differ from ``v`` (when every destination equals ``v`` there is none
        to draw, and ``v'`` is drawn uniformly from all nodes of that type instead)."""
        if not isinstance(eids, dict):
            if len(g.canonical_etypes) != 1:
                raise ValueError(f"eids is a tensor but the graph has {len(g.canonical_etypes)} relations: "
                                 "give a dict {relation: edge ids}")
            return self._sample(g, g.canonical_etypes[0], eids)
        return {g.to_canonical_etype(et): self._sample(g, g.to_canonical_etype(et), ids) for et, ids in eids.items()}

    def _sample(self, g, etype, ids):
        src, dst = g.find_edges(ids, etype=etype)
        n, k = len(dst), self.k
        if n == 0:
            return src[:0], dst[:0]
        gen, dev = self.generator, dst.device
        rdev = gen.device if gen is not None else dev
        # sort destinations; for edge i, draw among the positions whose value differs from dst[i]:
        # those are the sorted positions outside dst[i]'s run [lo, hi)
        order = torch.argsort(dst)
        sorted_dst = dst[order]
        lo = torch.searchsorted(sorted_dst, dst)
        hi = torch.searchsorted(sorted_dst, dst, right=True)
        others = (n - (hi - lo)).repeat_interleave(k)
        u = torch.rand(n * k, generator=gen, device=rdev).to(dev)
        r = torch.minimum((u * others).long(), (others - 1).clamp(min=0))
        lo_k = lo.repeat_interleave(k)
        pos = torch.where(r < lo_k, r, r + (hi - lo).repeat_interleave(k))
        neg = sorted_dst[pos.clamp(max=n - 1)]
        none = others == 0  # every destination of the batch is this edge's own
        if none.any():
            fallback = torch.randint(0, g.num_nodes(etype[2]), (int(none.sum()),), generator=gen, device=rdev).to(dev)
            neg = neg.clone()
            neg[none] = fallback
        return src.repeat_interleave(k), neg


class ComplementNegativeSampler:
    """Uniform negatives per user from the items outside the user's training items.

    Negatives are drawn exactly from that complement (no rejection loop): with the user's
    training items sorted, the r-th free item is found by one ``searchsorted``.

    Parameters
    ----------
    train : scipy.sparse matrix
        The ``(users, items)`` training matrix; an entry (of any value) is a training item.
    """

    def __init__(self, train: sp.csr_matrix):
        train = sp.csr_matrix(train)
        train.sum_duplicates()
        train.sort_indices()
        self.num_items = train.shape[1]
        self.indptr = torch.from_numpy(train.indptr.astype(np.int64))
        degree = np.diff(train.indptr)
        #: number of items outside each user's training items
        self.num_free = torch.from_numpy((self.num_items - degree).astype(np.int64))
        # t_j - j for the user's j-th training item (j counted within the row) is
        # non-decreasing within a row; offsetting rows by (num_items + 1) makes it global
        rows = np.repeat(np.arange(train.shape[0], dtype=np.int64), degree)
        within = np.arange(train.nnz, dtype=np.int64) - train.indptr[:-1].astype(np.int64)[rows]
        self.keys = torch.from_numpy(rows * (self.num_items + 1) + train.indices - within)

    def sample(self, users: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """One negative item for each entry of ``users``, drawn with ``generator``."""
        free = self.num_free[users]
        if (free == 0).any():
            raise ValueError("a user has interacted with every item: no negative exists")
        u = torch.rand(len(users), generator=generator, dtype=torch.float64, device=generator.device)
        r = torch.minimum((u * free).long(), free - 1)  # r-th free item of the user, 0-based
        # the r-th free item is r + (number of training items t_j with t_j - j <= r)
        below = torch.searchsorted(self.keys, users * (self.num_items + 1) + r, right=True)
        return r + below - self.indptr[users]
