r"""What the BPR-trained baselines (BPR-MF, LightGCN, NGCF) share: triples, negatives, loss.

BPR (Rendle et al. 2009) minimises, over triples :math:`(u, i, j)` with :math:`i` a training item
of :math:`u` and :math:`j` an item :math:`u` has not interacted with in training,

.. math::

    L = \frac{1}{|B|} \sum_{(u,i,j) \in B} -\ln \sigma(\hat y_{ui} - \hat y_{uj})
        + \lambda \frac{1}{2|B|} \sum_{(u,i,j) \in B}
          \big(\|e_u^{(0)}\|^2 + \|e_i^{(0)}\|^2 + \|e_j^{(0)}\|^2\big),

the L2 term on the layer-0 (free) embeddings of the batch, as in LightGCN's code and RecBole.

One epoch visits every training interaction once, in an order drawn from the trainer's
``generator``; each positive gets one negative (``num_negatives`` in the model's config: k)
drawn uniformly from the items that are not the user's training items: the batches are
:class:`hetrec.batching.BPRTripleBatches`.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from ..batching import BPRBatch, BPRTripleBatches
from ..nn.losses import dot_scores, full_softmax_loss, ials_loss, ials_user_weights, ranking_loss, squared_norm_sum
from ..nn.sparse import csr_parts
from ..nn.sparse import csr_tensor as _csr
from ..sampling import ComplementNegativeSampler as NegativeSampler  # noqa: F401 - its earlier home
from .base import LossOutput, Recommender


class BPRRecommender(Recommender):
    """Base of the BPR-trained baselines. Subclasses build their parameters in
    :meth:`build` and implement :meth:`embeddings` (and :meth:`layer0` for the L2 term)."""

    ddp_find_unused_parameters = False  # every parameter takes part in every step

    def setup(self, split) -> None:
        train = sp.csr_matrix(split.train)
        train.sum_duplicates()
        train.data = np.ones_like(train.data, dtype=np.float32)
        self.num_users, self.num_items = train.shape
        self.batch_builder = BPRTripleBatches(train, self.config.batch_size,
                                              getattr(self.config, "num_negatives", 1))
        # 1 / each user's number of training items: the weight of its all-item term under loss "ials"
        self.register_buffer("_ials_user_weight", ials_user_weights(train), persistent=False)
        self.build(train)
        self.invalidate_scoring()

    def build(self, train: sp.csr_matrix) -> None:
        raise NotImplementedError

    def layer0(self) -> tuple:
        """The free (layer-0) user and item embedding tables, regularised by the L2 term."""
        return self.user_embedding.weight, self.item_embedding.weight

    def train_embeddings(self, batch: BPRBatch) -> tuple:
        """``(user_emb, item_emb)`` used for the loss of ``batch`` (default: :meth:`embeddings`;
        NGCF overrides it to apply its dropouts with the batch's seed)."""
        return self.embeddings()

    def loss(self, batch: BPRBatch) -> LossOutput:
        user_emb, item_emb = self.train_embeddings(batch)
        u = user_emb[batch.users]
        pos = (u * item_emb[batch.pos_items]).sum(1)
        # (B, k) negatives per positive; B may be 0 (a data-parallel rank's share of a short batch)
        neg_items = batch.neg_items.view(-1, max(int(getattr(self.config, "num_negatives", 1)), 1))
        kind, temperature = getattr(self.config, "loss", "bpr"), getattr(self.config, "temperature", 1.0)
        if kind == "full-softmax":  # against every item: the sampled negatives only enter the L2 term
            bpr = full_softmax_loss(u, item_emb, batch.pos_items, temperature)
        elif kind == "ials":  # likewise
            bpr = ials_loss(u, item_emb, batch.pos_items, self.config.ials_alpha, self._ials_user_weight[batch.users])
        else:
            bpr = ranking_loss(pos, dot_scores(u, item_emb, neg_items), kind, temperature)
        user0, item0 = self.layer0()
        # with k negatives, their mean squared norm stands for the one negative of the paper
        reg = (squared_norm_sum(user0, batch.users) + squared_norm_sum(item0, batch.pos_items)
               + squared_norm_sum(item0, neg_items) / neg_items.shape[1]) / (2 * max(len(batch.users), 1))
        loss = bpr + self.config.reg_weight * reg
        return LossOutput(loss, {"bpr": float(bpr.detach()), "reg": float(reg.detach())})


def normalized_adjacency(train: sp.csr_matrix) -> sp.csr_matrix:
    r"""The symmetric-normalized bipartite adjacency :math:`D^{-1/2} A D^{-1/2}` as a float32
    ``scipy.sparse`` CSR matrix of size ``(U + I) x (U + I)``, users first, where
    :math:`A = \begin{pmatrix} 0 & R \\ R^\top & 0 \end{pmatrix}` and ``R`` is the binary
    training matrix. Isolated nodes (degree 0) get an all-zero row and column.
    """
    num_users, num_items = train.shape
    r = sp.csr_matrix(train, dtype=np.float32)
    r.data[:] = 1.0
    a = sp.bmat([[sp.csr_matrix((num_users, num_users), dtype=np.float32), r],
                 [r.T, sp.csr_matrix((num_items, num_items), dtype=np.float32)]], format="csr")
    a.sum_duplicates()
    a.sort_indices()
    degree = np.asarray(a.sum(1), dtype=np.float64).ravel()
    inv_sqrt = np.zeros_like(degree)
    inv_sqrt[degree > 0] = degree[degree > 0] ** -0.5
    coo = a.tocoo()
    values = (inv_sqrt[coo.row] * coo.data * inv_sqrt[coo.col]).astype(np.float32)
    return sp.csr_matrix((values, a.indices, a.indptr), shape=a.shape)


def csr_tensor(matrix: sp.csr_matrix) -> torch.Tensor:
    """A ``scipy.sparse`` CSR matrix as a torch CSR tensor (int64 indices)."""
    crow, col, values, _ = csr_parts(matrix)
    return _csr(crow, col, values, matrix.shape)
