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
