"""Compiled loops of the dense sampler (numba): the budget spread and the induced edges.

Each is one pass over the CSR entries it reads, where the numpy formulation of the same work
(``segments.py``) makes a handful of passes with temporary arrays of the same length: the
spread reads every frontier row once, capped rows draw their ``cap`` neighbours by Floyd's
algorithm (``cap`` random numbers per row, no keys for the whole row and no partial sort), and
first-reached candidates are recorded as they are met. On Last.FM's subgraphs this is what
takes the sampler from ≈ 12 ms to a few ms (docs/sampler.md).

Randomness never comes from numba's own (global) generator: the caller passes a seed drawn
from torch's generator (one of the batch's ``DenseSubgraphSampler._streams``) and the kernel runs its own splitmix64 stream from it, so
runs stay reproducible from torch's seed and share no state. The functions write into scratch arrays the caller owns and resets.
numba does not check bounds: the callers size every output as documented.

Compiled on first use and cached on disk (``cache=True``, in ``__pycache__`` or
``NUMBA_CACHE_DIR``), so only the first process on a machine pays the compilation (seconds).
"""
from __future__ import annotations

import numpy as np
from numba import njit

#: node states in the ``state`` scratch array of :func:`spread_budget`
UNSEEN, CANDIDATE, SAMPLED = 0, 1, 2

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_INV53 = 1.0 / 9007199254740992.0  # 2**-53
_HASH = 0x9E3779B1  # Knuth's multiplicative hash, for the small sets of drawn offsets


