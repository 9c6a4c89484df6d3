"""Candidate-restricted ranking (cold items rank among the cold items only) against numpy."""
import numpy as np
import pytest
import scipy.sparse as sp

from hetrec.eval import topn_metrics


def reference(scores, test, exclude, candidates, ns):
    """A straightforward per-user loop: rank the candidates (minus excluded), ties by index."""
    out = {f"{m}@{n}": [] for n in ns for m in ("P", "R", "HR", "NDCG")}
    test, exclude = test.toarray() > 0, exclude.toarray() > 0
    for u in range(scores.shape[0]):
        rel = set(np.flatnonzero(test[u]).tolist())
        if not rel:
            continue
        pool = [i for i in candidates if not exclude[u, i]]
        ranked = sorted(pool, key=lambda i: (-scores[u, i], i))
        for n in ns:
            top = ranked[:n]
            hits = [1.0 if i in rel else 0.0 for i in top]
            dcg = sum(h / np.log2(r + 2) for r, h in enumerate(hits))
            idcg = sum(1 / np.log2(r + 2) for r in range(min(len(rel), n)))
            out[f"P@{n}"].append(sum(hits) / n)
            out[f"R@{n}"].append(sum(hits) / len(rel))
            out[f"HR@{n}"].append(float(sum(hits) > 0))
            out[f"NDCG@{n}"].append(dcg / idcg)
    return {k: float(np.mean(v)) for k, v in out.items()}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_candidate_restriction_matches_a_plain_reference(seed):
    rng = np.random.default_rng(seed)
    nu, ni = 40, 60
    scores = rng.integers(0, 6, size=(nu, ni)).astype(np.float32)  # many ties
    candidates = np.sort(rng.choice(ni, size=15, replace=False))
    test = sp.csr_matrix((rng.random((nu, ni)) < 0.08) & np.isin(np.arange(ni), candidates))
    exclude = sp.csr_matrix(rng.random((nu, ni)) < 0.2)
    exclude = exclude - exclude.multiply(test)  # targets are never excluded
    ns = (5, 10, 20)
    got = topn_metrics(scores=scores, test=test, exclude=exclude, candidates=candidates, ns=ns, chunk_size=7)
    want = reference(scores, test, exclude, candidates, ns)
    for k, v in want.items():
        assert got[k] == pytest.approx(v, abs=1e-9), k


def test_items_outside_the_candidates_never_rank():
    scores = np.array([[9.0, 1.0, 2.0, 3.0]], dtype=np.float32)
    test = sp.csr_matrix(np.array([[0, 1, 0, 0]]))
    # item 0 scores highest but is not a candidate: item 3, then 2, then the target 1
    got = topn_metrics(scores=scores, test=test, candidates=[1, 2, 3], ns=(1, 3))
    assert got["HR@1"] == 0.0 and got["HR@3"] == 1.0
    assert got["NDCG@3"] == pytest.approx(1 / np.log2(4))


@pytest.mark.parametrize("bad", [[], [5], [-1], [0.5]])
def test_bad_candidates_are_refused(bad):
    test = sp.csr_matrix(np.eye(3, 5))
    with pytest.raises(ValueError, match="candidates must be"):
        topn_metrics(scores=np.zeros((3, 5)), test=test, candidates=np.array(bad))
