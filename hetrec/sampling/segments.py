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


def _select_in_rows(pos: np.ndarray, valid: np.ndarray, cap: int, rng: np.random.Generator) -> np.ndarray:
    """``cap`` entries of each row of the 2-D ``pos``, uniformly among that row's ``valid`` ones.

    Every row must hold at least ``cap`` valid entries. Random keys for the valid entries, the
    ``cap`` smallest per row by ``argpartition`` along the rows: linear in the array's size, no sort.
    Returns a ``(rows, cap)`` array of selected entries.
    """
    keys = rng.random(pos.shape)
    keys[~valid] = 2.0  # after every valid key (keys are in [0, 1))
    sel = np.argpartition(keys, cap - 1, axis=1)[:, :cap]
    return pos[np.arange(len(pos))[:, None], sel]


def _padded_rows(starts, lengths, eids, excluded):
    """Row-by-row positions as a 2-D array padded to the longest row, and which entries are
    real, non-excluded edges."""
    cols = np.arange(lengths.max(initial=0))
    real = cols[None, :] < lengths[:, None]
    pos = starts[:, None] + np.where(real, cols[None, :], 0)
    if excluded is None:
        return pos, real
    return pos, real & ~(excluded[pos] if eids is None else excluded[eids[pos]])


def row_degrees(indptr, rows, excluded_rows=None) -> tuple:
    """``(starts, lengths, usable)`` of ``rows``: where each row starts, its length, and its
    number of edges that are not excluded (``excluded_rows``: the sorted rows of the excluded
    edges, one entry per excluded edge; ``None`` when nothing is excluded)."""
    starts = indptr[rows]
    lengths = indptr[rows + 1] - starts
    if excluded_rows is None or not len(excluded_rows):
        return starts, lengths, lengths
    n_excl = (np.searchsorted(excluded_rows, rows, side="right")
              - np.searchsorted(excluded_rows, rows, side="left"))
    return starts, lengths, lengths - n_excl


def capped_rows(starts, lengths, usable, cap, rng, eids=None, excluded=None) -> tuple:
    """Exactly ``cap`` uniformly drawn usable edges of each row, for rows with more than ``cap``
    usable edges. Returns ``(pos, seg)``: positions, and the index of each position's row.

    Rows of at most ``2·cap`` edges are read into a padded ``(rows, longest)`` array and ``cap``
    of their usable edges chosen by the smallest random keys (``argpartition`` along the rows).
    Longer rows are never read whole: ``2·cap`` offsets per row are drawn uniformly with
    replacement, the distinct usable ones found by sorting each short row of draws, and ``cap``
    of those chosen by random keys. Given how many distinct edges the draws hit, the set they
    hit is a uniform subset (the draws are exchangeable), so the ``cap`` chosen are a uniform
    subset of the usable edges. A row whose draws hit fewer than ``cap`` usable edges is drawn
    again with twice as many offsets (or read whole once that is no longer). The cost per row
    is thus ``O(min(degree, cap))``, whatever the hub's degree, and nothing is sorted but rows
    of ``2·cap`` draws.

    ``excluded`` (boolean) flags unusable edges: indexed by edge id through ``eids``, or by
    position directly when ``eids`` is ``None``.
    """
    parts_pos, parts_seg = [np.empty(0, dtype=np.int64)], [np.empty(0, dtype=np.int64)]
    long_rows = lengths > 2 * cap
    mid = np.flatnonzero(~long_rows)
    pending, draws = np.flatnonzero(long_rows), 2 * cap
    while len(pending):
        readable = lengths[pending] <= draws  # cheaper read whole than drawn
        if readable.any():
            mid = np.concatenate([mid, pending[readable]])
            pending = pending[~readable]
            if not len(pending):
                break
        # uniform offsets floor(u * n) (u in [0, 1): a bias below n / 2^53), clipped against
        # rounding up to n; cheaper than Generator.integers with an array of bounds
        n = lengths[pending][:, None]
        offsets = np.minimum((rng.random((len(pending), draws)) * n).astype(np.int64), n - 1)
        cand = starts[pending][:, None] + offsets
        cand.sort(axis=1)
        valid = np.empty(cand.shape, dtype=bool)
        valid[:, 0] = True
        np.not_equal(cand[:, 1:], cand[:, :-1], out=valid[:, 1:])  # first of each run of equal draws
        if excluded is not None:
            valid &= ~(excluded[cand] if eids is None else excluded[eids[cand]])
        done = np.count_nonzero(valid, axis=1) >= cap
        if done.all():
            parts_pos.append(_select_in_rows(cand, valid, cap, rng).ravel())
            parts_seg.append(np.repeat(pending, cap))
            break
        if done.any():
            parts_pos.append(_select_in_rows(cand[done], valid[done], cap, rng).ravel())
            parts_seg.append(np.repeat(pending[done], cap))
        pending, draws = pending[~done], 2 * draws
    if len(mid):
        mid_pos, valid = _padded_rows(starts[mid], lengths[mid], eids, excluded)
        parts_pos.append(_select_in_rows(mid_pos, valid, cap, rng).ravel())
        parts_seg.append(np.repeat(mid, cap))
    return np.concatenate(parts_pos), np.concatenate(parts_seg)


def sample_segments(indptr, rows, cap, rng, eids=None, excluded=None, excluded_rows=None):
    """Up to ``cap`` uniformly drawn edges of each row of ``rows``, skipping excluded edges.

    Returns ``(pos, seg, deg)``: positions in the CSR arrays, the position in ``rows`` of each
    edge's row, and the per-row number of non-excluded edges. ``cap=None`` keeps every edge.
    ``excluded`` is a boolean array over edge ids (indexed through ``eids``) and
    ``excluded_rows`` the sorted rows of the excluded edges, so that a row's number of usable
    edges is known without reading the row.

    Rows with at most ``cap`` usable edges are read whole; the others go through
    :func:`capped_rows` (no sort of the edges, ``O(min(degree, cap))`` per row). The edges come
    whole rows first, row by row.
    """
    starts, lengths, deg = row_degrees(indptr, rows, excluded_rows)
    whole = np.arange(len(rows)) if cap is None else np.flatnonzero(deg <= cap)
    pos, seg = gather_segments(indptr, rows[whole])
    seg = whole[seg]
    if excluded is not None and len(pos):
        keep = ~excluded[eids[pos]]
        pos, seg = pos[keep], seg[keep]
    if cap is None or len(whole) == len(rows):
        return pos, seg, deg
    over = np.flatnonzero(deg > cap)
    cpos, cseg = capped_rows(starts[over], lengths[over], deg[over], cap, rng, eids, excluded)
    return np.concatenate([pos, cpos]), np.concatenate([seg, over[cseg]]), deg
