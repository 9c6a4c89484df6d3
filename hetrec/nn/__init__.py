"""Reusable layers for heterogeneous-graph recommenders (docs/layers.md).

Each layer lives in its own module and depends only on PyTorch and DGL (``sparse`` also on
numpy and scipy), never on the rest of hetrec, so any DGL project can import them.

- :class:`HGTLayer` — HGT attention layer with a per-type gated residual, Eq. (4)–(11)
- :class:`LightHGTLayer` — HGT attention steering transform-free, degree-normalised propagation
- :class:`NodeTypeProjection` — per-type ID embeddings / features to a hidden size, Eq. (3)
- :class:`MMoE` — shared experts, one softmax gate per task, per-type residual, Eq. (12)–(14)
- :mod:`hetrec.nn.losses` — BPR and sampled-softmax ranking losses
- :class:`UncertaintyWeighting` — ``Σ exp(−s_i)·L_i + s_i`` task-loss weighting
- :func:`spmm`, :func:`csr_parts` — products with a constant sparse operator (gradient to the
  dense side only, transpose prepared once)
"""
from .hgt import HGTLayer
from .light_hgt import LightHGTLayer
from .losses import bpr_loss, ranking_loss, sampled_softmax_loss
from .mmoe import MMoE
from .projection import NodeTypeProjection
from .sparse import csr_parts, spmm
from .uncertainty import UncertaintyWeighting

__all__ = ["HGTLayer", "LightHGTLayer", "MMoE", "NodeTypeProjection", "UncertaintyWeighting", "bpr_loss", "ranking_loss",
           "sampled_softmax_loss", "spmm", "csr_parts"]
