r"""LightGCN (He et al., SIGIR 2020): linear propagation on the user-item graph, layer mean.

With :math:`\tilde A = D^{-1/2} A D^{-1/2}` the symmetric-normalized adjacency of the bipartite
training graph (users and items as one node set, no self-loops) and :math:`E^{(0)}` the free
embeddings,

.. math::

    E^{(k+1)} = \tilde A E^{(k)}, \qquad
    E = \frac{1}{K + 1} \sum_{k=0}^{K} E^{(k)}, \qquad
    \hat y_{ui} = e_u^\top e_i ,

trained with BPR and the L2 term on the batch's layer-0 embeddings (paper Eq. 15).
"""
from __future__ import annotations

from dataclasses import dataclass

import scipy.sparse as sp
import torch

from ..nn.sparse import spmm
from ._bpr import BPRRecommender, csr_tensor, normalized_adjacency


@dataclass
class LightGCNConfig:
    #: size of the layer-0 embeddings (and of every layer)
    embedding_size: int = 64
    #: number K of propagation layers
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
    reg_weight: float = 1e-4
    #: standard deviation of the normal initialisation (the authors' code uses 0.1)
    init_std: float = 0.1


class LightGCN(BPRRecommender):
    """LightGCN. Defaults (:class:`LightGCNConfig`): ``embedding_size=64``, ``num_layers=3``,
    ``batch_size=2048``, ``reg_weight=1e-4``, layer-0 embeddings from N(0, 0.1²); layer weights
    :math:`\\alpha_k = 1/(K+1)` as in the paper. The paper's learning rate is 1e-3 (Adam), set
    in the trainer. No deviation from the paper's model; the whole graph is propagated for
    every batch, as in the authors' code.
    """

    name = "lightgcn"
    Config = LightGCNConfig

    def build(self, train: sp.csr_matrix) -> None:
        d = self.config.embedding_size
        self.user_embedding = torch.nn.Embedding(self.num_users, d)
        self.item_embedding = torch.nn.Embedding(self.num_items, d)
        # a buffer, so it moves with .to(); not saved (persistent=False): setup rebuilds it
        self.register_buffer("adjacency", csr_tensor(normalized_adjacency(train)), persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        torch.nn.init.normal_(self.user_embedding.weight, std=self.config.init_std)
        torch.nn.init.normal_(self.item_embedding.weight, std=self.config.init_std)

    def propagate(self, ego: torch.Tensor) -> torch.Tensor:
        """Layer mean of :math:`\\tilde A^k E^{(0)}`, k = 0..K, for stacked user+item rows."""
        total, layer = ego, ego
        for _ in range(self.config.num_layers):
            layer = spmm(self.adjacency, layer)  # constant, symmetric operator: CSR both ways
            total = total + layer
        return total / (self.config.num_layers + 1)

    def embeddings(self) -> tuple:
        ego = torch.cat([self.user_embedding.weight, self.item_embedding.weight])
        out = self.propagate(ego)
        return out[: self.num_users], out[self.num_users:]
