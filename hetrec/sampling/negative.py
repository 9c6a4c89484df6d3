"""Negative samplers for ``dgl.dataloading.as_edge_prediction_sampler``."""
from __future__ import annotations

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
