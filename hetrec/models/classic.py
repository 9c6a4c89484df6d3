r"""Closed-form baselines: MostPop and item-based k-nearest-neighbours (cosine).

Both are computed once in :meth:`setup` from the training matrix :math:`R` (users x items,
binary) and have no parameters (``trainable = False``).

* **MostPop** scores item :math:`i` by its number of training users, the same for everyone:
  :math:`\hat y_{ui} = \sum_v R_{vi}`.
* **ItemKNN** (Sarwar et al. 2001; Deshpande & Karypis 2004) with cosine similarity

  .. math::

      s_{ij} = \frac{r_i^\top r_j}{\|r_i\| \|r_j\| + h}, \qquad
      \hat y_{uj} = \sum_{i \in I_u \cap N_k(j)} s_{ij},

  where :math:`r_i` is column :math:`i` of :math:`R`, :math:`h` the shrink term, and
  :math:`N_k(j)` the :math:`k` items most similar to :math:`j` (excluding :math:`j`, with
  :math:`s_{ij} > 0`; ties to the lower item index). The item x item matrix is built from
  sparse co-occurrence products over chunks of items and kept sparse (at most :math:`k`
  entries per column), so no dense :math:`|I| \times |I|` array is ever allocated.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from .base import Recommender


def _binary_train(split) -> sp.csr_matrix:
    r = sp.csr_matrix(split.train, dtype=np.float32)
    r.sum_duplicates()
    r.data[:] = 1.0
    return r


class _ClosedForm(Recommender):
    """No parameters, no training: everything happens in :meth:`setup`."""

    trainable = False

    def train_batches(self, generator: torch.Generator):
        return iter(())

    def loss(self, batch):
        raise RuntimeError(f"{self.name} is closed-form: it has no loss to train")

    def prepare_scoring(self) -> None:  # scores are computed from what setup stored
        pass


@dataclass
class MostPopConfig:
    """MostPop has no hyper-parameters."""


class MostPop(_ClosedForm):
    """Most popular items first: the number of training users of an item, for every user.
    Ties are ordered by :func:`hetrec.eval.topn_metrics` (lower item index first)."""

    name = "mostpop"
    Config = MostPopConfig

    def setup(self, split) -> None:
        r = _binary_train(split)
        self.popularity = torch.from_numpy(np.asarray(r.sum(0), dtype=np.float32).ravel())

    def scores(self, users: torch.Tensor) -> torch.Tensor:
        return self.popularity.unsqueeze(0).expand(len(users), -1).clone()


@dataclass
class ItemKNNConfig:
    #: neighbours kept per item (the k most similar items)
    k: int = 100
    #: shrink term h added to the cosine denominator (0 = plain cosine)
    shrink: float = 0.0
    #: memory knob of setup — co-occurrence products computed per chunk of items (about)
    block_entries: int = 2**24


class ItemKNN(_ClosedForm):
    """Item-based kNN with cosine similarity. Defaults (:class:`ItemKNNConfig`): ``k=100``,
    ``shrink=0``. Builds a sparse item x item matrix ``W`` with ``W[i, j] = s_ij`` for
    ``i`` in ``N_k(j)``; ``scores(users) = R[users] @ W``."""

    name = "itemknn"
    Config = ItemKNNConfig

    def setup(self, split) -> None:
        if self.config.k < 1:
            raise ValueError(f"k must be positive, got {self.config.k}")
        self.train_matrix = _binary_train(split)
        self.similarity = cosine_topk(self.train_matrix, self.config.k, self.config.shrink,
                                      self.config.block_entries)

    def scores(self, users: torch.Tensor) -> torch.Tensor:
        rows = self.train_matrix[np.asarray(users, dtype=np.int64)]
        return torch.from_numpy(np.asarray((rows @ self.similarity).todense(), dtype=np.float32))


def cosine_topk(r: sp.csr_matrix, k: int, shrink: float = 0.0,
                block_entries: int = 2**24) -> sp.csr_matrix:
    """Sparse ``W`` (items x items): column ``j`` holds the ``k`` largest positive cosine
    similarities ``s_ij``, ``i != j``, ties to the lower ``i``.

    Co-occurrences ``R^T R`` are computed as sparse products for chunks of items (at most
    about ``block_entries`` products per chunk); every entry is non-zero, so sparse data
    stays cheap. The matrix is symmetric, so row ``j`` of a chunk lists the candidates
    ``i`` of column ``j``; one lexsort per chunk ranks them.
    """
    r = sp.csr_matrix(r, dtype=np.float64)
    num_items = r.shape[1]
    rt = r.T.tocsr()  # items x users
    norms = np.sqrt(np.asarray(rt.multiply(rt).sum(1)).ravel())
    # work of item j's row of R^T R: the sum of the degrees of its users
    user_degree = np.diff(r.indptr).astype(np.float64)
    work = rt @ user_degree
    rows, cols, vals = [], [], []
    start = 0
    cum = np.r_[0.0, np.cumsum(work)]
    while start < num_items:
        # the longest run of items from ``start`` whose work fits the block (at least one item)
        stop = int(np.searchsorted(cum, cum[start] + block_entries, side="right")) - 1
        stop = min(max(stop, start + 1), num_items)
        co = (rt[start:stop] @ r).tocoo()  # chunk items j x all items i: |users(j) ∩ users(i)|
        j = co.row.astype(np.int64) + start
        i = co.col.astype(np.int64)
        v = co.data / (norms[j] * norms[i] + shrink)
        keep = (i != j) & (v > 0)
        j, i, v = j[keep], i[keep], v[keep]
        order = np.lexsort((i, -v, j))  # by target j, then similarity down, then lower i
        j, i, v = j[order], i[order], v[order]
        first = np.r_[0, np.flatnonzero(np.diff(j)) + 1]
        rank = np.arange(len(j)) - np.repeat(first, np.diff(np.r_[first, len(j)]))
        top = rank < k
        rows.append(i[top])
        cols.append(j[top])
        vals.append(v[top].astype(np.float32))
        start = stop
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(num_items, num_items))
