r"""Attribute baselines for cold start (docs/coldstart.md): what the attributes alone can do.

Both are closed-form, computed from the training matrix :math:`R` (users x items, binary) and
the attribute edges of the graph: :math:`A^I` (items x item-attribute values: a movie's genres, an
artist's tags) and :math:`A^U` (users x user-attribute values: gender, age, occupation, a user's
tags). Every attribute relation leaving a user or an item toward an attribute node type is one
block of columns (node types sorted by name); an edge counts once, whatever its ``count``.

* **Attribute MostPop** (``attr-mostpop``): popularity within attribute values. A cold item
  scores the sum, over its values :math:`a`, of the value's popularity, the number of training
  interactions on the items with :math:`a` (a genre's popularity),
  :math:`p_a = \sum_i A^I_{ia} |U_i|`; a cold item without attributes ranks last. A cold user
  scores item :math:`i` by the mean, over the user's values :math:`a`, of the share of the warm
  users with :math:`a` who interacted with :math:`i`, :math:`(A^{U\top} R)_{ai} / \sum_u A^U_{ua}`
  (a user without attributes: global popularity). Known users and items are scored as MostPop does.
* **Attribute profile** (``attr-profile``): content-based matching. Attribute vectors are
  weighted by :math:`\mathrm{idf}_a = \log(n / (1 + n_a))` and L2-normalised, :math:`x_i` for
  items, :math:`y_u` for users. A user's profile is the normalised sum of her training items'
  vectors, :math:`p_u \propto \sum_{i \in I_u} x_i`, and :math:`\hat y_{ui} = p_u \cdot x_i`
  (cold items, and every item in warm ranking); an item's profile is the normalised sum of its
  training users' vectors, :math:`q_i \propto \sum_{u \in U_i} y_u`, and a cold user scores
  :math:`\hat y_{ui} = y_u \cdot q_i`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from ..data.schema import ITEM, USER, attribute_ntypes
from .base import ClosedFormRecommender
from .classic import binary_matrix


def attribute_matrix(graph, ntype: str, sizes: dict | None = None) -> tuple:
    """``(A, sizes)``: the binary ``graph.num_nodes(ntype)`` x values matrix of ``ntype``'s edges
    toward attribute node types (one block of columns per type, sorted by name), and the number
    of values of each type. With ``sizes`` (the training graph's), the columns are laid out as
    then, and an attribute node past them is an unknown value: a ``ValueError`` naming it."""
    attrs = attribute_ntypes(graph)
    rels = sorted((et for et in graph.canonical_etypes if et[0] == ntype and et[2] in attrs), key=lambda e: e[2])
    types = sorted({et[2] for et in rels})
    if sizes is None:
        sizes = {t: graph.num_nodes(t) for t in types}
    elif set(types) - set(sizes):
        raise ValueError(f"attribute types {sorted(set(types) - set(sizes))} of {ntype}s were not in the training graph")
    offsets, start = {}, 0
    for t in sorted(sizes):
        offsets[t], start = start, start + sizes[t]
    rows, cols = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for et in rels:
        s, d = (x.numpy().astype(np.int64) for x in graph.edges(etype=et))
        if len(d) and d.max() >= sizes[et[2]]:
            raise ValueError(f"unknown {et[2]} value: node {int(d.max())} of relation {et[1]!r}; the training "
                             f"graph has {sizes[et[2]]} {et[2]} nodes")
        rows.append(s)
        cols.append(d + offsets[et[2]])
    r, c = np.concatenate(rows), np.concatenate(cols)
    a = sp.csr_matrix((np.ones(len(r), np.float32), (r, c)), shape=(graph.num_nodes(ntype), start))
    return binary_matrix(a), sizes


def _padded(m: sp.csr_matrix, shape) -> sp.csr_matrix:
    """``m`` with zero rows / columns added up to ``shape`` (new nodes have no training interactions)."""
    m = m.tocoo()
    return sp.csr_matrix((m.data, (m.row, m.col)), shape=shape)


def _row_normalised(m: sp.csr_matrix) -> sp.csr_matrix:
    norms = np.sqrt(np.asarray(m.multiply(m).sum(1)).ravel())
    return sp.csr_matrix(sp.diags(1.0 / np.maximum(norms, 1e-12)).dot(m))


def _row_mean(m: sp.csr_matrix) -> sp.csr_matrix:
    return sp.csr_matrix(sp.diags(1.0 / np.maximum(np.asarray(m.sum(1)).ravel(), 1)).dot(m))


def _dense_scorer(left: sp.csr_matrix, right_t: sp.csr_matrix, fallback=None):
    """``score_fn(users)``: rows of the sparse product ``left @ right_t`` as a float tensor; rows of
    ``left`` without entries take ``fallback`` (an item vector) when given."""
    empty = np.asarray(left.getnnz(axis=1) == 0)

    def score(users):
        ids = users.cpu().numpy()
        s = np.asarray((left[ids] @ right_t).todense(), dtype=np.float32)
        if fallback is not None:
            s[empty[ids]] = fallback
        return torch.from_numpy(s)

    return score


@dataclass
class AttributeBaselineConfig:
    """The attribute baselines have no hyper-parameters."""


class _AttributeBaseline(ClosedFormRecommender):
    Config = AttributeBaselineConfig

    def setup(self, split) -> None:
        self.train_matrix = binary_matrix(split.train)
        self.graph = split.train_graph
        _, self.user_sizes = attribute_matrix(self.graph, USER)
        _, self.item_sizes = attribute_matrix(self.graph, ITEM)
        self.popularity = torch.from_numpy(np.asarray(self.train_matrix.sum(0)).ravel().astype(np.float32))

    def _inputs(self, graph, cold: dict):
        """Training matrix, attribute matrices and cold masks over ``graph``'s nodes."""
        nu, ni = graph.num_nodes(USER), graph.num_nodes(ITEM)
        r = _padded(self.train_matrix, (nu, ni))
        a_u, _ = attribute_matrix(graph, USER, self.user_sizes)
        a_i, _ = attribute_matrix(graph, ITEM, self.item_sizes)
        masks = {}
        for t, n, trained in ((USER, nu, self.train_matrix.shape[0]), (ITEM, ni, self.train_matrix.shape[1])):
            mask = np.arange(n) >= trained
            if t in cold:
                mask[np.asarray(cold[t], dtype=np.int64)] = True
            masks[t] = mask
        # cold nodes' interactions are never read, even if the given matrix had any
        r = sp.csr_matrix(sp.diags((~masks[USER]).astype(np.float32)).dot(r).dot(
            sp.diags((~masks[ITEM]).astype(np.float32))))
        return r, a_u, a_i, masks


class AttributeMostPop(_AttributeBaseline):
    """Popularity within attribute values (module docstring)."""

    name = "attr-mostpop"

    def scores(self, users: torch.Tensor) -> torch.Tensor:
        return self.popularity.expand(len(users), -1).clone()

    def cold_start_scorer(self, graph, cold: dict):
        r, a_u, a_i, masks = self._inputs(graph, cold)
        pop = np.asarray(r.sum(0)).ravel().astype(np.float32)
        if masks[ITEM].any():
            p_a = pop @ a_i  # training interactions on the items of each value
            has = np.asarray(a_i.getnnz(axis=1) > 0)
            value = np.where(has, np.asarray(a_i @ p_a).ravel(), -1.0).astype(np.float32)
            item_score = np.where(masks[ITEM], value, pop).astype(np.float32)
            return lambda users: torch.from_numpy(item_score).expand(len(users), -1).clone()
        warm_users = sp.diags((~masks[USER]).astype(np.float32)).dot(a_u)
        n_a = np.asarray(warm_users.sum(0)).ravel()
        share = sp.csr_matrix(sp.diags(1.0 / np.maximum(n_a, 1)).dot(warm_users.T.tocsr() @ r))
        return _dense_scorer(_row_mean(a_u), share, fallback=pop)


class AttributeProfile(_AttributeBaseline):
    """Content-based matching of attribute profiles (module docstring)."""

    name = "attr-profile"

    @staticmethod
    def _idf_vectors(a: sp.csr_matrix) -> sp.csr_matrix:
        n_a = np.asarray(a.sum(0)).ravel()
        idf = np.log(a.shape[0] / (1.0 + n_a)).clip(min=0) + 1e-3
        return _row_normalised(sp.csr_matrix(a.dot(sp.diags(idf.astype(np.float32)))))

    def setup(self, split) -> None:
        super().setup(split)
        self._warm = self.cold_start_scorer(self.graph, {ITEM: np.zeros(0, np.int64)})

    def scores(self, users: torch.Tensor) -> torch.Tensor:
        return self._warm(users)

    def cold_start_scorer(self, graph, cold: dict):
        r, a_u, a_i, masks = self._inputs(graph, cold)
        if masks[USER].any() and USER in cold:
            y = self._idf_vectors(a_u)
            q = _row_normalised(sp.csr_matrix(r.T.tocsr() @ y))
            return _dense_scorer(y, q.T.tocsr())
        x = self._idf_vectors(a_i)
        p = _row_normalised(sp.csr_matrix(r @ x))
        return _dense_scorer(p, x.T.tocsr())


__all__ = ["AttributeMostPop", "AttributeProfile", "attribute_matrix"]
