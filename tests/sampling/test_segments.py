"""The vectorized CSR helpers against direct Python definitions."""
import numpy as np
from scipy import stats

from hetrec.sampling.segments import gather_segments, sample_segments


def _csr(degrees):
    indptr = np.r_[0, np.cumsum(degrees)].astype(np.int64)
    return indptr, np.arange(indptr[-1], dtype=np.int64)


def test_gather_segments_lists_each_row_in_order():
    indptr, _ = _csr([3, 0, 2, 4])
    rows = np.array([3, 0, 1, 2, 0])
    pos, seg = gather_segments(indptr, rows)
    expected = [(p, i) for i, r in enumerate(rows) for p in range(indptr[r], indptr[r + 1])]
    assert list(zip(pos.tolist(), seg.tolist())) == expected


def test_sample_segments_long_rows_uniform_distinct_and_skip_excluded():
    cap = 5
    indptr, indices = _csr([3, 40, 8])  # short row, long row (> 2 cap), row in (cap, 2 cap]
    eids = indices.copy()
    excluded = np.zeros(len(eids), dtype=bool)
    excluded[[3, 4, 45]] = True  # two in the long row, one in the last row
    excluded_rows = np.array([1, 1, 2])
    rng = np.random.default_rng(1)
    hits = np.zeros(len(eids))
    runs = 3000
    for _ in range(runs):
        pos, seg, deg = sample_segments(indptr, np.array([0, 1, 2]), cap, rng, eids, excluded,
                                        excluded_rows)
        assert deg.tolist() == [3, 38, 7]
        assert np.bincount(seg, minlength=3).tolist() == [3, cap, cap]
        assert len(np.unique(pos)) == len(pos)
        assert not excluded[pos].any()
        assert np.all((pos >= indptr[seg]) & (pos < indptr[seg + 1]))
        hits[pos] += 1
    # inclusion is uniform over the usable edges of the long row: each with prob cap/38
    usable = [p for p in range(indptr[1], indptr[2]) if not excluded[p]]
    chi = stats.chisquare(hits[usable])
    assert chi.pvalue > 1e-3
    assert abs(hits[usable].mean() / runs - cap / 38) < 0.01


def test_capped_rows_exactly_cap_distinct_usable_per_row():
    from hetrec.sampling.segments import capped_rows, row_degrees

    rng = np.random.default_rng(2)
    degrees = [7, 9, 12, 30, 200, 8]  # (cap, 2 cap] and long rows
    indptr, eids = _csr(degrees)
    excluded = np.zeros(len(eids), dtype=bool)
    excluded[rng.choice(len(eids), 60, replace=False)] = True
    rows = np.arange(len(degrees))
    excluded_rows = np.sort(np.searchsorted(indptr, np.flatnonzero(excluded), side="right") - 1)
    starts, lengths, usable = row_degrees(indptr, rows, excluded_rows)
    assert usable.tolist() == [sum(~excluded[indptr[r]:indptr[r + 1]]) for r in rows]
    over = np.flatnonzero(usable > 6)
    for _ in range(50):
        pos, seg = capped_rows(starts[over], lengths[over], usable[over], 6, rng, eids, excluded)
        assert np.bincount(seg, minlength=len(over)).tolist() == [6] * len(over)
        assert len(np.unique(pos)) == len(pos) and not excluded[pos].any()
        row = over[seg]
        assert np.all((pos >= indptr[row]) & (pos < indptr[row + 1]))


def test_first_occurrences_keeps_each_value_once():
    from hetrec.sampling.induced import first_occurrences

    rng = np.random.default_rng(3)
    stamp = rng.integers(-5, 5, 100)  # arbitrary leftover content
    for n in (0, 1, 10, 500):
        ids = rng.integers(0, 100, n)
        got = first_occurrences(ids, stamp)
        assert sorted(got.tolist()) == sorted(set(ids.tolist()))
