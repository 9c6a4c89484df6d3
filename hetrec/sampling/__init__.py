"""Samplers for heterographs: subgraph samplers, usable wherever DGL expects a
``dgl.dataloading.Sampler``, and negative samplers.

* :class:`DenseSubgraphSampler` — type-balanced, squared-budget sampling (MTHGT Eq. 2), with the
  contract of :class:`dgl.dataloading.ShaDowKHopSampler`.
* :class:`InBatchNegativeSampler` — negatives drawn from a batch's own destinations.
* :class:`ComplementNegativeSampler` — uniform negatives from outside each user's training items.

Uniform neighbour sampling (the HGT / HGT-m ablations) uses DGL's ``ShaDowKHopSampler`` with
per-relation fanouts directly; see docs/sampler.md. The samplers are turned into training
batches by the builders of :mod:`hetrec.batching`.
"""
from .dense import DenseSubgraphSampler
from .negative import ComplementNegativeSampler, InBatchNegativeSampler

__all__ = ["DenseSubgraphSampler", "InBatchNegativeSampler", "ComplementNegativeSampler"]
