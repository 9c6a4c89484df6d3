r"""XSimGCL (Yu et al., "XSimGCL: Towards Extremely Simple Graph Contrastive Learning for
Recommendation", IEEE TKDE 2023): LightGCN propagation with noise in every layer, and a
contrastive loss between two layers of the same noisy propagation.

With :math:`\tilde A = D^{-1/2} A D^{-1/2}` the symmetric-normalized adjacency of the bipartite
training graph (as in :mod:`hetrec.models.lightgcn`) and :math:`E^{(0)}` the free embeddings,
training propagates with uniform noise added to every layer's output,

.. math::

    E^{(k)} = \tilde A E^{(k-1)} + \epsilon \cdot \mathrm{sign}\big(\tilde A E^{(k-1)}\big)
              \odot \bar\Delta^{(k)}, \qquad
    \bar\Delta^{(k)}_v = \frac{\Delta^{(k)}_v}{\|\Delta^{(k)}_v\|_2}, \quad
    \Delta^{(k)} \sim U(0, 1)^{(|U| + |I|) \times d},

each noisy layer feeding the next; inference propagates without noise. The representation is the
mean of layers 1..K,

.. math::

    E = \frac1K \sum_{k=1}^{K} E^{(k)}, \qquad \hat y_{ui} = e_u^\top e_i ,

**without** layer 0 (LightGCN averages k = 0..K; XSimGCL's code leaves :math:`E^{(0)}` out).
The contrastive view is layer :math:`l^* =` ``cl_layer`` of the same noisy propagation, and the
InfoNCE loss over the batch's unique users :math:`\mathcal B_U` (and likewise its unique
positive items :math:`\mathcal B_I`) is, with :math:`\bar e` an L2-normalised row and
:math:`\tau =` ``cl_temperature``,

.. math::

    L_{cl}^{U} = \frac{1}{|\mathcal B_U|} \sum_{u \in \mathcal B_U}
        -\log \frac{\exp(\bar e_u^\top \bar e_u^{(l^*)} / \tau)}
                   {\sum_{v \in \mathcal B_U} \exp(\bar e_u^\top \bar e_v^{(l^*)} / \tau)} .

The loss of a batch is :math:`L = L_{BPR} + \lambda_{reg} L_{2} + \lambda\,(L_{cl}^U + L_{cl}^I)`
with :math:`\lambda =` ``cl_weight`` and BPR and the L2 term on the batch's layer-0
embeddings as every hetrec BPR model (:mod:`hetrec.models._bpr`).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..batching import BPRBatch
from ..nn.losses import info_nce
from ..nn.sparse import spmm
from .base import LossOutput
from .lightgcn import LightGCN, LightGCNConfig


@dataclass
class XSimGCLConfig(LightGCNConfig):
    """LightGCN's settings (:class:`~hetrec.models.lightgcn.LightGCNConfig`) with XSimGCL's
    defaults, and the noise and contrastive settings."""

    #: number K of propagation layers (2 in the paper)
    num_layers: int = 2
    #: standard deviation of a normal initialisation, or None for Xavier-uniform tables as in the authors' code
    init_std: float | None = None
    #: magnitude ε of the noise added to every layer in training (0.2 in the paper)
    eps: float = 0.2
    #: weight λ of the contrastive loss (0.2 in the paper)
    cl_weight: float = 0.2
    #: temperature τ of InfoNCE (0.2 in the paper)
    cl_temperature: float = 0.2
    #: layer l* whose (noisy) output is contrasted with the final representation (1 in the paper)
    cl_layer: int = 1


class XSimGCL(LightGCN):
    """XSimGCL. Defaults (:class:`XSimGCLConfig`): ``embedding_size=64``, ``num_layers=2``,
    ``eps=0.2``, ``cl_weight=0.2``, ``cl_temperature=0.2``, ``cl_layer=1``, ``batch_size=2048``,
    ``reg_weight=1e-4``, Xavier-uniform layer-0 embeddings (the authors' code). The paper's
    learning rate is 1e-3 (Adam), set in the trainer.

    Deviations from the authors' code (SELFRec): the L2 term is hetrec's (squared norms of the
    batch's layer-0 embeddings, negatives included, over 2|B|) where SELFRec takes the
    unsquared norms of the final user and positive-item embeddings; the noise is drawn from a
    generator seeded with the batch's seed, on the CPU (the same numbers on every device), so
    the trainer's generator is the only source of randomness. The contrastive items are the
    batch's unique positive items, as in the authors' code.
    """

    name = "xsimgcl"
    Config = XSimGCLConfig
    #: at least one layer, the one XSimGCL contrasts with the final representation
    _MINIMUMS = {"num_layers": 1}

    def __init__(self, config=None, **overrides):
        super().__init__(config, **overrides)
        if not 1 <= self.config.cl_layer <= self.config.num_layers:
            raise ValueError(f"cl_layer ({self.config.cl_layer}) must lie in 1..num_layers ({self.config.num_layers})")

    def reset_parameters(self) -> None:
        if self.config.init_std is not None:
            super().reset_parameters()
            return
        torch.nn.init.xavier_uniform_(self.user_embedding.weight)
        torch.nn.init.xavier_uniform_(self.item_embedding.weight)

    def layers(self, ego: torch.Tensor, generator: torch.Generator | None = None) -> list:
        """:math:`E^{(1)}, \\dots, E^{(K)}` for stacked user+item rows ``ego``; with noise iff
        ``generator`` (one :math:`\\Delta` per layer, drawn in layer order)."""
        out, layer = [], ego
        for _ in range(self.config.num_layers):
            layer = spmm(self.adjacency, layer)
            if generator is not None and self.config.eps > 0:
                delta = torch.rand(layer.shape, generator=generator, device=generator.device).to(layer.device)
                layer = layer + self.config.eps * torch.sign(layer) * F.normalize(delta, p=2, dim=1)
            out.append(layer)
        return out

    def propagate(self, ego: torch.Tensor) -> torch.Tensor:
        """Mean of layers 1..K (layer 0 left out), without noise: inference."""
        return torch.stack(self.layers(ego)).mean(0)

    def _views(self, batch: BPRBatch) -> tuple:
        """``(final, contrastive)`` stacked user+item rows for ``batch``: noisy in training."""
        generator = torch.Generator().manual_seed(batch.seed) if self.training else None
        layers = self.layers(torch.cat([self.user_embedding.weight, self.item_embedding.weight]), generator)
        return torch.stack(layers).mean(0), layers[self.config.cl_layer - 1]

    def train_embeddings(self, batch: BPRBatch) -> tuple:
        # BPRRecommender.loss asks for the (user, item) embeddings only; the contrastive view of
        # the same noisy propagation is kept for loss() to pick up right after
        final, contrastive = self._views(batch)
        self._contrastive = (final, contrastive)
        return final[: self.num_users], final[self.num_users:]

    def loss(self, batch: BPRBatch) -> LossOutput:
        out = super().loss(batch)  # BPR + L2, through train_embeddings
        final, contrastive = self._contrastive
        self._contrastive = None
        users = torch.unique(batch.users)
        items = torch.unique(batch.pos_items) + self.num_users
        tau = self.config.cl_temperature
        cl = info_nce(final[users], contrastive[users], tau) + info_nce(final[items], contrastive[items], tau)
        return LossOutput(out.loss + self.config.cl_weight * cl, {**out.logs, "cl": float(cl.detach())})
