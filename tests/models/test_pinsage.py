"""PinSage: neighbourhoods against exact reference computations, batches, training, ranking."""
import dgl
import numpy as np
import pytest
import torch
from planted_signal import cluster_auc

from hetrec.data import kfold_split, synthetic
from hetrec.models import create_model
from hetrec.models.pinsage import PinSage, seeded_dgl


def expected_visits(A: np.ndarray, num_traversals: int, termination_prob: float) -> np.ndarray:
    """Reference: expected visits of item j by one PinSage walk from item i.

    A walk makes item→user→item steps, each to a uniformly chosen neighbour, and stops after
    each step with ``termination_prob``; step t happens with probability (1-p)^(t-1), so the
    expected visit counts are  sum_t (1-p)^(t-1) P^t  with P the one-step transition matrix.
    """
    items_to_users = A.T / A.T.sum(1, keepdims=True)
    users_to_items = A / A.sum(1, keepdims=True)
    P = items_to_users @ users_to_items
    return sum((1 - termination_prob) ** (t - 1) * np.linalg.matrix_power(P, t)
               for t in range(1, num_traversals + 1))


def bipartite(pairs):
    pairs = np.asarray(pairs)
    return dgl.heterograph({("user", "interacts", "item"): (pairs[:, 0], pairs[:, 1]),
                            ("item", "interacted_by", "user"): (pairs[:, 1], pairs[:, 0])})


def dense_weights(frontier, n):
    W = np.zeros((n, n))
    src, dst = frontier.edges()
    W[dst.numpy(), src.numpy()] = frontier.edata["weights"].numpy()
    return W


# a ring of 4 users over 6 items, item 3 with a single user: unequal, known visit rates
RING = [[0, 0], [0, 1], [0, 2], [1, 2], [1, 3], [2, 4], [2, 5], [3, 5], [3, 0], [3, 4]]


@pytest.mark.parametrize("num_traversals,termination_prob", [(1, 0.0), (3, 0.5), (2, 0.2)])
def test_sampler_visit_counts_match_expected_visits(num_traversals, termination_prob):
    g = bipartite(RING)
    A = np.zeros((4, 6))
    A[np.asarray(RING)[:, 0], np.asarray(RING)[:, 1]] = 1
    walks = 20000
    sampler = dgl.sampling.PinSAGESampler(g, "item", "user", num_traversals, termination_prob,
                                          walks, 6)
    with seeded_dgl(0):
        W = dense_weights(sampler(torch.arange(6)), 6)
    E = expected_visits(A, num_traversals, termination_prob)
    assert np.all(W[E == 0] == 0)  # never an unreachable neighbour
    np.testing.assert_allclose(W / walks, E, atol=0.03)
    if termination_prob == 0.0:  # every walk makes every step: visit totals are exact
        np.testing.assert_array_equal(W.sum(1), walks * num_traversals)


def test_sampler_keeps_the_most_visited_neighbours():
    g = bipartite(RING)
    A = np.zeros((4, 6))
    A[np.asarray(RING)[:, 0], np.asarray(RING)[:, 1]] = 1
    k, walks = 2, 5000
    sampler = dgl.sampling.PinSAGESampler(g, "item", "user", 3, 0.5, walks, k)
    with seeded_dgl(1):
        W = dense_weights(sampler(torch.arange(6)), 6)
    E = expected_visits(A, 3, 0.5)
    for i in range(6):
        chosen = W[i] > 0
        assert chosen.sum() == k
        # everything kept is visited (in expectation) at least as often as anything dropped
        assert E[i, chosen].min() >= E[i, ~chosen].max() - 0.03


def test_python_walk_reference_agrees_on_top_neighbours():
    """A literal random-walk reference (count visits, take the top-k) on a tiny graph."""
    g = bipartite(RING)
    users_of = {i: [u for u, j in RING if j == i] for i in range(6)}
    items_of = {u: [j for v, j in RING if v == u] for u in range(4)}
    rng = np.random.default_rng(0)
    walks, T, p, k = 3000, 3, 0.5, 2
    counts = np.zeros((6, 6))
    for i in range(6):
        for _ in range(walks):
            cur = i
            for _ in range(T):
                u = users_of[cur][rng.integers(len(users_of[cur]))]
                cur = items_of[u][rng.integers(len(items_of[u]))]
                counts[i, cur] += 1
                if rng.random() < p:
                    break
    sampler = dgl.sampling.PinSAGESampler(g, "item", "user", T, p, walks, k)
    with seeded_dgl(2):
        W = dense_weights(sampler(torch.arange(6)), 6)
    np.testing.assert_allclose(W.sum(1) / walks, np.sort(counts, 1)[:, -k:].sum(1) / walks,
                               atol=0.08)
    for i in range(6):
        top_ref = set(np.argsort(-counts[i])[:k])
        gap = np.sort(counts[i])[-k] - np.sort(counts[i])[-k - 1]
        if gap > 0.05 * walks:  # clear winners must agree exactly
            assert set(np.flatnonzero(W[i])) == top_ref


