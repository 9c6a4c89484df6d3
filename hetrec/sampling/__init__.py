"""Subgraph samplers for heterographs, usable wherever DGL expects a ``dgl.dataloading.Sampler``.

* :class:`DenseSubgraphSampler` — type-balanced, squared-budget sampling (MTHGT Eq. 2), with the
  contract of :class:`dgl.dataloading.ShaDowKHopSampler`.

Uniform neighbour sampling (the HGT / HGT-m ablations) uses DGL's ``ShaDowKHopSampler`` with
per-relation fanouts directly; see docs/sampler.md.
"""
from .dense import DenseSubgraphSampler
from .negative import InBatchNegativeSampler

__all__ = ["DenseSubgraphSampler", "InBatchNegativeSampler"]
