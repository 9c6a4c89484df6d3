r"""Closed-form neighbourhood baselines: MostPop, item-based k-nearest-neighbours and RP3beta.

All are computed once in :meth:`setup` from the training matrix :math:`R` (users x items,
binary) and have no parameters (``trainable = False``).

* **MostPop** scores item :math:`i` by its number of training users, the same for everyone:
  :math:`\hat y_{ui} = \sum_v R_{vi}`.
* **ItemKNN** (Sarwar et al. 2001; Deshpande & Karypis 2004), with the tunable similarities and
  feature weightings of Dacrema et al., "Are we really making much progress?" (RecSys 2019).
  The columns :math:`r_i` of :math:`R` are first weighted (``weighting``): ``"none"``;
  ``"tfidf"``, :math:`r_{ui} \cdot \log(|I| / (1 + |I_u|))` (items are the documents, users the
  terms, so heavy users count less); ``"bm25"``, the same idf times
  :math:`(K_1 + 1) / (K_1 ((1 - b) + b |U_i| / \overline{|U|}) + 1)` with :math:`K_1 = 1.2, b = 0.75`.
  With :math:`c_{ij} = r_i^\top r_j`, :math:`n_i = \|r_i\|^2` and shrink term :math:`h`:

  .. math::

      s_{ij} = \frac{c_{ij}}{\sqrt{n_i n_j} + h} \;\text{(cosine)}, \quad
      \frac{c_{ij}}{n_i^{\alpha} n_j^{1 - \alpha} + h} \;\text{(asymmetric cosine)}, \quad
      \frac{c_{ij}}{n_i + n_j - c_{ij} + h} \;\text{(Jaccard / Tanimoto)},

  .. math::

      \hat y_{uj} = \sum_{i \in I_u \cap N_k(j)} s_{ij},

  where :math:`i` is an item of the user's history, :math:`j` the candidate and :math:`N_k(j)`
  the :math:`k` items most similar to :math:`j` (excluding :math:`j`, with :math:`s_{ij} > 0`;
  ties to the lower item index). The defaults (cosine, no weighting, ``k=100``, no shrink) are
  hetrec's original item-kNN; ``hetrec tune`` searches the rest.
* **RP3beta** (Paudel, Christoffel, Newell & Bernstein, "Updatable, accurate, diverse, and scalable
  recommendations for interactive applications", ACM TiiS 2017): a three-step random walk
  item → user → item, with transition probabilities raised to :math:`\alpha` and the
  arrival item's popularity :math:`|U_j|` penalised by :math:`\beta`,

  .. math::

      W_{ij} = \frac{\sum_u (R_{ui} / |U_i|)^{\alpha} (R_{uj} / |I_u|)^{\alpha}}{|U_j|^{\beta}},
      \qquad \hat y_{uj} = \sum_{i \in I_u} W_{ij},

  keeping in each row :math:`i` the :math:`k` largest entries (:math:`j \ne i`); with
  ``normalize=True`` each kept row is scaled to sum 1 (as Dacrema et al.'s implementation
  offers). :math:`\alpha = 1, \beta = 0` is P³, the plain three-step walk.

Item x item matrices are built from sparse co-occurrence products over chunks of items and kept
sparse (at most :math:`k` entries per item), so no dense :math:`|I| \times |I|` array is ever
allocated (:func:`topk_products`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from .base import ClosedFormRecommender


def binary_matrix(m) -> sp.csr_matrix:
    """``m`` (users x items) as a float32 CSR matrix with one 1 per stored pair."""
    r = sp.csr_matrix(m, dtype=np.float32)
    r.sum_duplicates()
    r.data[:] = 1.0
    return r


def _binary_train(split) -> sp.csr_matrix:
    return binary_matrix(split.train)


@dataclass
class MostPopConfig:
    """MostPop has no hyper-parameters."""


class MostPop(ClosedFormRecommender):
    """Most popular items first: the number of training users of an item, for every user.
    Ties are ordered by :func:`hetrec.eval.topn_metrics` (lower item index first)."""

    name = "mostpop"
    Config = MostPopConfig

    def setup(self, split) -> None:
        r = _binary_train(split)
        self.popularity = torch.from_numpy(np.asarray(r.sum(0), dtype=np.float32).ravel())

    def scores(self, users: torch.Tensor) -> torch.Tensor:
        return self.popularity.unsqueeze(0).expand(len(users), -1).clone()

    def scores_from_history(self, history) -> torch.Tensor:
        """Popularity, whatever the history."""
        return self.popularity.unsqueeze(0).expand(history.shape[0], -1).clone()


#: similarities and feature weightings of :class:`ItemKNN`
SIMILARITIES = ("cosine", "asymmetric", "jaccard")
WEIGHTINGS = ("none", "tfidf", "bm25")


@dataclass
class ItemKNNConfig:
    #: neighbours kept per item (the k most similar items)
    k: int = 100
    #: shrink term h added to the similarity's denominator (0 = none)
    shrink: float = 0.0
    #: "cosine", "asymmetric" (asymmetric cosine) or "jaccard" (Tanimoto on weighted columns)
    similarity: str = "cosine"
    #: α of the asymmetric cosine (0.5 = cosine)
    asymmetric_alpha: float = 0.5
    #: the weighting of the interaction matrix before the similarity ("none", "tfidf" or "bm25")
    weighting: str = "none"
    #: memory knob of setup — co-occurrence products computed per chunk of items (about)
    block_entries: int = 2**24


class _SparseItemItem(ClosedFormRecommender):
    """A sparse item x item matrix ``W`` built in :meth:`setup`; ``scores(users) = R[users] @ W``."""

    def setup(self, split) -> None:
        self.train_matrix = _binary_train(split)
        self.similarity = self.item_item(self.train_matrix)

    def item_item(self, r: sp.csr_matrix) -> sp.csr_matrix:
        raise NotImplementedError

    def scores(self, users: torch.Tensor) -> torch.Tensor:
        return self.scores_from_history(self.train_matrix[np.asarray(users.cpu(), dtype=np.int64)])

    def scores_from_history(self, history) -> torch.Tensor:
        """``history @ W``: a new user's row scored like a training user's."""
        rows = binary_matrix(history)
        return torch.from_numpy(np.asarray((rows @ self.similarity).todense(), dtype=np.float32))


class ItemKNN(_SparseItemItem):
    """Item-based kNN. Defaults (:class:`ItemKNNConfig`): cosine, no weighting, ``k=100``,
    ``shrink=0``. Builds a sparse item x item matrix ``W`` with ``W[i, j] = s_ij`` for
    ``i`` in ``N_k(j)``; ``scores(users) = R[users] @ W``."""

    name = "itemknn"
    Config = ItemKNNConfig
    _CHOICES = {"similarity": SIMILARITIES, "weighting": WEIGHTINGS}

    def item_item(self, r: sp.csr_matrix) -> sp.csr_matrix:
        c = self.config
        return similarity_topk(weight_interactions(r, c.weighting), c.k, c.shrink, c.similarity,
                               c.asymmetric_alpha, c.block_entries)


@dataclass
class RP3betaConfig:
    #: exponent α of the transition probabilities
    alpha: float = 1.0
    #: popularity penalty β of the arrival item
    beta: float = 0.5
    #: entries kept per item (row) of W
    k: int = 100
    #: scale each kept row of W to sum 1
    normalize: bool = False
    #: memory knob of setup — co-occurrence products computed per chunk of items (about)
    block_entries: int = 2**24


class RP3beta(_SparseItemItem):
    """RP3beta. Defaults (:class:`RP3betaConfig`): ``alpha=1``, ``beta=0.5``, ``k=100``, no row
    normalisation; the values are starting points for ``hetrec tune``, which searches all four."""

    name = "rp3beta"
    Config = RP3betaConfig

    def item_item(self, r: sp.csr_matrix) -> sp.csr_matrix:
        c = self.config
        r = sp.csr_matrix(r, dtype=np.float64)
        user_degree = np.diff(r.indptr).astype(np.float64)
        rt = r.T.tocsr()
        item_degree = np.diff(rt.indptr).astype(np.float64)
        p_ui = sp.csr_matrix((_inverse(user_degree)[np.repeat(np.arange(r.shape[0]), np.diff(r.indptr))] ** c.alpha,
                              r.indices, r.indptr), shape=r.shape)
        p_iu = sp.csr_matrix((_inverse(item_degree)[np.repeat(np.arange(rt.shape[0]), np.diff(rt.indptr))] ** c.alpha,
                              rt.indices, rt.indptr), shape=rt.shape)
        penalty = np.zeros_like(item_degree)
        penalty[item_degree > 0] = item_degree[item_degree > 0] ** -c.beta
        w = topk_products(p_iu, p_ui, c.k, lambda rows, cols, v: v * penalty[cols], c.block_entries)
        if c.normalize:
            sums = np.asarray(w.sum(1)).ravel()
            w = sp.diags(_inverse(sums).astype(np.float32)) @ w
        return sp.csr_matrix(w, dtype=np.float32)


def _inverse(x: np.ndarray) -> np.ndarray:
    out = np.zeros_like(x, dtype=np.float64)
    out[x > 0] = 1.0 / x[x > 0]
    return out


def weight_interactions(r: sp.csr_matrix, weighting: str = "none", k1: float = 1.2, b: float = 0.75) -> sp.csr_matrix:
    """``R`` (users x items) with each entry weighted as the item-kNN docstring says: items are
    the documents and users the terms, so ``idf_u = log(|I| / (1 + |I_u|))`` (at least 0)."""
    r = sp.csr_matrix(r, dtype=np.float64)
    if weighting == "none":
        return r
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {', '.join(WEIGHTINGS)}, got {weighting!r}")
    num_items = r.shape[1]
    user_degree = np.diff(r.indptr)
    idf = np.maximum(np.log(num_items / (1.0 + user_degree)), 0.0)
    coo = r.tocoo()
    data = coo.data * idf[coo.row]
    if weighting == "bm25":
        item_degree = np.bincount(coo.col, minlength=num_items).astype(np.float64)
        avg = item_degree[item_degree > 0].mean() if (item_degree > 0).any() else 1.0
        length = (1.0 - b) + b * item_degree[coo.col] / avg
        data = data * (k1 + 1.0) / (k1 * length + coo.data)
    return sp.csr_matrix((data, (coo.row, coo.col)), shape=r.shape)


def similarity_topk(r: sp.csr_matrix, k: int, shrink: float = 0.0, similarity: str = "cosine",
                    asymmetric_alpha: float = 0.5, block_entries: int = 2**24) -> sp.csr_matrix:
    """Sparse ``W`` (items x items): column ``j`` holds the ``k`` largest positive similarities
    ``s_ij`` (see the module docstring), ``i != j``, ties to the lower ``i``. ``r`` may be weighted."""
    if similarity not in SIMILARITIES:
        raise ValueError(f"similarity must be one of {', '.join(SIMILARITIES)}, got {similarity!r}")
    r = sp.csr_matrix(r, dtype=np.float64)
    rt = r.T.tocsr()  # items x users
    sq = np.asarray(rt.multiply(rt).sum(1)).ravel()  # n_i = ||r_i||^2
    if similarity == "cosine":
        norms = np.sqrt(sq)
        value = lambda j, i, c: c / (norms[j] * norms[i] + shrink)
    elif similarity == "asymmetric":
        a = float(asymmetric_alpha)
        value = lambda j, i, c: c / (sq[i] ** a * sq[j] ** (1.0 - a) + shrink)
    else:
        value = lambda j, i, c: c / (sq[i] + sq[j] - c + shrink)
    # rows j (the candidate), columns i (the history item): row j of the product is column j of W
    return topk_products(rt, r, k, value, block_entries).T.tocsr()


def cosine_topk(r: sp.csr_matrix, k: int, shrink: float = 0.0,
                block_entries: int = 2**24) -> sp.csr_matrix:
    """:func:`similarity_topk` with the cosine similarity (hetrec's original item-kNN)."""
    return similarity_topk(r, k, shrink, "cosine", block_entries=block_entries)


def topk_products(left: sp.csr_matrix, right: sp.csr_matrix, k: int, value=None,
                  block_entries: int = 2**24) -> sp.csr_matrix:
    """Row ``a`` of the result: the ``k`` largest positive entries ``b != a`` of row ``a`` of
    ``value(a, b, left @ right)`` (ties to the lower ``b``), as a float32 CSR matrix.

    ``left`` is items x users and ``right`` users x items. The product is computed as sparse
    products for chunks of rows (at most about ``block_entries`` products per chunk: the work of
    row ``a`` is the summed degree of its users), every stored entry is non-zero, and one lexsort
    per chunk ranks the candidates, so no dense items x items array is allocated.
    """
    if k < 1:
        raise ValueError(f"k must be positive, got {k}")
    left = sp.csr_matrix(left, dtype=np.float64)
    right = sp.csr_matrix(right, dtype=np.float64)
    num_rows = left.shape[0]
    binary_left = sp.csr_matrix((np.ones_like(left.data), left.indices, left.indptr), shape=left.shape)
    work = binary_left @ np.diff(right.indptr).astype(np.float64)
    cum = np.r_[0.0, np.cumsum(work)]
    rows, cols, vals = [], [], []
    start = 0
    while start < num_rows:
        # the longest run of rows from ``start`` whose work fits the block (at least one row)
        stop = int(np.searchsorted(cum, cum[start] + block_entries, side="right")) - 1
        stop = min(max(stop, start + 1), num_rows)
        co = (left[start:stop] @ right).tocoo()
        a = co.row.astype(np.int64) + start
        b = co.col.astype(np.int64)
        v = co.data if value is None else value(a, b, co.data)
        keep = (a != b) & (v > 0)
        a, b, v = a[keep], b[keep], v[keep]
        order = np.lexsort((b, -v, a))  # by row, then value down, then lower column
        a, b, v = a[order], b[order], v[order]
        first = np.r_[0, np.flatnonzero(np.diff(a)) + 1] if len(a) else np.zeros(0, dtype=np.int64)
        rank = np.arange(len(a)) - np.repeat(first, np.diff(np.r_[first, len(a)]))
        top = rank < k
        rows.append(a[top])
        cols.append(b[top])
        vals.append(v[top].astype(np.float32))
        start = stop
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(num_rows, right.shape[1]))
