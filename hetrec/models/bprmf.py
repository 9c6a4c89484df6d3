r"""BPR-MF: matrix factorisation trained with the BPR loss (Rendle et al., UAI 2009).

.. math::

    \hat y_{ui} = e_u^\top e_i

with free embeddings :math:`e_u, e_i \in \mathbb{R}^d`, trained on BPR triples with the L2 term
on the batch's embeddings (see :mod:`hetrec.models._bpr`).
"""
from __future__ import annotations

from dataclasses import dataclass

import scipy.sparse as sp
import torch

from ._bpr import BPRRecommender


@dataclass
class BPRMFConfig:
    #: size d of user and item embeddings
    embedding_size: int = 64
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
    #: weight λ of the L2 term on the batch's embeddings (0, as in RecBole's BPR, since the small
    #: initialisation regularises; chosen on Last.FM fold-0 validation, docs/results.md)
    reg_weight: float = 0.0
    #: standard deviation of the normal initialisation (0.01, about Xavier's for these tables)
    init_std: float = 0.01


class BPRMF(BPRRecommender):
    """BPR-MF. Defaults (:class:`BPRMFConfig`): ``embedding_size=64``, ``batch_size=2048``,
    no L2 term, embeddings initialised from N(0, 0.01²), trained with Adam at lr 1e-3, patience 10
    (:data:`hetrec.models.TRAINING`): on Last.FM fold-0 validation NDCG@10 0.1269 against 0.1103
    with N(0, 0.1²) (0.1064 with the earlier lr 5e-3, patience 5).

    Deviation from Rendle et al.: the regulariser is the batch-mean L2 of the embeddings in the
    batch, with one weight for users and items (the paper has separate λ's and applies them
    per SGD step); mini-batches instead of single-triple SGD.
    """

    name = "bprmf"
    Config = BPRMFConfig

    def build(self, train: sp.csr_matrix) -> None:
        d = self.config.embedding_size
        self.user_embedding = torch.nn.Embedding(self.num_users, d)
        self.item_embedding = torch.nn.Embedding(self.num_items, d)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        torch.nn.init.normal_(self.user_embedding.weight, std=self.config.init_std)
        torch.nn.init.normal_(self.item_embedding.weight, std=self.config.init_std)

    def embeddings(self) -> tuple:
        return self.user_embedding.weight, self.item_embedding.weight
