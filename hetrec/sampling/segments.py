"""Vectorized operations on CSR segments (the edge lists of a set of rows), in numpy.

Every function works on whole arrays: there is no Python loop over nodes or edges. They are
kept free of graph objects so that they can be tested on their own. (numpy rather than torch:
on CPU, numpy's sort, unique and fancy indexing are several times faster on the array sizes
a sampler handles, ~10³–10⁶ elements.)
"""
from __future__ import annotations

import numpy as np


def gather_segments(indptr: np.ndarray, rows: np.ndarray) -> tuple:
    """Positions of the edges of ``rows`` in a CSR ``indices`` array.

    Returns ``(pos, seg)``: ``pos[j]`` indexes ``indices``/``eids`` and ``seg[j]`` is the position
    in ``rows`` of the row that edge ``j`` belongs to. Edges come row by row, in ``rows`` order.
    """
    starts = indptr[rows]
    lengths = indptr[rows + 1] - starts
    seg = np.repeat(np.arange(len(rows)), lengths)
    # position = the row's start in indices + the edge's offset inside its row
    shift = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    return np.arange(len(seg)) + shift, seg


def cap_segments(seg: np.ndarray, num_segments: int, cap, rng: np.random.Generator) -> np.ndarray:
    """Boolean mask keeping at most ``cap`` elements of every segment, drawn uniformly.

    ``seg`` holds segment ids in ``[0, num_segments)``, in any order. Segments no larger than
    ``cap`` are kept whole without drawing random numbers, so the cost is proportional to the
    elements of the oversized segments only.
    """
    keep = np.ones(len(seg), dtype=bool)
    if cap is None or len(seg) == 0:
        return keep
    sizes = np.bincount(seg, minlength=num_segments)
    big = np.flatnonzero(sizes[seg] > cap)
    if len(big) == 0:
        return keep
    big_seg = seg[big]
    # a random order inside each segment: sort by segment + a key in [0, 1)
    order = np.argsort(big_seg + rng.random(len(big)))
    sorted_seg = big_seg[order]
    first = np.searchsorted(sorted_seg, sorted_seg)  # first slot of each element's segment
    rank = np.empty(len(big), dtype=np.int64)
    rank[order] = np.arange(len(big)) - first
    keep[big[rank >= cap]] = False
    return keep


def weighted_draw(weights: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``min(k, n)`` elements drawn without replacement with ``P ∝ weights``.

    Successive sampling through exponential races (Efraimidis & Spirakis): element ``i`` gets
    the key ``E_i / w_i`` with ``E_i ~ Exp(1)``; the ``k`` smallest keys, in increasing order,
    are the draw, in the order a one-at-a-time weighted draw would have picked them. Every
    weight must be positive.
    """
    n = len(weights)
    if n <= k:
        return np.arange(n)
    keys = rng.standard_exponential(n) / weights
    top = np.argpartition(keys, k - 1)[:k]
    return top[np.argsort(keys[top], kind="stable")]


def sample_segments(indptr, rows, cap, rng, eids=None, excluded=None, excluded_rows=None):
    """Up to ``cap`` uniformly drawn edges of each row of ``rows``, skipping excluded edges.

    Returns ``(pos, seg, deg)``: positions in the CSR arrays, the position in ``rows`` of each
    edge's row, and the per-row number of non-excluded edges. ``cap=None`` keeps every edge.
    ``excluded`` is a boolean array over edge ids (indexed through ``eids``) and
    ``excluded_rows`` the sorted rows of the excluded edges, so that a row's number of usable
    edges is known without reading the row.

    Rows with at most ``2·cap`` edges are read whole and capped by random ranks. Longer rows are
    never read whole: their edges are drawn by offsets, uniformly with replacement, keeping the
    first ``cap`` distinct non-excluded ones (a uniform subset, by symmetry); the rare row that
    falls short is drawn again with twice as many offsets. The cost per row is thus
    ``O(min(degree, cap))``, whatever the hub's degree.
    """
    starts = indptr[rows]
    lengths = indptr[rows + 1] - starts
    if excluded_rows is not None and len(excluded_rows):
        n_excl = (np.searchsorted(excluded_rows, rows, side="right")
                  - np.searchsorted(excluded_rows, rows, side="left"))
    else:
        n_excl = np.zeros(len(rows), dtype=np.int64)
    deg = lengths - n_excl
    long_rows = (deg > 2 * cap) if cap is not None else np.zeros(len(rows), dtype=bool)
    short = np.flatnonzero(~long_rows)
    pos, seg = gather_segments(indptr, rows[short])
    seg = short[seg]
    if excluded is not None and len(pos):
        keep = ~excluded[eids[pos]]
        pos, seg = pos[keep], seg[keep]
    if cap is not None and len(pos):
        keep = cap_segments(seg, len(rows), cap, rng)
        pos, seg = pos[keep], seg[keep]
    if not long_rows.any():
        return pos, seg, deg
    parts_pos, parts_seg = [pos], [seg]
    pending, draws = np.flatnonzero(long_rows), 2 * cap
    while len(pending):
        offsets = rng.integers(0, lengths[pending][:, None], size=(len(pending), draws))
        cand = starts[pending][:, None] + offsets  # (rows, draws), row-major = draw order
        flat = cand.ravel()
        valid = np.ones(len(flat), dtype=bool) if excluded is None else ~excluded[eids[flat]]
        # first occurrence of each distinct position, in draw order (positions are distinct
        # across rows, so the row needs no part in the key)
        values, first = np.unique(np.where(valid, flat, -1), return_index=True)
        first = np.sort(first[values >= 0])
        row_of = first // draws
        count = np.bincount(row_of, minlength=len(pending))
        rank = np.arange(len(first)) - (np.cumsum(count) - count)[row_of]
        done = count >= cap
        take = first[done[row_of] & (rank < cap)]
        parts_pos.append(flat[take])
        parts_seg.append(pending[take // draws])
        pending, draws = pending[~done], 2 * draws
    return np.concatenate(parts_pos), np.concatenate(parts_seg), deg