@njit(inline="always")
def _uniform(x):  # pragma: no cover - compiled
    """splitmix64 (Steele, Lea & Flood 2014): the next state and a uniform float in [0, 1)."""
    x = x + _GOLDEN
    z = (x ^ (x >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    z = z ^ (z >> np.uint64(31))
    return x, float(np.int64(z >> np.uint64(11))) * _INV53  # via int64: one conversion instruction


@njit(inline="always")
def _give(v, share, ok, state, budget, fresh, n):  # pragma: no cover - compiled
    """Node ``v`` gets ``share`` if ``ok`` and it is not sampled, and is recorded as
    ``fresh[n]`` if it was unseen (branch-free: always written, then kept or overwritten).
    Returns the new count."""
    st = state[v]
    ok = ok & (st != SAMPLED)
    budget[v] += share * ok
    new = ok & (st == UNSEEN)
    fresh[n] = v
    state[v] = st | new
    return n + new


@njit(cache=True, nogil=True)
def spread_budget(indptr, nbrs, rows, row_excluded, cap, seed, excluded, state, budget,
                  fresh):  # pragma: no cover - compiled; tested through the sampler and directly
    """Add ``1/min(d, cap)`` to the budget of each not-sampled neighbour every row in ``rows``
    reaches (``d``: the row's number of usable, i.e. not excluded, edges; ``cap < 0``: no
    cap), ``cap`` uniformly chosen usable neighbours of rows with ``d > cap``; record the
    neighbours that were not candidates yet, in the order first reached.

    ``row_excluded[r]``: the number of excluded edges in row ``r`` (``excluded`` flags by CSR
    position are read only in rows where it is not 0). ``state``: per node :data:`UNSEEN`,
    :data:`CANDIDATE` or :data:`SAMPLED`; a sampled node gets nothing, an unseen one that gets
    budget becomes a candidate. ``seed``: a uint64 for the splitmix64 stream of the capped
    rows' draws. ``fresh``: an int64 array to write the new candidates to, replaced by a larger
    one if it has too little room (scratch that the caller keeps, so that each batch does not
    fault in fresh pages). Returns ``(fresh, n)``: the array written to and how many entries
    it holds.

    Capped rows: Floyd's algorithm picks a uniform ``cap``-subset of the row's ``d`` usable
    edges from ``cap`` draws (for ``j = d - cap .. d - 1``: ``t`` uniform in ``[0, j]``, taken
    unless already taken, else ``j``), which touches ``cap`` entries of the row whatever its
    length. The inner loops are branch-free on the data: every
    neighbour is written to the output and kept or overwritten.
    """
    room, longest = 1, 0
    for i in range(len(rows)):
        r = rows[i]
        d = indptr[r + 1] - indptr[r] - row_excluded[r]
        room += d if cap < 0 else min(d, cap)
        if cap >= 0 and d > cap and row_excluded[r] > 0:
            longest = max(longest, indptr[r + 1] - indptr[r])
    if len(fresh) < room:
        fresh = np.empty(max(room, 2 * len(fresh)), dtype=np.int64)
    buffer = np.empty(longest, dtype=np.int64)  # a capped row's usable positions
    picked = np.empty(max(cap, 0), dtype=np.int64)
    slots = np.empty(max(cap, 0), dtype=np.int64)
    size = 1
    while size < 2 * cap:
        size *= 2
    table = np.zeros(size, dtype=np.int64)
    mask = size - 1
    n_fresh = 0
    x = seed
    for i in range(len(rows)):
        r = rows[i]
        start, stop = indptr[r], indptr[r + 1]
        check = row_excluded[r] > 0
        d = stop - start - row_excluded[r]
        if d <= 0:
            continue
        if cap < 0 or d <= cap:
            share = 1.0 / d
            if check:
                for p in range(start, stop):
                    n_fresh = _give(nbrs[p], share, not excluded[p], state, budget, fresh, n_fresh)
            else:
                for p in range(start, stop):
                    n_fresh = _give(nbrs[p], share, True, state, budget, fresh, n_fresh)
            continue
        if check:
            m = 0
            for p in range(start, stop):
                buffer[m] = p
                m += not excluded[p]
        # Floyd's draws; the offsets taken so far are kept in a small open-addressing set
        # (``table``, offset + 1 per slot, 0 for empty), cleared slot by slot afterwards
        for k in range(cap):
            j = d - cap + k
            x, u = _uniform(x)
            t = min(int(u * (j + 1)), j)  # min: rounding of u * (j + 1) up to j + 1
            h = (t * _HASH) & mask
            while table[h] != 0 and table[h] != t + 1:
                h = (h + 1) & mask
            if table[h] != 0:  # t taken already: take j (never taken before)
                t = j
                h = (t * _HASH) & mask
                while table[h] != 0:
                    h = (h + 1) & mask
            table[h] = t + 1
            slots[k] = h
            picked[k] = buffer[t] if check else start + t
        for k in range(cap):
            table[slots[k]] = 0
        share = 1.0 / cap
        for k in range(cap):
            n_fresh = _give(nbrs[picked[k]], share, True, state, budget, fresh, n_fresh)
    return fresh, n_fresh


@njit(cache=True, nogil=True)
def add_candidates(cand, cut, fresh, bounds):  # pragma: no cover - compiled
    """The candidates grouped by type with ``fresh`` appended to their groups.

    ``cand[cut[t]:cut[t + 1]]`` are type ``t``'s candidates; a global id ``v`` is of type
    ``t`` when ``bounds[t] <= v < bounds[t + 1]``. Returns ``(cand, cut)`` of the union, each
    group in its order followed by its fresh ids in theirs (a stable counting sort)."""
    n_types = len(bounds) - 1
    kind = np.empty(len(fresh), dtype=np.int64)
    count = np.zeros(n_types + 1, dtype=np.int64)
    for i in range(len(fresh)):
        t = 0
        while fresh[i] >= bounds[t + 1]:
            t += 1
        kind[i] = t
        count[t + 1] += 1
    out_cut = np.empty(n_types + 1, dtype=np.int64)
    out_cut[0] = 0
    for t in range(n_types):
        out_cut[t + 1] = out_cut[t] + (cut[t + 1] - cut[t]) + count[t + 1]
    out = np.empty(out_cut[n_types], dtype=np.int64)
    at = np.empty(n_types, dtype=np.int64)
    for t in range(n_types):
        n_old = cut[t + 1] - cut[t]
        out[out_cut[t]:out_cut[t] + n_old] = cand[cut[t]:cut[t + 1]]
        at[t] = out_cut[t] + n_old
    for i in range(len(fresh)):
        out[at[kind[i]]] = fresh[i]
        at[kind[i]] += 1
    return out, out_cut


@njit(cache=True, nogil=True)
def induced_edges(indptr, nbrs, eids, rows, bounds, edge_offset, local, use_flags, excluded, other,
                  out, cut, differs):  # pragma: no cover - compiled; tested through the sampler
    """The edges among the subgraph's nodes of the relations whose rows are read.

    ``rows[bounds[j]:bounds[j + 1]]`` are relation ``j``'s rows of the subgraph's sources, in
    order (row ``k`` of the slice is source ``k``); ``local[v]`` is the position of global node
    ``v`` in the subgraph, or -1. Every entry ``p`` whose neighbour ``v`` is in the subgraph
    and that is not ``excluded[p]`` (read only when ``use_flags``) is the edge
    ``(k, local[v])`` with id ``eids[p] - edge_offset[j]``: relation ``j``'s edges are
    ``out[:, cut[j]:cut[j + 1]]`` (source, destination, id), row by row in CSR order. ``out``
    needs room for every entry of the rows plus one (each entry is written, then kept or
    overwritten: no branch on data). ``differs[j]`` is set when an entry in the subgraph has
    ``excluded[p] != other[p]`` (the flags of the id-aligned reverse relation: if none
    differs, the reverse relation's edges are these reversed)."""
    k = 0
    for j in range(len(bounds) - 1):
        cut[j] = k
        off = edge_offset[j]
        diff = False
        for i in range(bounds[j], bounds[j + 1]):
            s = i - bounds[j]
            for p in range(indptr[rows[i]], indptr[rows[i] + 1]):
                f = local[nbrs[p]]
                out[0, k] = s
                out[1, k] = f
                out[2, k] = eids[p] - off
                if use_flags:
                    x = excluded[p]
                    diff |= (f >= 0) & (x != other[p])
                    k += (f >= 0) & (not x)
                else:
                    k += f >= 0
        differs[j] = diff
    cut[len(bounds) - 1] = k


@njit(inline="always")
def _sift_down(key, idx, k, at):  # pragma: no cover - compiled
    """Restore the min-heap order of ``key[:k]`` (with ``idx`` alongside) below ``at``."""
    while True:
        child = 2 * at + 1
        if child >= k:
            return
        if child + 1 < k and key[child + 1] < key[child]:
            child += 1
        if key[at] <= key[child]:
            return
        key[at], key[child] = key[child], key[at]
        idx[at], idx[child] = idx[child], idx[at]
        at = child


@njit(cache=True, nogil=True)
def weighted_draws(cand, seg, budget, width, seed, picks, pick_cut, rest, rest_cut):  # pragma: no cover - compiled
    """One round's draws: from each group ``cand[seg[t]:seg[t + 1]]`` (a node type's
    candidates), ``min(width, n)`` nodes without replacement with ``P(v) ∝ budget[v]²``, in
    the order a one-at-a-time weighted draw would pick them (successive sampling).

    Weighted reservoir sampling with exponential jumps (A-ExpJ, Efraimidis & Spirakis 2006):
    candidate ``v`` of weight ``w = budget[v]²`` has the key ``u^(1/w)`` (``u`` uniform), the
    ``width`` largest keys are the sample and decreasing keys give the order, which is the
    exponential-race formulation ``E / w`` (``E = -log u``) of the same draw. The reservoir
    (a min-heap of log-keys) skips the candidates that cannot enter without drawing for them:
    about ``width · log(n / width)`` random numbers and logarithms instead of ``n``. Random
    numbers come from the splitmix64 stream of ``seed``.

    A group of at most ``width`` is drawn whole, in its order. Group ``t``'s draws go to
    ``picks[pick_cut[t]:pick_cut[t + 1]]`` (room for ``width`` per group) and its other
    candidates, in their order, to ``rest[rest_cut[t]:rest_cut[t + 1]]`` (room for every
    candidate). Every budget must be positive.
    """
    x = seed
    n_pick = 0
    n_rest = 0
    key = np.empty(width)
    idx = np.empty(width, dtype=np.int64)
    for t in range(len(seg) - 1):
        pick_cut[t] = n_pick
        rest_cut[t] = n_rest
        lo, hi = seg[t], seg[t + 1]
        if hi - lo <= width:
            for i in range(lo, hi):
                picks[n_pick] = cand[i]
                n_pick += 1
            continue
        for k in range(width):  # the reservoir starts with the first ``width`` candidates
            x, u = _uniform(x)
            b = budget[cand[lo + k]]
            key[k] = np.log1p(-u) / (b * b)  # log(1 - u) / w, 1 - u in (0, 1]
            idx[k] = lo + k
        for k in range(width // 2 - 1, -1, -1):
            _sift_down(key, idx, width, k)
        i = lo + width
        while i < hi and key[0] < 0.0:  # key[0] = 0: no key can exceed the threshold
            x, u = _uniform(x)
            jump = np.log1p(-u) / key[0]  # the weight to skip before the next candidate enters
            while i < hi:
                b = budget[cand[i]]
                jump -= b * b
                if jump <= 0.0:
                    break
                i += 1
            if i == hi:
                break
            w = budget[cand[i]] ** 2
            floor = np.exp(key[0] * w)  # the threshold key to the power w: enter above it
            x, u = _uniform(x)
            key[0] = np.log(floor + (1.0 - u) * (1.0 - floor)) / w
            idx[0] = i
            _sift_down(key, idx, width, 0)
            i += 1
        order = np.argsort(-key, kind="mergesort")
        taken = np.zeros(hi - lo, dtype=np.bool_)
        for k in range(width):
            picks[n_pick] = cand[idx[order[k]]]
            n_pick += 1
            taken[idx[k] - lo] = True
        for i in range(lo, hi):
            rest[n_rest] = cand[i]
            n_rest += not taken[i - lo]
    pick_cut[len(seg) - 1] = n_pick
    rest_cut[len(seg) - 1] = n_rest


@njit(cache=True, nogil=True)
def mark_excluded(pos, reverse_pos, rows, flags, reverse_flags, row_counts, on):  # pragma: no cover - compiled
    """Flag (``on``) or unflag the excluded edges: ``flags`` at their CSR positions ``pos``,
    ``reverse_flags`` at ``reverse_pos``, and count them by CSR row (``rows``, one per
    position) in ``row_counts``, reset to 0 when unflagging. An edge listed twice is counted
    once."""
    for i in range(len(pos)):
        if on:
            row_counts[rows[i]] += not flags[pos[i]]
            flags[pos[i]] = True
        else:
            flags[pos[i]] = False
            row_counts[rows[i]] = 0
    for i in range(len(reverse_pos)):
        reverse_flags[reverse_pos[i]] = on


@njit(cache=True, nogil=True)
def mark_sampled(state, ids):  # pragma: no cover - compiled
    """Set ``state[ids]`` to :data:`SAMPLED`; return how many of them already were (a repeated
    id counts once per repeat)."""
    repeats = 0
    for i in range(len(ids)):
        repeats += state[ids[i]] == SAMPLED
        state[ids[i]] = SAMPLED
    return repeats
