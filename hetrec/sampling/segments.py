"""Vectorized operations on CSR segments (the edge lists of a set of rows), in numpy: uniform
capped subsets of rows, used by the ``max_in_edges`` cap on a sampled subgraph's in-edges.

Every function works on whole arrays: there is no Python loop over nodes or edges. They are
kept free of graph objects so that they can be tested on their own. (numpy rather than torch:
on CPU, numpy's sort, unique and fancy indexing are several times faster on the array sizes
a sampler handles, ~10³–10⁶ elements. The per-batch node sampling itself is compiled:
:mod:`hetrec.sampling.kernels`.)
"""
from __future__ import annotations

import numpy as np


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
