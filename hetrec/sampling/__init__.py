"""Subgraph samplers for heterographs, usable wherever DGL expects a ``dgl.dataloading.Sampler``.

* :class:`DenseSubgraphSampler` — type-balanced, squared-budget sampling (MTHGT Eq. 2).
"""
from .dense import DenseSubgraphSampler

__all__ = ["DenseSubgraphSampler"]
