r"""Full-ranking top-N metrics (docs/evaluation.md), vectorised and chunked over users.

For a test user :math:`u` with test items :math:`R_u` and top-N list :math:`\hat R_{u,N}`
(every item scored, the user's train and validation items excluded):

.. math::

    P@N = \frac{|R_u \cap \hat R_{u,N}|}{N}, \qquad
    R@N = \frac{|R_u \cap \hat R_{u,N}|}{|R_u|}, \qquad
    HR@N = [\,|R_u \cap \hat R_{u,N}| \ge 1\,],

    NDCG@N = \frac{\sum_{r=1}^{N} [\hat R_{u,N}(r) \in R_u] / \log_2(r + 1)}
                  {\sum_{r=1}^{\min(|R_u|, N)} 1 / \log_2(r + 1)}.

Each metric is averaged over the users that have at least one test item.

Ties. Items with equal scores are ordered by item index, lower first, so results do not depend
on ``torch.topk``'s unspecified choice among equal values (this matters for MostPop and item-kNN,
whose scores tie a lot). Excluded items get score ``-inf`` and are never counted as hits; if a
user has fewer than N items left, the list is padded with items that cannot hit.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np
import scipy.sparse as sp
import torch

METRIC_NAMES = ("P", "R", "HR", "NDCG")


def topn_metrics(user_emb: torch.Tensor | None = None, item_emb: torch.Tensor | None = None,
                 exclude=None, test=None, ns: Sequence[int] = (5, 10, 20), *,
                 scores=None, score_fn: Callable | None = None, chunk_size: int = 1024,
                 per_user: bool = False, candidates=None) -> dict:
    """P@N, R@N, HR@N and NDCG@N by full ranking, averaged over users with a test item.

    Scores come from exactly one of:

    * ``user_emb`` (users x d) and ``item_emb`` (items x d): inner products;
    * ``scores``: a dense users x items tensor or ndarray;
    * ``score_fn``: a callable taking a 1-D LongTensor of user ids and returning a
      ``(len(ids), num_items)`` float tensor (e.g. ``model.scores``); called under ``no_grad``
      once per chunk of at most ``chunk_size`` users.

    Parameters
    ----------
    exclude : scipy sparse matrix, list of them, or None
        users x items; every stored entry (train, validation, ...) is removed from the ranking.
    test : scipy sparse matrix
        users x items; the stored entries are the targets.
    ns : sequence of int
        The cut-offs N.
    candidates : 1-D array of item ids, or None
        Rank only these items (every other item is excluded for every user), e.g. the cold
        items of a cold-start fold (:mod:`hetrec.data.coldstart`); None ranks every item.
    per_user : bool
        If true, the result also has the key ``"per_user"``: a dict with ``"users"``
        (int64 ids of the evaluated users) and one float64 array per metric, aligned with
        ``"users"`` (for a standard deviation over users, or a paired significance test).

    Returns
    -------
    dict
        ``"P@N"``, ``"R@N"``, ``"HR@N"``, ``"NDCG@N"`` (floats) for every N in ``ns``,
        ``"num_users"`` (int), and ``"per_user"`` when asked.
    """
    if test is None:
        raise ValueError("test (a users x items sparse matrix of targets) is required")
    given = [name for name, v in (("user_emb/item_emb", user_emb if user_emb is not None else item_emb),
                                  ("scores", scores), ("score_fn", score_fn)) if v is not None]
    if len(given) != 1:
        raise ValueError("give exactly one of (user_emb, item_emb), scores or score_fn; got "
                         + (", ".join(given) or "none"))
    ns = sorted({int(n) for n in ns})
    if not ns or ns[0] < 1:
        raise ValueError(f"cut-offs must be positive integers, got {ns}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")

    test = sp.csr_matrix(test)
    num_users, num_items = test.shape
    excl = _combine_exclusions(exclude, test.shape)
    outside = None
    if candidates is not None:
        cand = np.asarray(candidates).ravel()
        if cand.size == 0 or not np.issubdtype(cand.dtype, np.integer) or cand.min() < 0 or cand.max() >= num_items:
            raise ValueError(f"candidates must be a non-empty array of item ids in [0, {num_items})")
        outside = torch.ones(num_items, dtype=torch.bool)
        outside[torch.from_numpy(cand.astype(np.int64))] = False
    score_chunk = _chunk_scorer(user_emb, item_emb, scores, score_fn, num_users, num_items)

    test.sum_duplicates()
    test_counts = np.diff(test.indptr)
    users = np.flatnonzero(test_counts > 0)
    if len(users) == 0:
        raise ValueError("no user has a test item: nothing to evaluate")
    test_eval = test[users]
    test_eval.sort_indices()
    excl_eval = excl[users] if excl is not None else None
    sizes = torch.from_numpy(test_counts[users].astype(np.float64))

    max_n = ns[-1]
    k = min(max_n, num_items)
    hits = torch.zeros(len(users), max_n, dtype=torch.bool)
    for start in range(0, len(users), chunk_size):
        stop = min(start + chunk_size, len(users))
        ids = torch.from_numpy(users[start:stop].astype(np.int64))
        with torch.no_grad():
            s = score_chunk(ids)
        if excl_eval is not None:
            rows, cols = _coordinates(excl_eval[start:stop])
            s[rows.to(s.device), cols.to(s.device)] = float("-inf")
        if outside is not None:
            s[:, outside.to(s.device)] = float("-inf")
        top_items, top_scores = _top_by_score_then_index(s, k)
        if torch.isnan(top_scores).any():  # topk ranks NaN above everything
            raise ValueError("scores contain NaN")
        hits[start:stop, :k] = (_is_stored(test_eval[start:stop], top_items.cpu())
                                & (top_scores > float("-inf")).cpu())

    out, arrays = {}, {}
    discount = 1.0 / torch.log2(torch.arange(2, max_n + 2, dtype=torch.float64))
    ideal = torch.cumsum(discount, 0)
    for n in ns:
        h = hits[:, :n].to(torch.float64)
        num_hits = h.sum(1)
        dcg = (h * discount[:n]).sum(1)
        idcg = ideal[torch.clamp(sizes, max=n).long() - 1]
        arrays[f"P@{n}"] = num_hits / n
        arrays[f"R@{n}"] = num_hits / sizes
        arrays[f"HR@{n}"] = (num_hits > 0).to(torch.float64)
        arrays[f"NDCG@{n}"] = dcg / idcg
    for name in (f"{m}@{n}" for n in ns for m in METRIC_NAMES):
        out[name] = float(arrays[name].mean())
    out["num_users"] = len(users)
    if per_user:
        out["per_user"] = {"users": users.astype(np.int64),
                           **{k: v.numpy() for k, v in arrays.items()}}
    return out


def _combine_exclusions(exclude, shape) -> sp.csr_matrix | None:
    if exclude is None:
        return None
    mats = list(exclude) if isinstance(exclude, (list, tuple)) else [exclude]
    if not mats:
        return None
    total = None
    for m in mats:
        if m.shape != shape:
            raise ValueError(f"exclude matrix has shape {m.shape}, test has {shape}")
        m = sp.csr_matrix(m, dtype=np.float32)
        m.data = np.ones_like(m.data)  # presence, whatever the stored value (ratings, counts)
        total = m if total is None else total + m
    total.sum_duplicates()
    return total


def _chunk_scorer(user_emb, item_emb, scores, score_fn, num_users, num_items):
    """A function from user ids (LongTensor) to a float32 score chunk that the caller may
    modify in place (always a fresh tensor, never a view of the caller's data)."""
    if scores is not None:
        s_all = torch.as_tensor(scores)
        if tuple(s_all.shape) != (num_users, num_items):
            raise ValueError(f"scores have shape {tuple(s_all.shape)}, expected {(num_users, num_items)}")
        # advanced indexing copies
        return lambda ids: _checked(s_all[ids.to(s_all.device)].float(), len(ids), num_items)
    if score_fn is not None:
        return lambda ids: _checked(torch.as_tensor(score_fn(ids)).float().clone(), len(ids), num_items)
    if user_emb is None or item_emb is None:
        raise ValueError("user_emb and item_emb must be given together")
    user_emb, item_emb = torch.as_tensor(user_emb), torch.as_tensor(item_emb)
    if user_emb.shape[0] != num_users or item_emb.shape[0] != num_items:
        raise ValueError(f"embeddings cover {user_emb.shape[0]} users x {item_emb.shape[0]} items, "
                         f"test is {num_users} x {num_items}")
    item_t = item_emb.float().T
    return lambda ids: _checked(user_emb[ids.to(user_emb.device)].float() @ item_t, len(ids), num_items)


def _checked(s: torch.Tensor, rows: int, num_items: int) -> torch.Tensor:
    if tuple(s.shape) != (rows, num_items):
        raise ValueError(f"score chunk has shape {tuple(s.shape)}, expected {(rows, num_items)}")
    return s


def _coordinates(block: sp.csr_matrix) -> tuple:
    """Row and column indices (LongTensors) of the stored entries of a csr block."""
    rows = np.repeat(np.arange(block.shape[0], dtype=np.int64), np.diff(block.indptr))
    return torch.from_numpy(rows), torch.from_numpy(block.indices.astype(np.int64))


def _is_stored(block: sp.csr_matrix, items: torch.Tensor) -> torch.Tensor:
    """``out[r, j]``: is ``(r, items[r, j])`` a stored entry of ``block`` (sorted indices)?"""
    width = block.shape[1]
    rows, cols = _coordinates(block)
    stored = rows * width + cols  # ascending: row-major with sorted column indices
    keys = torch.arange(items.shape[0], dtype=torch.int64).unsqueeze(1) * width + items
    pos = torch.searchsorted(stored, keys).clamp_(max=max(len(stored) - 1, 0))
    return stored[pos] == keys if len(stored) else torch.zeros_like(keys, dtype=torch.bool)


def _top_by_score_then_index(s: torch.Tensor, k: int) -> tuple:
    """Per row, the ``k`` items with the highest score, ties to the lower item index, in rank
    order. Returns ``(items, scores)``, both ``(rows, k)``.

    ``torch.topk`` gives the k-th and (k+1)-th largest values of each row. Where they are equal,
    more items tie with the k-th than fit, and topk's choice among them is unspecified; for those
    rows only (rare with continuous scores) every item above the k-th value is taken and the
    remaining places go to the tied items with the lowest indices. The chosen items, put in
    index order, are then stably sorted by score, which orders ties inside the list by index too.
    """
    num_items = s.shape[1]
    top = torch.topk(s, min(k + 1, num_items), dim=1, sorted=True)
    kth = top.values[:, k - 1 : k]
    items = top.indices[:, :k]
    if num_items > k:
        overfull = torch.nonzero(top.values[:, k] == kth[:, 0]).flatten()
    else:
        overfull = torch.zeros(0, dtype=torch.int64)
    if len(overfull):
        sub, sub_kth = s[overfull], kth[overfull]
        above, tied = sub > sub_kth, sub == sub_kth
        room = k - above.sum(1, keepdim=True)
        take = above | (tied & (torch.cumsum(tied.to(torch.int32), 1, dtype=torch.int32) <= room))
        items = items.clone()
        items[overfull] = take.nonzero()[:, 1].view(len(overfull), k)
    items = torch.sort(items, dim=1).values
    picked = s.gather(1, items)
    order = torch.sort(picked, dim=1, descending=True, stable=True).indices
    return items.gather(1, order), picked.gather(1, order)


def mean_std(results: Iterable[dict]) -> dict:
    """``{metric: (mean, std)}`` over a list of metric dicts (e.g. one per fold).

    Only keys with a number in every dict are kept (``per_user`` and the like are skipped).
    ``std`` is the sample standard deviation (``ddof=1``); 0.0 for a single dict.
    """
    results = list(results)
    if not results:
        raise ValueError("mean_std needs at least one metric dict")
    keys = [k for k, v in results[0].items() if _is_number(v)
            and all(k in r and _is_number(r[k]) for r in results[1:])]
    out = {}
    for k in keys:
        vals = np.array([float(r[k]) for r in results])
        out[k] = (float(vals.mean()), float(vals.std(ddof=1)) if len(vals) > 1 else 0.0)
    return out


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def format_metrics_table(rows, ns: Sequence[int] = (5, 10, 20), *, digits: int = 4,
                         metrics: Sequence[str] = METRIC_NAMES) -> str:
    """A Markdown table of metrics.

    ``rows`` is either

    * a dict ``{row label: metrics}`` where ``metrics`` is one metric dict (printed as is) or a
      list of metric dicts, e.g. one per fold (printed as ``mean ± std``, see :func:`mean_std`);
    * or a list of per-fold metric dicts: one row per fold plus a ``mean ± std`` row.

    Columns are ``P@N, ..., R@N, ..., HR@N, ..., NDCG@N, ...`` for N in ``ns``; a metric missing
    from a row prints as ``–``.
    """
    if isinstance(rows, (list, tuple)):
        labelled = {f"fold {i}": r for i, r in enumerate(rows)}
        if rows:
            labelled["mean ± std"] = list(rows)
    elif isinstance(rows, dict):
        labelled = rows
    else:
        raise TypeError(f"rows must be a dict or a list of metric dicts, got {type(rows).__name__}")
    cols = [f"{m}@{n}" for m in metrics for n in ns]
    lines = ["| | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
    for label, value in labelled.items():
        if isinstance(value, (list, tuple)):
            stats = mean_std(value)
            cells = [f"{stats[c][0]:.{digits}f} ± {stats[c][1]:.{digits}f}" if c in stats else "–"
                     for c in cols]
        else:
            cells = [f"{float(value[c]):.{digits}f}" if _is_number(value.get(c)) else "–" for c in cols]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


__all__ = ["METRIC_NAMES", "format_metrics_table", "mean_std", "topn_metrics"]
