import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from hetrec.eval import format_metrics_table, mean_std, topn_metrics


def csr(rows, cols, shape):
    return sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=shape)


def reference_metrics(scores, exclude, test, ns):
    """One user at a time, the textbook way: sort every item, drop excluded ones, cut at N."""
    scores = np.asarray(scores, dtype=np.float64)
    exclude, test = exclude.toarray() > 0, test.toarray() > 0
    per_user = {f"{m}@{n}": [] for n in ns for m in ("P", "R", "HR", "NDCG")}
    for u in range(scores.shape[0]):
        targets = set(np.flatnonzero(test[u]))
        if not targets:
            continue
        candidates = np.flatnonzero(~exclude[u])
        ranked = candidates[np.lexsort((candidates, -scores[u, candidates]))]  # ties: lower id
        for n in ns:
            top = ranked[:n]
            hit = [int(i in targets) for i in top]
            dcg = sum(h / math.log2(r + 2) for r, h in enumerate(hit))
            idcg = sum(1 / math.log2(r + 2) for r in range(min(len(targets), n)))
            per_user[f"P@{n}"].append(sum(hit) / n)
            per_user[f"R@{n}"].append(sum(hit) / len(targets))
            per_user[f"HR@{n}"].append(float(sum(hit) > 0))
            per_user[f"NDCG@{n}"].append(dcg / idcg)
    return {k: float(np.mean(v)) for k, v in per_user.items()}, per_user


def test_hand_computed_cases():
    # 4 users, 8 items; item i of user u has score given below (higher ranks first)
    s = torch.tensor([
        [8, 7, 6, 5, 4, 3, 2, 1],  # user 0: test {0, 1}: all hits at the top
        [8, 7, 6, 5, 4, 3, 2, 1],  # user 1: test {7}: no hit in the top 5
        [8, 7, 6, 5, 4, 3, 2, 1],  # user 2: train {0, 1}, test {3}: ranked 2nd after exclusion
        [1, 1, 1, 1, 1, 1, 1, 1],  # user 3: no test item: not evaluated
    ], dtype=torch.float32)
    train = csr([2, 2], [0, 1], (4, 8))
    test = csr([0, 0, 1, 2], [0, 1, 7, 3], (4, 8))
    m = topn_metrics(scores=s, exclude=train, test=test, ns=(2, 5), per_user=True)
    assert m["num_users"] == 3
    pu = m["per_user"]
    np.testing.assert_array_equal(pu["users"], [0, 1, 2])
    d = [1 / math.log2(r + 1) for r in range(1, 6)]
    np.testing.assert_allclose(pu["P@2"], [1.0, 0.0, 0.5])
    np.testing.assert_allclose(pu["P@5"], [2 / 5, 0.0, 1 / 5])  # divided by N, not min(N, |R|)
    np.testing.assert_allclose(pu["R@2"], [1.0, 0.0, 1.0])
    np.testing.assert_allclose(pu["R@5"], [1.0, 0.0, 1.0])
    np.testing.assert_allclose(pu["HR@5"], [1.0, 0.0, 1.0])
    np.testing.assert_allclose(pu["NDCG@2"], [1.0, 0.0, d[1] / d[0]])
    # fewer test items than N: IDCG over min(|R|, N) = 1 position
    np.testing.assert_allclose(pu["NDCG@5"], [1.0, 0.0, d[1]])
    assert m["P@5"] == pytest.approx((2 / 5 + 1 / 5) / 3)
    assert m["NDCG@5"] == pytest.approx((1 + d[1]) / 3)
    assert m["HR@2"] == pytest.approx(2 / 3)


def test_cutoff_larger_than_catalogue_counts_n_in_precision():
    s = torch.tensor([[3.0, 2.0, 1.0]])
    m = topn_metrics(scores=s, test=csr([0], [2], (1, 3)), ns=(5,))
    assert m["P@5"] == pytest.approx(1 / 5)
    assert m["R@5"] == 1.0 and m["HR@5"] == 1.0
    assert m["NDCG@5"] == pytest.approx(1 / math.log2(4))


@pytest.mark.parametrize("chunk_size", [1, 7, 1024])
def test_matches_per_user_loop_on_random_data(chunk_size):
    rng = np.random.default_rng(0)
    nu, ni, d = 50, 40, 8
    user_emb, item_emb = torch.randn(nu, d, dtype=torch.float64), torch.randn(ni, d, dtype=torch.float64)
    dense = rng.random((nu, ni))
    train = sp.csr_matrix((dense < 0.3).astype(np.float32))
    val = sp.csr_matrix(((dense >= 0.3) & (dense < 0.35)).astype(np.float32))
    is_test = (dense >= 0.35) & (dense < 0.5)
    is_test[:3] = False  # users without test items are skipped
    test = sp.csr_matrix(is_test.astype(np.float32))
    ns = (1, 5, 10, 20)
    expected, expected_pu = reference_metrics((user_emb @ item_emb.T).float().numpy(), train + val, test, ns)
    got = topn_metrics(user_emb, item_emb, [train, val], test, ns, chunk_size=chunk_size, per_user=True)
    assert got["num_users"] == nu - 3
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-12), key
        np.testing.assert_allclose(got["per_user"][key], expected_pu[key], atol=1e-12)
    assert expected["P@10"] > 0  # the case is not vacuous

    # the three ways of giving scores agree
    s = user_emb @ item_emb.T
    by_scores = topn_metrics(scores=s.numpy(), exclude=train + val, test=test, ns=ns, chunk_size=chunk_size)
    by_fn = topn_metrics(score_fn=lambda ids: s[ids], exclude=[train, val], test=test, ns=ns,
                         chunk_size=chunk_size)
    for key in expected:
        assert by_scores[key] == pytest.approx(got[key], abs=1e-12)
        assert by_fn[key] == pytest.approx(got[key], abs=1e-12)


