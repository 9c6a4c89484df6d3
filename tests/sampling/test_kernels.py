"""The compiled loops of the dense sampler against closed forms and straightforward references."""
import itertools

import numpy as np
import pytest
from scipy import stats

from hetrec.sampling import kernels


def _draws(budget, width, runs, seed=0):
    """``runs`` draws of ``weighted_draws`` over one group (candidates 0..n-1)."""
    n = len(budget)
    cand, seg = np.arange(n, dtype=np.int64), np.array([0, n], dtype=np.int64)
    picks, pick_cut = np.empty(width, dtype=np.int64), np.empty(2, dtype=np.int64)
    rest, rest_cut = np.empty(n + 1, dtype=np.int64), np.empty(2, dtype=np.int64)
    seeds = np.random.default_rng(seed).integers(0, 2**63, runs)
    out = np.empty((runs, min(width, n)), dtype=np.int64)
    for r in range(runs):
        kernels.weighted_draws(cand, seg, budget, width, np.uint64(seeds[r]), picks, pick_cut, rest, rest_cut)
        out[r] = picks[:pick_cut[1]]
        left = rest[:rest_cut[1]]
        assert sorted(left.tolist() + out[r].tolist()) == list(range(n))  # every candidate once
        assert (np.diff(left) > 0).all()  # the others keep their order
    return out


def _successive(weights, order):
    """Probability that one-at-a-time weighted draws without replacement pick ``order``."""
    w, p = np.array(weights, dtype=float), 1.0
    for v in order:
        p *= w[v] / w.sum()
        w[v] = 0.0
    return p


@pytest.mark.parametrize("width", [1, 2, 3])
def test_weighted_draws_follow_successive_sampling_of_squared_budgets(width):
    # eight candidates, so that the reservoir skips (exponential jumps) are exercised
    budget = np.array([1.0, 0.5, 2.0, 0.25, 1.5, 0.75, 0.1, 1.2])
    runs = 20000
    got = _draws(budget, width, runs)
    w = budget**2
    if width <= 2:  # every ordered tuple against its exact probability
        tuples = list(itertools.permutations(range(len(budget)), width))
        index = {t: i for i, t in enumerate(tuples)}
        counts = np.bincount([index[tuple(row)] for row in got], minlength=len(tuples))
        expected = np.array([_successive(w, t) for t in tuples]) * runs
    else:  # inclusion counts of each candidate
        counts = np.bincount(got.ravel(), minlength=len(budget))
        expected = np.array([sum(_successive(w, t) for t in itertools.permutations(range(len(budget)), width)
                                 if v in t) for v in range(len(budget))]) * runs
        counts, expected = counts / width, expected / width
    keep = expected > 5  # chi-square's usual validity condition
    rest = (~keep).sum()
    obs = np.r_[counts[keep], counts[~keep].sum()] if rest else counts[keep]
    exp = np.r_[expected[keep], expected[~keep].sum()] if rest else expected[keep]
    assert stats.chisquare(obs, exp * obs.sum() / exp.sum()).pvalue > 1e-4
    # and it is b², not b: the linear weights are rejected on the same draws
    if width == 1:
        lin = budget / budget.sum() * runs
        assert stats.chisquare(np.bincount(got[:, 0], minlength=len(budget)), lin).pvalue < 1e-6


def test_weighted_draws_group_by_group_and_small_groups_whole():
    budget = np.linspace(0.5, 2.0, 30)
    cand = np.array([3, 1, 4, 15, 9, 2, 6, 5, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29], dtype=np.int64)
    seg = np.array([0, 2, 2, 18], dtype=np.int64)  # groups of 2, 0 and 16 candidates
    picks, pick_cut = np.empty(12, dtype=np.int64), np.empty(4, dtype=np.int64)
    rest, rest_cut = np.empty(19, dtype=np.int64), np.empty(4, dtype=np.int64)
    kernels.weighted_draws(cand, seg, budget, 4, np.uint64(5), picks, pick_cut, rest, rest_cut)
    assert pick_cut.tolist() == [0, 2, 2, 6] and rest_cut.tolist() == [0, 0, 0, 12]
    assert picks[:2].tolist() == [3, 1]  # at most width: all of them, in their order
    big = set(cand[2:].tolist())
    assert set(picks[2:6].tolist()) <= big and len(set(picks[2:6].tolist())) == 4
    assert set(rest[:12].tolist()) == big - set(picks[2:6].tolist())


def _spread(indptr, nbrs, rows, cap, excluded, state, seed=1):
    row_excluded = np.array([excluded[indptr[r]:indptr[r + 1]].sum() for r in range(len(indptr) - 1)])
    budget = np.zeros(state.shape)
    buf, n = kernels.spread_budget(indptr, nbrs, rows, row_excluded.astype(np.int32), cap, np.uint64(seed), excluded,
                                   state, budget, np.empty(seed % 3, dtype=np.int64))  # too small: replaced
    return budget, buf[:n]


