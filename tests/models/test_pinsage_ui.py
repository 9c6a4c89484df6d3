"""User–item PinSage: neighbourhoods against Python and closed-form references, CONVOLVE against
dense algebra, reproducibility, and learning the planted clusters."""
import numpy as np
import pytest
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from planted_signal import cluster_auc

from hetrec.batching import BPRBatch
from hetrec.data import Split
from hetrec.models import create_model
from hetrec.models.pinsage_ui import PinSageUI, random_walks, top_visited, walk_visits
from hetrec.train import TrainConfig, Trainer

# a ring of 4 users over 6 items, item 3 with a single user, and user 4 / item 6 without any
RING = [[0, 0], [0, 1], [0, 2], [1, 2], [1, 3], [2, 4], [2, 5], [3, 5], [3, 0], [3, 4]]


def tiny_split(pairs=RING, shape=(5, 7)):
    pairs = np.asarray(pairs)
    train = sp.csr_matrix((np.ones(len(pairs), np.float32), (pairs[:, 0], pairs[:, 1])), shape=shape)
    empty = sp.csr_matrix(shape, dtype=np.float32)
    return Split(fold=0, k=5, seed=0, train_graph=None, train=train, val=empty, test=empty,
                 train_eids=np.arange(train.nnz), val_eids=np.zeros(0, int), test_eids=np.zeros(0, int))


def make(split, **kw):
    torch.manual_seed(0)
    model = create_model("pinsage-ui", **kw)
    model.setup(split)
    return model


def dense_weights(model, graph):
    """α as a dense (nodes x nodes) matrix, row = target, column = neighbour."""
    n = model.num_users + model.num_items
    W = np.zeros((n, n))
    src, dst = graph.edges()
    W[dst.numpy(), src.numpy()] = graph.edata["weights"].numpy()
    return W


def expected_visits(R, start, num_traversals, p):
    """Expected visits of every other-type node by one walk from each ``start``-type node: a
    step to the other side with matrix M, back with N; visit t happens with probability
    (1-p)^(t-1), so the expectation is  sum_t (1-p)^(t-1) M (N M)^(t-1)."""
    to_items = R / np.maximum(R.sum(1, keepdims=True), 1)
    to_users = R.T / np.maximum(R.T.sum(1, keepdims=True), 1)
    M, N = (to_items, to_users) if start == "user" else (to_users, to_items)
    return sum((1 - p) ** (t - 1) * M @ np.linalg.matrix_power(N @ M, t - 1) for t in range(1, num_traversals + 1))


@pytest.mark.parametrize("start", ["user", "item"])
def test_counts_equal_a_python_walk_reference_on_the_same_walks(start):
    """The walks, followed and counted in plain Python, against walk_visits + top_visited."""
    model = make(tiny_split())
    forth, back = (model.user_items, model.item_users) if start == "user" else (model.item_users, model.user_items)
    n_start, n_other = forth.shape
    T, p, walks, k = 3, 0.5, 40, 2
    traces = random_walks(forth, back, np.tile(np.arange(n_start), walks), T, p, np.random.default_rng(5))
    assert traces.shape == (n_start * walks, 2 * T)
    adjacency = {(int(u), int(i)) for u, i in RING}
    counts = np.zeros((n_start, n_other), int)
    for row in traces.tolist():
        s = row[0]
        for step in range(1, len(row)):
            if row[step] < 0:
                assert all(x < 0 for x in row[step:])  # a stopped walk stays stopped ...
                assert step % 2 == 0 or step == 1  # ... after a visit (or, isolated, at once)
                break
            a, b = row[step - 1], row[step]
            pair = (a, b) if (step % 2 == 1) == (start == "user") else (b, a)
            assert pair in adjacency  # every step follows a training interaction
            if step % 2 == 1:
                counts[s, row[step]] += 1
    starts, visited = walk_visits(traces)
    np.testing.assert_array_equal(np.bincount(starts * n_other + visited, minlength=counts.size).reshape(counts.shape),
                                  counts)
    s, nbr, alpha = top_visited(starts, visited, n_other, k, np.random.default_rng(0))
    for i in range(n_start):
        mine = nbr[s == i]
        ref = np.sort(counts[i])[::-1]
        assert len(mine) == min(k, (counts[i] > 0).sum())
        np.testing.assert_array_equal(alpha[s == i], counts[i, mine])  # α = visit counts
        np.testing.assert_array_equal(np.sort(alpha[s == i])[::-1], ref[:len(mine)])  # the top k (ties either way)
    assert counts[n_start - 1].sum() == 0  # user 4 / item 6 have no interaction: no walk moves


