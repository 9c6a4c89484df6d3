"""The BPR family (BPR-MF, LightGCN, NGCF): triples, negatives, loss, training on a planted
signal, reproducibility. Model-specific math is in test_lightgcn.py and test_ngcf.py."""
import dataclasses

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from hetrec.batching import BPRBatch
from hetrec.eval import topn_metrics
from hetrec.models import create_model
from hetrec.sampling import ComplementNegativeSampler

BPR_MODELS = ["bprmf", "lightgcn", "ngcf"]


def fit(model, epochs, lr=0.01, seed=0):
    """A minimal training loop (the real one is hetrec.train): per-epoch mean BPR loss."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    history = []
    for _ in range(epochs):
        logs = []
        for batch in model.train_batches(gen):
            out = model.loss(batch)
            opt.zero_grad()
            out.loss.backward()
            opt.step()
            logs.append(out.logs["bpr"])
        history.append(float(np.mean(logs)))
    model.eval()
    model.prepare_scoring()
    return history


def make(name, split, seed=0, **overrides):
    torch.manual_seed(seed)
    model = create_model(name, batch_size=256, **overrides)
    model.setup(dataclasses.replace(split, val=None, test=None, val_eids=None, test_eids=None))
    return model


def test_negatives_are_uniform_over_the_users_non_train_items():
    train = sp.csr_matrix(np.array([[1, 0, 1, 0, 0, 1], [0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 0]],
                                   dtype=np.float32))
    sampler = ComplementNegativeSampler(train)
    gen = torch.Generator().manual_seed(0)
    n = 30_000
    for user, free in [(0, [1, 3, 4]), (1, [0, 1, 2, 3, 4, 5]), (2, [5])]:
        neg = sampler.sample(torch.full((n,), user), gen).numpy()
        counts = np.bincount(neg, minlength=6)
        assert set(np.flatnonzero(counts)) == set(free)
        expected = n / len(free)
        assert np.all(np.abs(counts[free] - expected) < 5 * np.sqrt(expected))
    full = ComplementNegativeSampler(sp.csr_matrix(np.ones((1, 3), dtype=np.float32)))
    with pytest.raises(ValueError, match="every item"):
        full.sample(torch.tensor([0]), gen)


@pytest.mark.parametrize("name", BPR_MODELS)
def test_batches_cover_each_training_interaction_once_and_are_reproducible(name, split):
    model = make(name, split)
    batches = list(model.train_batches(torch.Generator().manual_seed(3)))
    assert all(isinstance(b, BPRBatch) for b in batches)
    assert max(len(b.users) for b in batches) == 256
    users = torch.cat([b.users for b in batches]).numpy()
    pos = torch.cat([b.pos_items for b in batches]).numpy()
    neg = torch.cat([b.neg_items for b in batches]).numpy()
    train = split.train.tocoo()
    assert sorted(zip(users, pos)) == sorted(zip(train.row, train.col))
    dense = split.train.toarray() > 0
    assert not dense[users, neg].any()  # negatives are never training items of the user
    again = list(model.train_batches(torch.Generator().manual_seed(3)))
    assert all(torch.equal(a.neg_items, b.neg_items) and a.seed == b.seed for a, b in zip(batches, again))
    other = list(model.train_batches(torch.Generator().manual_seed(4)))
    assert not torch.equal(batches[0].users, other[0].users)


@pytest.mark.parametrize("name", BPR_MODELS)
def test_loss_falls_and_the_planted_cluster_signal_is_learned(name, graph, split):
    model = make(name, split, embedding_size=32)
    out = model.loss(next(model.train_batches(torch.Generator().manual_seed(0))))
    assert set(out.logs) == {"bpr", "reg"} and out.loss.requires_grad
    history = fit(model, epochs=15)
    assert history[-1] < 0.7 * history[0]
    m = topn_metrics(score_fn=model.scores, exclude=[split.train, split.val], test=split.test, ns=(10,))
    excluded = np.diff((split.train + split.val).indptr)
    tests = np.diff(split.test.indptr)
    chance = np.mean((tests / (split.num_items - excluded))[tests > 0])
    assert m["P@10"] > 2 * chance
    # users prefer one of 4 clusters: their top-10 should lean towards it (chance ~0.25)
    s = model.scores(torch.arange(split.num_users)).clone()
    s[torch.from_numpy(split.train.toarray() > 0)] = float("-inf")
    top = torch.topk(s, 10, dim=1).indices
    cluster = graph.nodes["user"].data["cluster"].unsqueeze(1)
    assert (graph.nodes["item"].data["category"][top] == cluster).float().mean() > 0.45


@pytest.fixture
def one_thread():
    """Bitwise reproducibility needs one thread: with several, some of torch's CPU kernels
    (seen in NGCF's backward) sum in a thread-dependent order and differ in the last bits."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("name", BPR_MODELS)
def test_training_is_reproducible_from_the_seeds(name, split, one_thread):
    a, b = make(name, split, seed=1), make(name, split, seed=1)
    assert fit(a, epochs=2, seed=5) == fit(b, epochs=2, seed=5)
    users = torch.arange(10)
    assert torch.equal(a.scores(users), b.scores(users))
    c = make(name, split, seed=1)
    assert fit(c, epochs=2, seed=6) != fit(make(name, split, seed=1), epochs=2, seed=5)


@pytest.mark.parametrize("name", BPR_MODELS)
def test_scores_are_inner_products_of_the_embeddings(name, split):
    model = make(name, split)
    model.eval()
    with torch.no_grad():
        user_emb, item_emb = model.embeddings()
    assert user_emb.shape[0] == split.num_users and item_emb.shape[0] == split.num_items
    users = torch.tensor([0, 3, 59])
    torch.testing.assert_close(model.scores(users), user_emb[users] @ item_emb.T)


def test_l2_term_is_the_batch_mean_of_layer0_norms(split):
    model = make("bprmf", split, reg_weight=0.5)
    batch = BPRBatch(torch.tensor([0, 1]), torch.tensor([2, 3]), torch.tensor([4, 5]), 0)
    u, i = model.user_embedding.weight, model.item_embedding.weight
    reg = (u[[0, 1]].pow(2).sum() + i[[2, 3, 4, 5]].pow(2).sum()) / 4
    pos, neg = (u[[0, 1]] * i[[2, 3]]).sum(1), (u[[0, 1]] * i[[4, 5]]).sum(1)
    bpr = -torch.log(torch.sigmoid(pos - neg)).mean()
    out = model.loss(batch)
    torch.testing.assert_close(out.loss, bpr + 0.5 * reg)
    assert out.logs["reg"] == pytest.approx(float(reg))