def test_spread_budget_against_a_loop():
    rng = np.random.default_rng(4)
    n_nodes, n_rows = 40, 12
    lengths = rng.integers(0, 9, n_rows)
    indptr = np.r_[0, np.cumsum(lengths)].astype(np.int64)
    nbrs = rng.integers(0, n_nodes, indptr[-1]).astype(np.int64)  # repeats: multi-edges
    excluded = rng.random(len(nbrs)) < 0.25
    state = np.zeros(n_nodes, dtype=np.int8)
    state[rng.choice(n_nodes, 6, replace=False)] = kernels.SAMPLED
    state[rng.choice(np.flatnonzero(state == 0), 4, replace=False)] = kernels.CANDIDATE
    before = state.copy()
    rows = np.array([5, 0, 7, 3, 11], dtype=np.int64)
    budget, fresh = _spread(indptr, nbrs, rows, -1, excluded, state)
    want, order = np.zeros(n_nodes), []
    for r in rows:  # the definition, one edge at a time
        ok = [p for p in range(indptr[r], indptr[r + 1]) if not excluded[p]]
        for p in ok:
            v = nbrs[p]
            if before[v] != kernels.SAMPLED:
                want[v] += 1 / len(ok)
                if before[v] == kernels.UNSEEN and v not in order:
                    order.append(v)
    np.testing.assert_allclose(budget, want, rtol=1e-12)
    assert fresh.tolist() == order  # new candidates, in the order first reached
    assert (state[fresh] == kernels.CANDIDATE).all()
    assert (state[before == kernels.SAMPLED] == kernels.SAMPLED).all()


def test_spread_budget_capped_rows_pick_uniform_subsets_of_usable_edges():
    # one row of 12 edges (2 excluded): 10 usable, cap 4 -> every 4-subset of the 10 equally likely
    indptr = np.array([0, 12], dtype=np.int64)
    nbrs = np.arange(12, dtype=np.int64)
    excluded = np.zeros(12, dtype=bool)
    excluded[[2, 7]] = True
    usable = [v for v in range(12) if not excluded[v]]
    subsets = {s: i for i, s in enumerate(itertools.combinations(usable, 4))}
    counts = np.zeros(len(subsets))
    runs = 21000
    for seed in range(runs):
        state = np.zeros(12, dtype=np.int8)
        budget, fresh = _spread(indptr, nbrs, np.array([0], dtype=np.int64), 4, excluded, state, seed=seed)
        assert len(fresh) == 4 and np.allclose(budget[fresh], 0.25) and budget.sum() == pytest.approx(1.0)
        counts[subsets[tuple(sorted(fresh.tolist()))]] += 1
    assert stats.chisquare(counts).pvalue > 1e-4
    # and without exclusions the same row picks from all 12
    seen = set()
    for seed in range(300):
        state = np.zeros(12, dtype=np.int8)
        _, fresh = _spread(indptr, nbrs, np.array([0], dtype=np.int64), 4, np.zeros(12, dtype=bool), state, seed)
        seen |= set(fresh.tolist())
    assert seen == set(range(12))


def test_induced_edges_against_a_loop():
    rng = np.random.default_rng(2)
    n_nodes, n_rows = 30, 10
    indptr = np.r_[0, np.cumsum(rng.integers(0, 7, n_rows))].astype(np.int64)
    nbrs = rng.integers(0, n_nodes, indptr[-1]).astype(np.int64)
    eids = rng.permutation(len(nbrs)).astype(np.int64)
    local = np.full(n_nodes, -1, dtype=np.int64)
    inside = rng.choice(n_nodes, 12, replace=False)
    local[inside] = np.arange(12)
    excluded, other = rng.random(len(nbrs)) < 0.3, rng.random(len(nbrs)) < 0.3
    rows, bounds = np.array([1, 4, 2, 9, 0, 7], dtype=np.int64), np.array([0, 4, 6], dtype=np.int64)
    offset = np.array([0, 3], dtype=np.int64)
    room = int((indptr[rows + 1] - indptr[rows]).sum()) + 1
    out = np.empty((3, room), dtype=np.int64)
    cut, differs = np.empty(3, dtype=np.int64), np.zeros(2, dtype=bool)
    kernels.induced_edges(indptr, nbrs, eids, rows, bounds, offset, local, True, excluded, other, out, cut, differs)
    src, dst, eid = out
    for j in range(2):
        want, diff = [], False
        for k, r in enumerate(rows[bounds[j]:bounds[j + 1]]):
            for p in range(indptr[r], indptr[r + 1]):
                if local[nbrs[p]] >= 0:
                    diff |= excluded[p] != other[p]
                    if not excluded[p]:
                        want.append((k, local[nbrs[p]], eids[p] - offset[j]))
        part = slice(cut[j], cut[j + 1])
        assert list(zip(src[part].tolist(), dst[part].tolist(), eid[part].tolist())) == want
        assert differs[j] == diff