def test_ties_are_broken_at_random():
    starts, visited = np.zeros(6, np.int64), np.arange(6)  # six neighbours, one visit each
    picks = {tuple(top_visited(starts, visited, 6, 2, np.random.default_rng(seed))[1]) for seed in range(20)}
    assert len(picks) > 5


@pytest.mark.parametrize("num_traversals,p", [(1, 0.5), (3, 0.5), (2, 0.2)])
def test_mean_counts_match_the_closed_form(num_traversals, p):
    walks = 20000
    model = make(tiny_split(), num_neighbors=10, num_traversals=num_traversals, termination_prob=p,
                 inference_random_walks=walks)
    W = dense_weights(model, model.inference_graph) / walks
    R = tiny_split().train.toarray()
    U = model.num_users
    user_part, item_part = W[:U, U:], W[U:, :U]
    for got, start in ((user_part, "user"), (item_part, "item")):
        E = expected_visits(R, start, num_traversals, p)
        assert np.all(got[E == 0] == 0)
        np.testing.assert_allclose(got, E, atol=0.03)
    assert np.all(W[:U, :U] == 0) and np.all(W[U:, U:] == 0)  # neighbours of the other type only
    if num_traversals == 1:  # every walk makes exactly one visit
        np.testing.assert_array_equal((W * walks).sum(1)[R.sum(1).nonzero()[0]], walks)


def test_neighbourhoods_are_of_the_other_type_reachable_and_at_most_T(split):
    T = 4
    model = make(split, num_neighbors=T, num_traversals=3)
    g = model.inference_graph
    U = model.num_users
    src, dst = (t.numpy() for t in g.edges())
    assert np.all((src < U) != (dst < U))
    # item of a user: reached in 1, 3 or 5 steps; user of an item likewise
    R = (split.train.toarray() > 0).astype(int)
    walk3 = R @ R.T @ R
    reach = (R + walk3 + walk3 @ R.T @ R) > 0
    users = dst < U
    assert reach[dst[users], src[users] - U].all() and reach[src[~users], dst[~users] - U].all()
    deg = g.in_degrees().numpy()
    assert deg.max() <= T
    active = np.r_[R.sum(1), R.sum(0)] > 0
    assert np.all(deg[active] >= 1) and np.all(deg[~active] == 0)
    assert np.all(g.edata["weights"].numpy() >= 1)


def reference_propagate(model, W, normalize):
    """Every layer with dense matrices: n = (A relu(H Q^T + q)) / rowsum(A), z = relu([H, n] W^T + w)."""
    H = torch.cat([model.user_embedding.weight, model.item_embedding.weight]).detach().double()
    A = torch.from_numpy(W)
    layers = [H]
    for conv in model.convs:
        Q, q = conv.Q.weight.detach().double(), conv.Q.bias.detach().double()
        Wk, wk = conv.W.weight.detach().double(), conv.W.bias.detach().double()
        n = (A @ F.relu(H @ Q.T + q)) / A.sum(1, keepdim=True).clamp(min=1)
        H = F.relu(torch.cat([H, n], 1) @ Wk.T + wk)
        if normalize:
            H = F.normalize(H, dim=1)
        layers.append(H)
    return layers


@pytest.mark.parametrize("normalize,combine,scale", [(True, "concat", False), (False, "concat", False),
                                                     (True, "concat", True), (True, "last", False),
                                                     (True, "head", False)])
