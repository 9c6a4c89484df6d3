r"""Attribute-to-representation maps for cold start (docs/coldstart.md).

A node that never met an interaction (a new movie, a new user) is known by its attribute values
only. An *attribute map* is a ridge regression, fitted after training and without changing the
model, from the attribute values of the warm nodes of a type to the representations the model
learned for them; a cold node's representation is the map applied to its own values. This is the
"attribute-to-feature mapping" of Gantner, Drumond, Freudenthaler, Rendle & Schmidt-Thieme,
"Learning Attribute-to-Feature Mappings for Cold-Start Recommendations" (ICDM 2010), with a
closed-form ridge fit.

Features of a node :math:`v` of type :math:`t` (:func:`attribute_features`), one row :math:`x_v`:

* degree 1: one binary column per attribute value (the edges from :math:`t` toward attribute node
  types, :func:`hetrec.models.coldstart.attribute_matrix`: a movie's genres, an artist's tags, a
  user's gender, age and occupation);
* degree 2 (``degree=2``): also one binary column per *pair* of values the node has together
  (Drama and Romance), for the pairs that occur on at least one fitted node: a polynomial map of
  degree 2, which lets a combination of values mean more than the sum of its parts;
* :math:`\log(1 + n_v)` and :math:`[n_v > 0]` with :math:`n_v` the number of values, and a
  constant 1.

Fit (:func:`ridge_fit`): with :math:`X` the rows of the fitted nodes and :math:`Z` their trained
representations,

.. math:: W = (X^\top X + \lambda I)^{-1} X^\top Z, \qquad \hat z_v = x_v W,

solved directly (Cholesky) when there are at most :data:`DENSE_MAX` columns, else by conjugate
gradients on the normal equations with a Jacobi preconditioner (the columns of Last.FM's 11,946 tags
would need a dense 11,946² system): memory :math:`O(\mathrm{nnz}(X) + F d)`.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

#: the most feature columns solved with dense normal equations (more use conjugate gradients)
DENSE_MAX = 4096
#: degree 2 refuses more pair columns than this (Last.FM's 11,946 tags make about a million pairs,
#: whose conjugate-gradient state alone would take gigabytes): use degree 1 there
MAX_PAIRS = 100_000


class TooManyPairs(ValueError):
    """Degree 2 asked for more than :data:`MAX_PAIRS` pair columns."""


def attribute_features(graph, ntype: str, degree: int = 1, sizes: dict | None = None,
                       pairs: np.ndarray | None = None, pair_rows: np.ndarray | None = None) -> tuple:
    """``(X, sizes, pairs)``: the feature rows (module docstring) of every ``ntype`` node of
    ``graph`` as a CSR matrix. ``sizes`` (attribute type -> number of values) lays the columns out
    as in another graph (:func:`~hetrec.models.coldstart.attribute_matrix`; an unknown value is a
    ``ValueError`` naming it). Degree 2: ``pairs`` (``(P, 2)`` value columns, sorted) fixes the pair
    columns; without it they are the pairs that occur on the nodes ``pair_rows`` (all nodes
    when ``None``), and a pair that occurs only elsewhere has no column."""
    from .coldstart import attribute_matrix

    if degree not in (1, 2):
        raise ValueError(f"degree must be 1 or 2, got {degree!r}")
    a, sizes = attribute_matrix(graph, ntype, sizes)
    a = sp.csr_matrix(a, dtype=np.float64)
    a.sort_indices()
    blocks = [a]
    if degree == 2:
        rows, first, second = _row_pairs(a)
        if pairs is None:
            chosen = np.ones(len(rows), bool) if pair_rows is None else np.isin(rows, pair_rows)
            pairs = (np.unique(np.stack([first[chosen], second[chosen]], 1), axis=0) if chosen.any()
                     else np.zeros((0, 2), np.int64))
            if len(pairs) > MAX_PAIRS:
                raise TooManyPairs(f"an attribute map of degree 2 for {ntype} nodes would have {len(pairs):,} pair "
                                 f"columns (at most {MAX_PAIRS:,}: the {a.shape[1]:,} attribute values are too many); "
                                 f"use degree 1 (cold_map_degree=1)")
        key = first * a.shape[1] + second
        known = pairs[:, 0] * a.shape[1] + pairs[:, 1]
        pos = np.searchsorted(known, key)
        hit = pos < len(known)
        hit[hit] = known[pos[hit]] == key[hit]
        blocks.append(sp.csr_matrix((np.ones(int(hit.sum())), (rows[hit], pos[hit])), shape=(a.shape[0], len(pairs))))
    n = np.asarray(a.sum(1)).ravel()
    blocks.append(sp.csr_matrix(np.stack([np.log1p(n), (n > 0).astype(np.float64), np.ones_like(n)], 1)))
    return sp.hstack(blocks, format="csr"), sizes, pairs


def _row_pairs(a: sp.csr_matrix) -> tuple:
    """``(row, col_i, col_j)`` of every pair ``col_i < col_j`` of nonzero columns in the same row
    of ``a`` (sorted indices), vectorised: each nonzero is paired with the later ones in its row."""
    length = np.diff(a.indptr)
    row_of = np.repeat(np.arange(a.shape[0]), length)
    end = np.repeat(a.indptr[1:], length)
    pos = np.arange(a.nnz)
    later = end - pos - 1  # partners of each nonzero: the rest of its row
    total = int(later.sum())
    left = np.repeat(pos, later)
    start = np.repeat(np.cumsum(later) - later, later)
    right = left + 1 + (np.arange(total) - start)
    return row_of[left], a.indices[left].astype(np.int64), a.indices[right].astype(np.int64)


def ridge_fit(x: sp.csr_matrix, z: np.ndarray, l2: float, *, dense_max: int = DENSE_MAX, tol: float = 1e-9,
              max_iter: int = 5000) -> np.ndarray:
    """``W = (XᵀX + λI)⁻¹ Xᵀ Z`` (module docstring) for ``x`` (n x F, sparse) and ``z`` (n x d):
    a dense solve for at most ``dense_max`` columns, else preconditioned conjugate gradients, one
    per column of ``z`` run side by side, to a relative residual of ``tol``."""
    if l2 <= 0:
        raise ValueError(f"the ridge weight must be > 0, got {l2!r}")
    x = sp.csr_matrix(x, dtype=np.float64)
    z = np.asarray(z, dtype=np.float64)
    b = np.asarray(x.T @ z)
    if x.shape[1] <= dense_max:
        gram = (x.T @ x).toarray()
        gram[np.diag_indices_from(gram)] += l2
        return np.linalg.solve(gram, b)
    xt = x.T.tocsr()
    inv_diag = 1.0 / (np.asarray(x.multiply(x).sum(0)).ravel() + l2)
    w = np.zeros_like(b)
    r = b.copy()
    y = inv_diag[:, None] * r
    p = y.copy()
    ry = (r * y).sum(0)
    goal = tol * np.linalg.norm(b, axis=0)
    for _ in range(max_iter):
        if np.all(np.linalg.norm(r, axis=0) <= goal):
            return w
        ap = np.asarray(xt @ (x @ p)) + l2 * p
        curv = (p * ap).sum(0)
        alpha = np.divide(ry, curv, out=np.zeros_like(ry), where=curv > 0)
        w += alpha * p
        r -= alpha * ap
        y = inv_diag[:, None] * r
        ry_new = (r * y).sum(0)
        beta = np.divide(ry_new, ry, out=np.zeros_like(ry), where=ry > 0)
        ry = ry_new
        p = y + beta * p
    raise RuntimeError(f"the attribute map's conjugate gradients did not converge in {max_iter} iterations "
                       f"(relative residual {np.max(np.linalg.norm(r, axis=0) / np.maximum(goal / tol, 1e-300)):.1e})")


def map_representations(graph, ntype: str, reps: np.ndarray, fit: np.ndarray, predict: np.ndarray, *,
                        degree: int = 1, l2: float = 10.0, sizes: dict | None = None) -> np.ndarray:
    """The attribute map's representations (``len(predict) x d``) of the ``ntype`` nodes
    ``predict`` of ``graph``, fitted on the nodes ``fit`` and their representations ``reps[fit]``
    (``reps``: one row per ``ntype`` node). No node to fit: zeros."""
    fit, predict = np.asarray(fit, dtype=np.int64), np.asarray(predict, dtype=np.int64)
    reps = np.asarray(reps, dtype=np.float64)
    if len(fit) == 0:
        return np.zeros((len(predict), reps.shape[1]))
    a, _, _ = attribute_features(graph, ntype, degree, sizes, pair_rows=fit)  # pair columns: the fitted nodes'
    w = ridge_fit(a[fit], reps[fit], l2)
    return np.asarray(a[predict] @ w)


def embedding_cold_start_scorer(model, graph, cold: dict, *, degree: int = 1, l2: float = 10.0):
    """The attribute map for any model with trained user and item embeddings
    (:meth:`~hetrec.models.base.Recommender.embeddings`, scores ``user · item``), such as BPR-MF or
    LightGCN, which read only interactions and cannot score a cold node themselves: each cold user's
    and item's embedding is the map's, fitted on the nodes of its type with training interactions.
    Revealed interactions of a cold node are not used (the embeddings are fixed vectors, one per
    training ID). ``graph`` is the training graph (its interactions say which nodes are fitted),
    possibly with the cold nodes' revealed edges; returns ``score_fn(users)`` as
    :meth:`~hetrec.models.base.Recommender.cold_start_scorer`. This is how the benchmark offers
    MTHGT's ``cold_init="map"`` to the baselines (docs/coldstart.md)."""
    import torch

    from ..data.schema import INTERACTS, ITEM, USER

    with torch.no_grad():
        emb = dict(zip((USER, ITEM), model.embeddings()))
    cpu = graph.to("cpu")
    users, items = cpu.edges(etype=INTERACTS)
    counts = {USER: np.bincount(users.numpy(), minlength=cpu.num_nodes(USER)),
              ITEM: np.bincount(items.numpy(), minlength=cpu.num_nodes(ITEM))}
    out = {}
    for t in (USER, ITEM):
        rep = emb[t].detach().cpu().double().numpy()
        if graph.num_nodes(t) != len(rep):
            raise ValueError(f"{model.name} has embeddings of {len(rep)} {t}s; the graph has {graph.num_nodes(t)}")
        ids = np.asarray(cold.get(t, np.zeros(0, np.int64)), dtype=np.int64)
        if len(ids):
            warm = np.ones(len(rep), bool)
            warm[ids] = False
            rep = rep.copy()
            rep[ids] = map_representations(cpu, t, rep, np.flatnonzero(warm & (counts[t] > 0)), ids,
                                           degree=degree, l2=l2)
        out[t] = torch.as_tensor(rep, dtype=emb[t].dtype)
    user, item = out[USER], out[ITEM]
    return lambda u: user[u.cpu()] @ item.T