def test_ties_follow_item_index_and_match_reference():
    rng = np.random.default_rng(1)
    nu, ni = 30, 25
    scores = rng.integers(0, 3, size=(nu, ni)).astype(np.float32)  # heavy ties, across the cut
    dense = rng.random((nu, ni))
    train = sp.csr_matrix((dense < 0.2).astype(np.float32))
    test = sp.csr_matrix(((dense >= 0.2) & (dense < 0.45)).astype(np.float32))
    expected, _ = reference_metrics(scores, train, test, (3, 5, 10))
    got = topn_metrics(scores=scores, exclude=train, test=test, ns=(3, 5, 10), chunk_size=8)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-12), key
    # all-equal scores: the lowest item index wins
    flat = torch.zeros(2, 10)
    m = topn_metrics(scores=flat, test=csr([0, 1], [0, 9], (2, 10)), ns=(1,), per_user=True)
    np.testing.assert_array_equal(m["per_user"]["HR@1"], [1.0, 0.0])


def test_excluded_items_never_enter_the_top_n():
    # train items have the highest scores; if they leaked into the ranking the test items
    # (scored just below) would be pushed out of the top 3
    nu, ni = 20, 30
    rng = np.random.default_rng(2)
    train_rows, train_cols, test_rows, test_cols = [], [], [], []
    s = torch.rand(nu, ni)
    for u in range(nu):
        items = rng.permutation(ni)
        tr, te = items[:5], items[5:8]
        s[u, tr] += 10.0
        s[u, te] += 5.0
        train_rows += [u] * 5
        train_cols += list(tr)
        test_rows += [u] * 3
        test_cols += list(te)
    train, test = csr(train_rows, train_cols, (nu, ni)), csr(test_rows, test_cols, (nu, ni))
    m = topn_metrics(scores=s, exclude=train, test=test, ns=(3,))
    assert m["P@3"] == 1.0 and m["NDCG@3"] == pytest.approx(1.0)
    unexcluded = topn_metrics(scores=s, test=test, ns=(3,))
    assert unexcluded["P@3"] == 0.0


def test_fewer_candidates_than_n_are_not_hits():
    # user 0 has every item but one excluded; the test item is also (wrongly) in train: no hit
    train = csr([0, 0, 0], [0, 1, 2], (1, 4))
    test = csr([0, 0], [1, 3], (1, 4))
    m = topn_metrics(scores=torch.tensor([[4.0, 3.0, 2.0, 1.0]]), exclude=train, test=test, ns=(3,))
    assert m["P@3"] == pytest.approx(1 / 3)
    assert m["R@3"] == pytest.approx(1 / 2)


def test_caller_scores_are_not_modified():
    s = torch.arange(12, dtype=torch.float32).view(3, 4)
    before = s.clone()
    topn_metrics(scores=s, exclude=csr([0, 1], [3, 2], (3, 4)), test=csr([0, 2], [0, 1], (3, 4)))
    # a score_fn may return a view of the model's own tensor (here a slice, ids are 0..2)
    topn_metrics(score_fn=lambda ids: s[int(ids[0]):int(ids[-1]) + 1],
                 exclude=csr([0, 1], [3, 2], (3, 4)), test=csr([0, 1, 2], [0, 1, 1], (3, 4)))
    assert torch.equal(s, before)


def test_bad_input_is_rejected():
    test = csr([0], [1], (2, 3))
    s = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="exactly one"):
        topn_metrics(test=test)
    with pytest.raises(ValueError, match="exactly one"):
        topn_metrics(torch.zeros(2, 4), torch.zeros(3, 4), test=test, scores=s)
    with pytest.raises(ValueError, match="shape"):
        topn_metrics(scores=torch.zeros(2, 4), test=test)
    with pytest.raises(ValueError, match="shape"):
        topn_metrics(scores=s, exclude=csr([0], [0], (2, 4)), test=test)
    with pytest.raises(ValueError, match="NaN"):
        topn_metrics(scores=torch.tensor([[0.0, float("nan"), 0.0], [0.0, 0.0, 0.0]]), test=test)
    with pytest.raises(ValueError, match="no user"):
        topn_metrics(scores=s, test=sp.csr_matrix((2, 3)))
    with pytest.raises(ValueError, match="cut-offs"):
        topn_metrics(scores=s, test=test, ns=(0,))


def test_mean_std_and_markdown_table():
    folds = [{"P@5": 0.1, "R@5": 0.2, "num_users": 10, "per_user": {}},
             {"P@5": 0.3, "R@5": 0.4, "num_users": 12, "per_user": {}}]
    stats = mean_std(folds)
    assert set(stats) == {"P@5", "R@5", "num_users"}
    assert stats["P@5"][0] == pytest.approx(0.2)
    assert stats["P@5"][1] == pytest.approx(np.std([0.1, 0.3], ddof=1))
    assert mean_std(folds[:1])["R@5"] == (0.2, 0.0)

    table = format_metrics_table(folds, ns=(5,), metrics=("P", "R", "HR"))
    lines = table.splitlines()
    assert lines[0] == "| | P@5 | R@5 | HR@5 |"
    assert lines[2] == "| fold 0 | 0.1000 | 0.2000 | – |"
    assert lines[-1].startswith("| mean ± std | 0.2000 ± 0.1414 | 0.3000 ± 0.1414 | – |")
    by_model = format_metrics_table({"bprmf": folds, "mostpop": folds[0]}, ns=(5,), digits=2)
    assert "| bprmf | 0.20 ± 0.14 | 0.30 ± 0.14 | – | – |" in by_model
    assert "| mostpop | 0.10 | 0.20 | – | – |" in by_model
