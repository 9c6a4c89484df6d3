"""EASE and GF-CF against straightforward dense numpy implementations of their papers' closed forms."""
import numpy as np
import pytest
import torch
from test_classic import chance_precision, cluster_share_of_top, train_only

from hetrec.eval import topn_metrics
from hetrec.models import create_model
from hetrec.models._memory import check_dense_fits


def dense_train(split):
    return (split.train.toarray() > 0).astype(np.float64)


def reference_ease(x, lam):
    """Steck (2019), Eq. 8, with numpy's general inverse over every item."""
    p = np.linalg.inv(x.T @ x + lam * np.eye(x.shape[1]))
    b = -p / np.diag(p)[None, :]
    np.fill_diagonal(b, 0.0)
    return x @ b


@pytest.mark.parametrize("lam", [1.0, 50.0])
def test_ease_equals_the_closed_form(split, lam):
    model = create_model("ease", reg_weight=lam)
    assert not model.trainable
    model.setup(train_only(split))
    np.testing.assert_allclose(model.scores(torch.arange(split.num_users)).numpy(),
                               reference_ease(dense_train(split), lam), rtol=1e-4, atol=1e-5)


def test_ease_items_without_training_interactions_score_zero(split):
    """Leaving them out of the inverse is exact: their weights in the full closed form are 0."""
    x = dense_train(split)
    x[:, :5] = 0.0  # five items nobody has in training
    import scipy.sparse as sp

    empty = train_only(split)
    empty.train = sp.csr_matrix(x)
    model = create_model("ease", reg_weight=10.0)
    model.setup(empty)
    assert len(model.active_items) == split.num_items - 5
    s = model.scores(torch.arange(split.num_users)).numpy()
    np.testing.assert_allclose(s, reference_ease(x, 10.0), rtol=1e-4, atol=1e-5)
    assert np.all(s[:, :5] == 0)


def test_ease_refuses_what_does_not_fit_before_allocating(split):
    model = create_model("ease", max_memory_gb=1e-6)
    with pytest.raises(ValueError, match=r"ease: .* dense item x item matrices of 80 items need .* max_memory_gb"):
        model.setup(split)
    with pytest.raises(ValueError, match="17,632 items need 3.7 GB"):
        check_dense_fits("ease", 17_632, copies=1, itemsize=12, limit_gb=1.0)
    assert check_dense_fits("ease", 100, copies=2, itemsize=8, limit_gb=1.0) == 160_000


def test_ease_learns_the_planted_clusters(graph, split):
    model = create_model("ease", reg_weight=20.0)
    model.setup(split)
    m = topn_metrics(score_fn=model.scores, exclude=[split.train, split.val], test=split.test, ns=(10,))
    assert m["P@10"] > 2 * chance_precision(split, 10)
    assert cluster_share_of_top(model, graph, split) > 0.5


def reference_gfcf(x, alpha, k):
    du, di = x.sum(1), x.sum(0)
    inv = lambda d: np.divide(1.0, np.sqrt(d), out=np.zeros_like(d), where=d > 0)
    rn = x * inv(du)[:, None] * inv(di)[None, :]
    v = np.linalg.svd(rn)[2][:k].T
    return x @ rn.T @ rn + alpha * (x * inv(di)[None, :]) @ v @ v.T * np.sqrt(di)[None, :]


@pytest.mark.parametrize("alpha, k", [(0.0, 4), (0.3, 10), (1.0, 25)])
def test_gfcf_equals_dense_filters(split, alpha, k):
    model = create_model("gfcf", alpha=alpha, num_factors=k)
    assert not model.trainable
    model.setup(train_only(split))
    np.testing.assert_allclose(model.scores(torch.arange(split.num_users)).numpy(),
                               reference_gfcf(dense_train(split), alpha, k), rtol=1e-4, atol=1e-5)


def test_gfcf_reduces_too_many_factors_and_says_so(split):
    model = create_model("gfcf", num_factors=500)
    with pytest.warns(UserWarning, match="num_factors 500 is not below the number of users .*; using 59"):
        model.setup(split)
    assert model.factors.shape == (split.num_items, min(split.num_users, split.num_items) - 1)


def test_gfcf_same_seed_same_scores(split):
    a, b = create_model("gfcf", num_factors=8, seed=3), create_model("gfcf", num_factors=8, seed=3)
    a.setup(split)
    b.setup(split)
    assert torch.equal(a.scores(torch.arange(10)), b.scores(torch.arange(10)))
