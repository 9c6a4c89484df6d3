"""MostPop and item-kNN against independent numpy computations, and on a planted signal."""
import dataclasses

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from hetrec.eval import topn_metrics
from hetrec.models import create_model
from hetrec.models.classic import cosine_topk


def train_only(split):
    """The split with validation and test removed: setup must not need them."""
    return dataclasses.replace(split, val=None, test=None, val_eids=None, test_eids=None)


def reference_itemknn_scores(train, k, shrink):
    """Dense numpy: cosine of item columns, k best neighbours of each item (ties to the lower
    index, positive only, no self), user score = sum over the user's items."""
    r = (train.toarray() > 0).astype(np.float64)
    co = r.T @ r
    norms = np.sqrt(r.sum(0))
    sim = co / (np.outer(norms, norms) + shrink)
    sim[co == 0] = 0.0
    np.fill_diagonal(sim, 0.0)
    w = np.zeros_like(sim)
    for j in range(sim.shape[1]):
        order = np.lexsort((np.arange(sim.shape[0]), -sim[:, j]))[:k]
        order = order[sim[order, j] > 0]
        w[order, j] = sim[order, j]
    return r @ w


def chance_precision(split, n):
    """Expected P@n of a random ranking: per user, test items / candidate items."""
    excluded = np.diff((split.train + split.val).tocsr().indptr)
    tests = np.diff(split.test.indptr)
    users = tests > 0
    return float(np.mean(tests[users] / (split.num_items - excluded[users])))


def cluster_share_of_top(model, graph, split, n=10):
    """Share of each user's top-n (train items excluded) in the user's preferred cluster."""
    users = torch.arange(split.num_users)
    s = model.scores(users).clone()
    s[torch.from_numpy(split.train.toarray() > 0)] = float("-inf")
    top = torch.topk(s, n, dim=1).indices
    category = graph.nodes["item"].data["category"]
    return float((category[top] == graph.nodes["user"].data["cluster"].unsqueeze(1)).float().mean())


def test_mostpop_equals_numpy_popularity(split):
    model = create_model("mostpop")
    assert not model.trainable and list(model.train_batches(torch.Generator())) == []
    model.setup(train_only(split))
    expected = (split.train.toarray() > 0).sum(0)
    s = model.scores(torch.tensor([0, 5, 7]))
    assert s.shape == (3, split.num_items)
    for row in s:
        np.testing.assert_array_equal(row.numpy(), expected)
    with pytest.raises(RuntimeError):
        model.loss(None)


def test_mostpop_beats_chance_on_skewed_popularity(split):
    model = create_model("mostpop")
    model.setup(split)
    m = topn_metrics(score_fn=model.scores, exclude=[split.train, split.val], test=split.test, ns=(10,))
    assert m["P@10"] > 2 * chance_precision(split, 10)


@pytest.mark.parametrize("k, shrink", [(100, 0.0), (5, 0.0), (3, 2.5)])
def test_itemknn_equals_numpy(split, k, shrink):
    model = create_model("itemknn", k=k, shrink=shrink)
    assert not model.trainable
    model.setup(train_only(split))
    users = torch.arange(split.num_users)
    expected = reference_itemknn_scores(split.train, k, shrink)
    np.testing.assert_allclose(model.scores(users).numpy(), expected, rtol=1e-5, atol=1e-6)
    per_column = np.diff(model.similarity.tocsc().indptr)
    assert per_column.max() <= k
    if k == 5:
        assert per_column.max() == 5  # truncation happened: the case is not vacuous


def test_itemknn_chunking_does_not_change_the_result(split):
    r = split.train
    whole = cosine_topk(r, 7)
    tiny_chunks = cosine_topk(r, 7, block_entries=1)  # one item per chunk
    assert (whole != tiny_chunks).nnz == 0
    assert whole.nnz > 0


def test_itemknn_ties_go_to_the_lower_index():
    # items 1, 2, 3 all have cosine 1 with item 0; with k=2, item 0's neighbours are 1 and 2
    r = sp.csr_matrix(np.array([[1, 1, 1, 1], [0, 0, 0, 0]], dtype=np.float32))
    w = cosine_topk(r, 2).toarray()
    np.testing.assert_allclose(w[:, 0], [0, 1, 1, 0])
    np.testing.assert_allclose(w[:, 3], [1, 1, 0, 0])


def test_itemknn_ranks_the_preferred_cluster(graph, split):
    model = create_model("itemknn")
    model.setup(split)
    m = topn_metrics(score_fn=model.scores, exclude=[split.train, split.val], test=split.test, ns=(10,))
    assert m["P@10"] > 2 * chance_precision(split, 10)
    assert cluster_share_of_top(model, graph, split) > 0.5  # 4 clusters: chance is about 0.25