def make_model(split, **kw):
    torch.manual_seed(0)
    model = create_model("pinsage", **kw)
    model.setup(split)
    return model


def test_model_walks_training_interactions_only(split):
    model = make_model(split)
    assert isinstance(model, PinSage)
    assert model.bipartite.num_edges("interacts") == split.train.nnz
    # inference neighbourhoods: only items reachable through training co-interactions
    A = split.train.toarray()
    reach = (A.T @ A) > 0
    reach = reach | (reach.astype(int) @ reach.astype(int) > 0)
    reach = reach | (reach.astype(int) @ reach.astype(int) > 0)  # up to 4 hops >= 3 traversals
    src, dst = model.inference_graph.edges()
    assert reach[dst.numpy(), src.numpy()].all()


def test_item_features_are_id_plus_attribute_means(split):
    model = make_model(split)
    g = split.train_graph
    assert set(model._attr_keys) == {"item__has_category__category", "item__tagged_with__tag"}
    items = torch.tensor([0, 5, 7])
    expected = model.item_id.weight[items].clone()
    for key, et in [("item__has_category__category", ("item", "has_category", "category")),
                    ("item__tagged_with__tag", ("item", "tagged_with", "tag"))]:
        for row, i in enumerate(items.tolist()):
            attrs = g.successors(i, etype=et)
            if len(attrs):
                expected[row] += model.attr_emb[key].weight[attrs].mean(0)
    torch.testing.assert_close(model.item_features(items), expected)


def test_batches_reproducible_and_hide_the_positive_pair(split):
    model = make_model(split, batch_size=40)
    a = list(model.train_batches(torch.Generator().manual_seed(3)))
    b = list(model.train_batches(torch.Generator().manual_seed(3)))
    assert len(a) == len(b) == -(-len(model.query_items) // 40)
    for x, y in zip(a, b):
        assert torch.equal(x.positive, y.positive)
        for bx, by in zip(x.blocks, y.blocks):
            assert torch.equal(bx.srcdata[dgl.NID], by.srcdata[dgl.NID])
            assert torch.equal(bx.edata["weights"], by.edata["weights"])
    batch = a[0]
    A = split.train.toarray()
    out = batch.blocks[-1].dstdata[dgl.NID]
    q, p = out[batch.query], out[batch.positive]
    assert ((A[:, q.numpy()] * A[:, p.numpy()]).sum(0) > 0).all()  # positives co-interacted
    for block in batch.blocks:
        src, dst = block.edges()
        pairs = set(zip(block.srcdata[dgl.NID][src].tolist(), block.dstdata[dgl.NID][dst].tolist()))
        for qi, pi in zip(q.tolist(), p.tolist()):
            if qi != pi:
                assert (qi, pi) not in pairs and (pi, qi) not in pairs


def test_user_vector_is_mean_of_train_items(split):
    model = make_model(split)
    model.eval()
    user, item = model.embeddings()
    h = model.item_embeddings()
    A = torch.from_numpy(split.train.toarray())
    expected = (A @ h) / A.sum(1, keepdim=True).clamp(min=1)
    torch.testing.assert_close(user[:, :-1], expected)
    torch.testing.assert_close(item[:, -1], model.bias.detach())
    assert model.scores(torch.arange(3)).shape == (3, split.num_items)


def mean_loss(model, batches):
    with torch.no_grad():
        return float(np.mean([model.loss(b).loss.item() for b in batches]))


def train(model, steps, lr=0.01, seed=0):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    done = 0
    while done < steps:
        for batch in model.train_batches(gen):
            out = model.loss(batch)
            assert torch.isfinite(out.loss) and "hinge" in out.logs
            opt.zero_grad()
            out.loss.backward()
            opt.step()
            done += 1
            if done == steps:
                break


def test_loss_falls_and_planted_cluster_ranked_above_chance():
    # the item category *is* the planted cluster: drop it from the graph so that the signal
    # has to come from interactions (and cluster-correlated tags) through training
    g = synthetic(num_users=60, num_items=80, num_interactions=1500, seed=0)
    g = dgl.edge_type_subgraph(g, [et for et in g.canonical_etypes if "category" not in et])
    split = kfold_split(g, k=5, seed=0)[0]
    model = make_model(split, batch_size=80)
    fixed = list(model.train_batches(torch.Generator().manual_seed(123)))
    before, auc_before = mean_loss(model, fixed), cluster_auc(model, g, split)
    train(model, steps=10)
    after, auc_after = mean_loss(model, fixed), cluster_auc(model, g, split)
    assert after < before - 0.05
    assert auc_after > 0.7 and auc_after > auc_before + 0.05