def test_convolve_equals_a_dense_reference(normalize, combine, scale, split):
    model = make(split, embedding_size=6, num_layers=2, normalize=normalize, combine=combine, layer_scale=scale)
    with torch.no_grad():
        for conv in model.convs:
            conv.Q.bias.normal_(0, 0.1)
            conv.W.bias.normal_(0, 0.1)
        if scale:  # s_k, away from their initial 1
            assert torch.equal(model.layer_scales, torch.ones(2))
            model.layer_scales.copy_(torch.tensor([2.5, -0.5]))
    model.eval()
    users, items = model.embeddings()
    layers = reference_propagate(model, dense_weights(model, model.inference_graph), normalize)
    if scale:  # e = h0 || s1 h1 || s2 h2; the next layer still takes the unscaled h
        layers = [layers[0], 2.5 * layers[1], -0.5 * layers[2]]
    ref = torch.cat(layers, 1) if combine == "concat" else layers[-1]
    if combine == "head":  # h0 || G2 relu(G1 h^K + g)
        g1, g2 = model.head[0], model.head[2]
        z = F.relu(layers[-1] @ g1.weight.detach().double().T + g1.bias.detach().double())
        ref = torch.cat([layers[0], z @ g2.weight.detach().double().T], 1)
    U = model.num_users
    assert users.shape == (U, 6 * {"concat": 3, "last": 1, "head": 2}[combine])
    torch.testing.assert_close(users.double(), ref[:U], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(items.double(), ref[U:], rtol=1e-5, atol=1e-6)
    scores = model.scores(torch.arange(3))
    torch.testing.assert_close(scores.double(), ref[:3] @ ref[U:].T, rtol=1e-4, atol=1e-5)


def test_training_neighbourhoods_follow_the_batch_seed(split):
    model = make(split, embedding_size=8)
    batch = BPRBatch(torch.tensor([0, 1]), torch.tensor([0, 2]), torch.tensor([3, 0]), seed=2**61 + 7)
    a, b = model.neighbourhoods(batch.seed, 10), model.neighbourhoods(batch.seed, 10)
    c = model.neighbourhoods(batch.seed + 1, 10)
    assert all(torch.equal(x, y) for x, y in zip(a.edges(), b.edges()))
    assert torch.equal(a.edata["weights"], b.edata["weights"])
    assert not (a.num_edges() == c.num_edges() and all(torch.equal(x, y) for x, y in zip(a.edges(), c.edges()))
                and torch.equal(a.edata["weights"], c.edata["weights"]))
    model.train()
    x, y = model.train_embeddings(batch)[0], model.train_embeddings(batch)[0]
    assert torch.equal(x, y)
    assert not torch.equal(x, model.train_embeddings(batch._replace(seed=3))[0])
    model.eval()  # evaluation mode: the fixed inference neighbourhoods
    assert torch.equal(model.train_embeddings(batch)[0], model.embeddings()[0])


def test_same_seed_same_trained_parameters(split):
    def fit():
        model = make(split, batch_size=128, embedding_size=8)
        cfg = TrainConfig(epochs=2, patience=5, max_batches=3, progress=False, seed=3)
        Trainer(cfg, log=lambda m: None).fit(model, split, evaluate_test=False)
        return model.state_dict()

    a, b = fit(), fit()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_learns_the_planted_clusters(graph, split):
    model = make(split, batch_size=128, embedding_size=16)
    assert isinstance(model, PinSageUI)
    before = cluster_auc(model, graph, split)
    cfg = TrainConfig(epochs=6, patience=6, progress=False, seed=0, lr=1e-2, ns=(10,), metric="NDCG@10")
    Trainer(cfg, log=lambda m: None).fit(model, split, evaluate_test=False)
    after = cluster_auc(model, graph, split)
    assert after > 0.75 and after > before + 0.1


@pytest.mark.parametrize("settings, message", [
    (dict(combine="mean"), "combine"), (dict(num_neighbors=0), "num_neighbors"),
    (dict(termination_prob=0.0), "termination_prob"), (dict(inference_random_walks=0), "inference_random_walks")])
def test_settings_are_checked(settings, message):
    with pytest.raises(ValueError, match=message):
        create_model("pinsage-ui", **settings)


def test_layer_scale_needs_the_concatenation(split):
    with pytest.raises(ValueError, match="layer_scale=True needs combine='concat'"):
        make(split, layer_scale=True, combine="last")