def reference_similarity(train, similarity, alpha=0.5, shrink=0.0, weighting="none"):
    """Dense numpy: the weighted matrix and the full item x item similarity, straight from the
    formulas of the module docstring (W[i, j]: history item i, candidate j)."""
    r = (train.toarray() > 0).astype(np.float64)
    num_items = r.shape[1]
    if weighting != "none":
        idf = np.maximum(np.log(num_items / (1.0 + r.sum(1))), 0.0)
        w = r * idf[:, None]
        if weighting == "bm25":
            deg = r.sum(0)
            avg = deg[deg > 0].mean()
            length = 0.25 + 0.75 * deg / avg
            w = w * (2.2 / (1.2 * length[None, :] + 1.0)) * (r > 0)
        r = w
    co = r.T @ r
    n = (r * r).sum(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        if similarity == "cosine":
            s = co / (np.sqrt(np.outer(n, n)) + shrink)
        elif similarity == "asymmetric":
            s = co / (np.outer(n ** alpha, n ** (1 - alpha)) + shrink)
        else:
            s = co / (n[:, None] + n[None, :] - co + shrink)
    s = np.nan_to_num(s)
    s[co == 0] = 0.0
    np.fill_diagonal(s, 0.0)
    return s


def keep_topk_per_column(s, k):
    w = np.zeros_like(s)
    for j in range(s.shape[1]):
        order = np.lexsort((np.arange(s.shape[0]), -s[:, j]))[:k]
        order = order[s[order, j] > 0]
        w[order, j] = s[order, j]
    return w


@pytest.mark.parametrize("similarity, alpha, weighting, shrink", [
    ("asymmetric", 0.2, "none", 0.0), ("asymmetric", 0.9, "tfidf", 1.0), ("jaccard", 0.5, "none", 0.5),
    ("cosine", 0.5, "bm25", 0.0), ("jaccard", 0.5, "tfidf", 0.0)])
def test_itemknn_similarities_and_weightings_equal_numpy(split, similarity, alpha, weighting, shrink):
    k = 6
    model = create_model("itemknn", k=k, similarity=similarity, asymmetric_alpha=alpha, weighting=weighting,
                         shrink=shrink)
    model.setup(train_only(split))
    s = reference_similarity(split.train, similarity, alpha, shrink, weighting)
    expected = (split.train.toarray() > 0) @ keep_topk_per_column(s, k)
    np.testing.assert_allclose(model.scores(torch.arange(split.num_users)).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_itemknn_asymmetric_at_one_half_is_cosine(split):
    a = create_model("itemknn", k=10, similarity="asymmetric", asymmetric_alpha=0.5)
    b = create_model("itemknn", k=10)
    a.setup(split)
    b.setup(split)
    np.testing.assert_allclose(a.similarity.toarray(), b.similarity.toarray(), rtol=1e-6)


def test_itemknn_rejects_unknown_choices():
    with pytest.raises(ValueError, match="similarity"):
        create_model("itemknn", similarity="pearson")
    with pytest.raises(ValueError, match="weighting"):
        create_model("itemknn", weighting="idf")


def reference_rp3beta(train, alpha, beta, k, normalize):
    """Dense numpy RP3beta: the three-step walk, popularity penalty, top-k per row, R @ W."""
    r = (train.toarray() > 0).astype(np.float64)
    du, di = r.sum(1), r.sum(0)
    p_ui = np.where(r > 0, np.divide(1.0, du[:, None], out=np.zeros_like(r), where=du[:, None] > 0) ** alpha, 0.0)
    p_iu = np.where(r.T > 0, np.divide(1.0, di[:, None], out=np.zeros_like(r.T), where=di[:, None] > 0) ** alpha, 0.0)
    w = p_iu @ p_ui
    w = w * np.where(di > 0, np.power(np.maximum(di, 1), -beta), 0.0)[None, :]
    np.fill_diagonal(w, 0.0)
    kept = keep_topk_per_column(w.T, k).T  # top-k per row
    if normalize:
        sums = kept.sum(1, keepdims=True)
        kept = np.divide(kept, sums, out=np.zeros_like(kept), where=sums > 0)
    return r @ kept


@pytest.mark.parametrize("alpha, beta, k, normalize", [(1.0, 0.0, 100, False), (0.7, 0.4, 5, False),
                                                       (1.3, 0.8, 8, True)])
def test_rp3beta_equals_numpy(split, alpha, beta, k, normalize):
    model = create_model("rp3beta", alpha=alpha, beta=beta, k=k, normalize=normalize)
    assert not model.trainable
    model.setup(train_only(split))
    expected = reference_rp3beta(split.train, alpha, beta, k, normalize)
    np.testing.assert_allclose(model.scores(torch.arange(split.num_users)).numpy(), expected, rtol=1e-5, atol=1e-7)
    if k == 5:
        assert np.diff(model.similarity.indptr).max() == 5  # truncation happened


def test_rp3beta_chunking_does_not_change_the_result(split):
    a = create_model("rp3beta", alpha=0.9, beta=0.3, k=7)
    b = create_model("rp3beta", alpha=0.9, beta=0.3, k=7, block_entries=1)
    a.setup(split)
    b.setup(split)
    assert (a.similarity != b.similarity).nnz == 0 and a.similarity.nnz > 0


def test_rp3beta_ranks_the_preferred_cluster(graph, split):
    model = create_model("rp3beta")
    model.setup(split)
    m = topn_metrics(score_fn=model.scores, exclude=[split.train, split.val], test=split.test, ns=(10,))
    assert m["P@10"] > 2 * chance_precision(split, 10)
    assert cluster_share_of_top(model, graph, split) > 0.5
