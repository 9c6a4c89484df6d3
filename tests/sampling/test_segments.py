"""The vectorized CSR helpers against direct Python definitions."""
import numpy as np
from scipy import stats

from hetrec.sampling.segments import capped_rows


def _csr(degrees):
    indptr = np.r_[0, np.cumsum(degrees)].astype(np.int64)
    return indptr, np.arange(indptr[-1], dtype=np.int64)


def test_capped_rows_long_rows_uniform_distinct_and_skip_excluded():
    cap = 5
    indptr, eids = _csr([40, 8])  # a long row (> 2 cap) and one in (cap, 2 cap]
    excluded = np.zeros(len(eids), dtype=bool)
    excluded[[3, 4, 45]] = True  # two in the long row, one in the other
    starts, lengths = indptr[:-1], np.diff(indptr)
    usable = np.array([38, 7])
    rng = np.random.default_rng(1)
    hits = np.zeros(len(eids))
    runs = 3000
    for _ in range(runs):
        pos, seg = capped_rows(starts, lengths, usable, cap, rng, eids, excluded)
        assert np.bincount(seg, minlength=2).tolist() == [cap, cap]
        assert len(np.unique(pos)) == len(pos)
        assert not excluded[pos].any()
        assert np.all((pos >= indptr[seg]) & (pos < indptr[seg + 1]))
        hits[pos] += 1
    # inclusion is uniform over the usable edges of each row: cap/38 and cap/7
    for row, n in ((0, 38), (1, 7)):
        ok = [p for p in range(indptr[row], indptr[row + 1]) if not excluded[p]]
        assert stats.chisquare(hits[ok]).pvalue > 1e-3
        assert abs(hits[ok].mean() / runs - cap / n) < 0.01


def test_capped_rows_exactly_cap_distinct_usable_per_row():
    rng = np.random.default_rng(2)
    degrees = [7, 9, 12, 30, 200, 8]  # (cap, 2 cap] and long rows
    indptr, eids = _csr(degrees)
    excluded = np.zeros(len(eids), dtype=bool)
    excluded[rng.choice(len(eids), 60, replace=False)] = True
    rows = np.arange(len(degrees))
    starts, lengths = indptr[rows], np.diff(indptr)
    usable = np.array([np.count_nonzero(~excluded[indptr[r]:indptr[r + 1]]) for r in rows])
    over = np.flatnonzero(usable > 6)
    for _ in range(50):
        pos, seg = capped_rows(starts[over], lengths[over], usable[over], 6, rng, eids, excluded)
        assert np.bincount(seg, minlength=len(over)).tolist() == [6] * len(over)
        assert len(np.unique(pos)) == len(pos) and not excluded[pos].any()
        row = over[seg]
        assert np.all((pos >= indptr[row]) & (pos < indptr[row + 1]))
