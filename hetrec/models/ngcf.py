r"""NGCF (Wang et al., SIGIR 2019): graph propagation with bi-interaction messages.

With :math:`\mathcal L = D^{-1/2} A D^{-1/2}` the symmetric-normalized adjacency of the
bipartite training graph (users and items as one node set), layer :math:`l = 1..L` is
(paper Eq. 7, matrix form, plus the bias terms of the authors' code)

.. math::

    E^{(l)} = \mathrm{LeakyReLU}\big( (\mathcal L + I) E^{(l-1)} W_1^{(l)} + b_1^{(l)}
              + (\mathcal L E^{(l-1)}) \odot E^{(l-1)} W_2^{(l)} + b_2^{(l)} \big),

then message dropout on :math:`E^{(l)}`. The representation is the concatenation
:math:`e = E^{(0)} \,\|\, \bar E^{(1)} \,\|\, \dots \,\|\, \bar E^{(L)}` where
:math:`\bar E^{(l)}` is :math:`E^{(l)}` with L2-normalized rows (authors' code), and
:math:`\hat y_{ui} = e_u^\top e_i`. Training: BPR with an L2 term on the batch's layer-0
embeddings; node dropout removes each edge of :math:`\mathcal L` with probability ``node_dropout``
and rescales the kept ones by :math:`1/(1-p)`.
"""
from __future__ import annotations

from dataclasses import dataclass

import scipy.sparse as sp
import torch
import torch.nn.functional as F

from ..nn.sparse import csr_parts, csr_tensor, spmm
from ._bpr import BPRBatch, BPRRecommender, normalized_adjacency


@dataclass
class NGCFConfig:
    #: size of the layer-0 embeddings and of every propagation layer
    embedding_size: int = 64
    #: number L of propagation layers (the final size is embedding_size * (L + 1))
    num_layers: int = 3
    #: BPR triples per batch
    batch_size: int = 2048
    #: uniform negatives per positive (BPR over every pair; 1 = the paper's setting)
    num_negatives: int = 1
    #: "bpr" (the paper), "softmax" (sampled softmax over the positive and its negatives),
    #: "full-softmax" (softmax over every item) or "ials" (the iALS squared loss over every item,
    #: :func:`hetrec.nn.losses.ials_loss`); with the last two the sampled negatives only enter the L2 term
    loss: str = "bpr"
    #: temperature of the sampled softmax
    temperature: float = 1.0
    #: weight α of the all-item term of ``loss="ials"`` (unused otherwise)
    ials_alpha: float = 0.3
    #: weight λ of the L2 term on the batch's layer-0 embeddings
    reg_weight: float = 1e-5
    #: probability of dropping an edge of the normalized adjacency (per batch, training only);
    #: 0 as RecBole 1.2.1 (chosen with its training settings on Last.FM fold-0 validation)
    node_dropout: float = 0.0
    #: dropout on each layer's output (training only)
    message_dropout: float = 0.1
    #: negative slope of LeakyReLU (the authors' code uses TensorFlow's default, 0.2)
    negative_slope: float = 0.2
    #: L2-normalize each propagated layer before concatenation, as the authors' code does
    normalize_layers: bool = True


class NGCF(BPRRecommender):
    """NGCF. Defaults (:class:`NGCFConfig`): ``embedding_size=64``, ``num_layers=3`` (64-64-64,
    concatenated to 256), ``batch_size=2048``, ``reg_weight=1e-5``, ``node_dropout=0.0``,
    ``message_dropout=0.1``, LeakyReLU slope 0.2, Xavier-uniform initialisation. The paper's
    learning rate is 1e-4 (Adam), set in the trainer.

    Deviations from the paper: the regulariser is L2 on the batch's layer-0 embeddings (the
    paper writes λ‖Θ‖² over all parameters; the authors' code regularises the batch's final
    representations); biases and per-layer row normalization follow the authors' code;
    dropout masks are drawn from the batch's seed, so the trainer's generator is the only
    source of randomness.
    """

    name = "ngcf"
    Config = NGCFConfig

    def build(self, train: sp.csr_matrix) -> None:
        d = self.config.embedding_size
        self.user_embedding = torch.nn.Embedding(self.num_users, d)
        self.item_embedding = torch.nn.Embedding(self.num_items, d)
        self.w1 = torch.nn.ModuleList(torch.nn.Linear(d, d) for _ in range(self.config.num_layers))
        self.w2 = torch.nn.ModuleList(torch.nn.Linear(d, d) for _ in range(self.config.num_layers))
        # buffers, so they move with .to(); not saved (persistent=False): setup rebuilds them.
        # The pattern of L is symmetric: L and the transpose of an edge-dropped L share (crow, col).
        a = normalized_adjacency(train)
        crow, col, values, perm = csr_parts(a)
        self._shape = a.shape
        for name, t in (("adj_crow", crow), ("adj_col", col), ("adj_values", values), ("adj_perm", perm)):
            self.register_buffer(name, t, persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for p in (self.user_embedding.weight, self.item_embedding.weight,
                  *(lin.weight for lin in (*self.w1, *self.w2))):
            torch.nn.init.xavier_uniform_(p)
        for lin in (*self.w1, *self.w2):
            torch.nn.init.zeros_(lin.bias)

    @property
    def adjacency(self) -> torch.Tensor:
        r""":math:`\mathcal L` as a CSR tensor."""
        return csr_tensor(self.adj_crow, self.adj_col, self.adj_values, self._shape)

    def propagate(self, ego: torch.Tensor, values: torch.Tensor | None = None, generator=None) -> torch.Tensor:
        r"""Concatenated layers for stacked user+item rows, over :math:`\mathcal L` with entry
        ``values`` (default: its own; edge dropout passes reweighted ones); message dropout iff
        ``generator``."""
        if values is None:
            a = a_t = self.adjacency
        else:
            a = csr_tensor(self.adj_crow, self.adj_col, values, self._shape)
            a_t = csr_tensor(self.adj_crow, self.adj_col, values[self.adj_perm], self._shape)
        outs, layer = [ego], ego
        p = self.config.message_dropout
        for w1, w2 in zip(self.w1, self.w2):
            side = spmm(a, layer, a_t)  # L E (L is a constant: gradients reach E only)
            layer = F.leaky_relu(w1(side + layer) + w2(side * layer), self.config.negative_slope)
            if generator is not None and p > 0:
                keep = (torch.rand(layer.shape, generator=generator, device=generator.device) >= p).to(layer.device)
                layer = layer * keep / (1 - p)
            outs.append(F.normalize(layer, p=2, dim=1) if self.config.normalize_layers else layer)
        return torch.cat(outs, dim=1)

    def _ego(self) -> torch.Tensor:
        return torch.cat([self.user_embedding.weight, self.item_embedding.weight])

    def _split(self, out: torch.Tensor) -> tuple:
        return out[: self.num_users], out[self.num_users:]

    def embeddings(self) -> tuple:
        """Inference: no dropout."""
        return self._split(self.propagate(self._ego()))

    def train_embeddings(self, batch: BPRBatch) -> tuple:
        if not self.training:
            return self.embeddings()
        generator = torch.Generator().manual_seed(batch.seed)
        values = None
        p = self.config.node_dropout
        if p > 0:  # drop each entry of L with probability p (a zero entry is a dropped edge)
            keep = (torch.rand(self.adj_values.shape, generator=generator, device=generator.device) >= p).to(
                self.adj_values.device)
            values = self.adj_values * keep / (1 - p)
        return self._split(self.propagate(self._ego(), values, generator))
