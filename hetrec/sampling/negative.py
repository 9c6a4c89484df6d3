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
    popular items). Randomness comes from torch's global generator, like DGL's ``Uniform``.
    """

    def __init__(self, k: int = 1):
        if k < 1:
            raise ValueError(f"k must be positive, got {k}")
        self.k = k

    def __call__(self, g, eids):
        if not isinstance(eids, dict):
            eids = {g.canonical_etypes[0]: eids}
        out = {}
        for etype, ids in eids.items():
            etype = g.to_canonical_etype(etype)
            src, dst = g.find_edges(ids, etype=etype)
            pick = torch.randint(0, len(dst), (len(dst) * self.k,), device=dst.device)
            out[etype] = (src.repeat_interleave(self.k), dst[pick])
        return out
