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
drawn uniformly from the items that are not the user's training items. Negatives are sampled
exactly from that complement (no rejection loop): with the user's training items sorted, the
r-th free item is found by one ``searchsorted``.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
import torch

from ..nn.losses import dot_scores, ranking_loss, squared_norm_sum
from ..nn.sparse import csr_parts
from ..nn.sparse import csr_tensor as _csr
from .base import LossOutput, Recommender


class BPRBatch(NamedTuple):
    """One batch of BPR triples; ``seed`` (drawn from the epoch generator) drives any
    randomness inside :meth:`Recommender.loss` (NGCF's dropout), so ``generator`` stays the
    only source of randomness of training."""

    users: torch.Tensor
    pos_items: torch.Tensor
    neg_items: torch.Tensor
    seed: int


class NegativeSampler:
    """Uniform negatives per user from the items outside the user's training items."""

    def __init__(self, train: sp.csr_matrix):
        train = sp.csr_matrix(train)
        train.sum_duplicates()
        train.sort_indices()
        self.num_items = train.shape[1]
        self.indptr = torch.from_numpy(train.indptr.astype(np.int64))
        degree = np.diff(train.indptr)
        self.num_free = torch.from_numpy((self.num_items - degree).astype(np.int64))
        # t_j - j for the user's j-th training item (j counted within the row) is
        # non-decreasing within a row; offsetting rows by (num_items + 1) makes it global
        rows = np.repeat(np.arange(train.shape[0], dtype=np.int64), degree)
        within = np.arange(train.nnz, dtype=np.int64) - train.indptr[:-1].astype(np.int64)[rows]
        self.keys = torch.from_numpy(rows * (self.num_items + 1) + train.indices - within)

    def sample(self, users: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        free = self.num_free[users]
        if (free == 0).any():
            raise ValueError("a user has interacted with every item: no negative exists")
        u = torch.rand(len(users), generator=generator, dtype=torch.float64, device=generator.device)
        r = torch.minimum((u * free).long(), free - 1)  # r-th free item of the user, 0-based
        # the r-th free item is r + (number of training items t_j with t_j - j <= r)
        below = torch.searchsorted(self.keys, users * (self.num_items + 1) + r, right=True)
        return r + below - self.indptr[users]


class BPRRecommender(Recommender):
    """Base of the BPR-trained baselines. Subclasses build their parameters in
    :meth:`build` and implement :meth:`embeddings` (and :meth:`layer0` for the L2 term)."""

    ddp_find_unused_parameters = False  # every parameter takes part in every step

    def setup(self, split) -> None:
        train = sp.csr_matrix(split.train)
        train.sum_duplicates()
        train.data = np.ones_like(train.data, dtype=np.float32)
        self.num_users, self.num_items = train.shape
        self.sampler = NegativeSampler(train)
        coo = train.tocoo()
        users, items = coo.row.astype(np.int64), coo.col.astype(np.int64)
        # a user with every item in train has no negative; such users get no triples
        keep = self.sampler.num_free.numpy()[users] > 0
        self.pos_users = torch.from_numpy(users[keep])
        self.pos_items = torch.from_numpy(items[keep])
        self.build(train)
        self.invalidate_scoring()

    def build(self, train: sp.csr_matrix) -> None:
        raise NotImplementedError

    def train_batches(self, generator: torch.Generator):
        n = len(self.pos_users)
        order = torch.randperm(n, generator=generator, device=generator.device)
        for start in range(0, n, self.config.batch_size):
            idx = order[start:start + self.config.batch_size]
            users = self.pos_users[idx]
            k = getattr(self.config, "num_negatives", 1)
            if k < 1:
                raise ValueError(f"num_negatives must be at least 1, got {k}")
            neg = self.sampler.sample(users.repeat_interleave(k), generator)
            if k > 1:
                neg = neg.view(-1, k)
            seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
            yield BPRBatch(users, self.pos_items[idx], neg, seed)

    def shard_batch(self, batch: BPRBatch, rank: int, world: int) -> BPRBatch:
        """Every ``world``-th triple from ``rank`` (the seed, which drives NGCF's dropout over the
        whole graph, is shared)."""
        return BPRBatch(batch.users[rank::world], batch.pos_items[rank::world], batch.neg_items[rank::world],
                        batch.seed)

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
        neg_items = batch.neg_items.view(len(batch.users), -1)  # (B, k) negatives per positive
        neg = dot_scores(u, item_emb, neg_items)
        bpr = ranking_loss(pos, neg, getattr(self.config, "loss", "bpr"), getattr(self.config, "temperature", 1.0))
        user0, item0 = self.layer0()
        # with k negatives, their mean squared norm stands for the one negative of the paper
        reg = (squared_norm_sum(user0, batch.users) + squared_norm_sum(item0, batch.pos_items)
               + squared_norm_sum(item0, neg_items) / neg_items.shape[1]) / (2 * len(batch.users))
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
