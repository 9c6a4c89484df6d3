"""Attribute maps for cold start (hetrec.models.attrmap, MTHGT's cold_init="map"): the features
against a by-hand loop, the ridge fit against numpy's solve (both solvers), MTHGT's mapped cold
nodes against an independent fit, and the refusals."""
import numpy as np
import pytest
import scipy.sparse as sp
import torch

from hetrec.data import INTERACTED_BY, INTERACTS, ITEM, USER, cold_start_split, synthetic
from hetrec.models import attrmap, create_model
from hetrec.models.coldstart import attribute_matrix


@pytest.fixture(scope="module")
def small():
    return synthetic(num_users=40, num_items=50, num_interactions=700, seed=4)


def by_hand_features(graph, ntype, degree, pair_rows=None):
    """The module docstring's features, one node and one pair at a time."""
    a, _ = attribute_matrix(graph, ntype)
    a = a.tocsr()
    values = [sorted(a.indices[a.indptr[v]:a.indptr[v + 1]].tolist()) for v in range(a.shape[0])]
    pairs = []
    if degree == 2:
        rows = range(a.shape[0]) if pair_rows is None else pair_rows
        pairs = sorted({(x, y) for v in rows for i, x in enumerate(values[v]) for y in values[v][i + 1:]})
    out = np.zeros((a.shape[0], a.shape[1] + len(pairs) + 3))
    for v, vals in enumerate(values):
        for x in vals:
            out[v, x] = 1.0
        for j, (x, y) in enumerate(pairs):
            out[v, a.shape[1] + j] = float(x in vals and y in vals)
        out[v, -3:] = [np.log1p(len(vals)), float(len(vals) > 0), 1.0]
    return out, pairs


@pytest.mark.parametrize("ntype", [ITEM, USER])
@pytest.mark.parametrize("degree", [1, 2])
def test_features_match_a_by_hand_loop(small, ntype, degree):
    fit = np.arange(0, small.num_nodes(ntype), 2)  # pairs only from every other node
    got, _, pairs = attrmap.attribute_features(small, ntype, degree, pair_rows=fit)
    want, want_pairs = by_hand_features(small, ntype, degree, fit)
    np.testing.assert_array_equal(got.toarray(), want)
    if degree == 2:
        assert [tuple(p) for p in pairs.tolist()] == want_pairs
        assert len(want_pairs) > 0
        # a pair of the other nodes only has no column: at least one node loses a product
        _, all_pairs = by_hand_features(small, ntype, 2)
        assert len(all_pairs) > len(want_pairs)


@pytest.mark.parametrize("dense_max", [10_000, 0])  # the dense solve, then conjugate gradients
def test_ridge_fit_solves_the_normal_equations(dense_max):
    rng = np.random.default_rng(0)
    x = sp.random(300, 40, density=0.1, random_state=1, format="csr")
    x.data[:] = 1.0
    z = rng.normal(size=(300, 6))
    z[:, 2] = 0.0  # a zero target column converges at once
    want = np.linalg.solve((x.T @ x).toarray() + 3.0 * np.eye(40), x.T @ z)
    got = attrmap.ridge_fit(x, z, 3.0, dense_max=dense_max)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)
    with pytest.raises(ValueError, match="ridge weight"):
        attrmap.ridge_fit(x, z, 0.0)


def test_too_many_pairs_is_refused(small, monkeypatch):
    monkeypatch.setattr(attrmap, "MAX_PAIRS", 3)
    with pytest.raises(attrmap.TooManyPairs, match="pair columns.*use degree 1"):
        attrmap.attribute_features(small, ITEM, 2)


def trained_like(name, split):
    """A model with random (non-initial) weights: the map then has something to fit."""
    model = create_model(name, num_layers=2)
    model.setup(split)
    torch.manual_seed(0)
    with torch.no_grad():
        for t in model.proj:
            model.proj[t].weight.normal_()
    model.eval()
    return model


def test_mthgt_map_is_a_ridge_fit_of_the_warm_representations(small):
    """cold_init="map": a cold item's representation is x_v W with W fitted by numpy on the items
    that have training interactions (their zero-rule representations as targets); warm nodes keep
    theirs. Degree 2 differs from degree 1."""
    split = cold_start_split(small, "cold-items", k=5, seed=0)[0]
    g, cold = split.train_graph, torch.from_numpy(split.cold)
    model = trained_like("mthgt-coldmap", split)
    got = model.inductive_embeddings(g, {ITEM: cold})
    zero = create_model("mthgt", num_layers=2)
    zero.setup(split)
    zero.load_state_dict(model.state_dict())
    zero.eval()
    ref = zero.inductive_embeddings(g, {ITEM: cold})
    has = g.out_degrees(etype=INTERACTED_BY).numpy() > 0
    fit = np.flatnonzero(has & ~np.isin(np.arange(g.num_nodes(ITEM)), split.cold))
    x, _ = by_hand_features(g, ITEM, 1)
    w = np.linalg.solve(x[fit].T @ x[fit] + 10.0 * np.eye(x.shape[1]), x[fit].T @ ref[ITEM].double().numpy()[fit])
    np.testing.assert_allclose(got[ITEM][cold].numpy(), x[split.cold] @ w, rtol=1e-4, atol=1e-5)
    warm = np.setdiff1d(np.arange(g.num_nodes(ITEM)), split.cold)
    torch.testing.assert_close(got[ITEM][warm], ref[ITEM][warm])
    torch.testing.assert_close(got[USER], ref[USER])
    model2 = trained_like("mthgt-coldmap2", split)
    assert not torch.allclose(model2.inductive_embeddings(g, {ITEM: cold})[ITEM][cold], got[ITEM][cold])


def test_mthgt_map_adds_what_revealed_interactions_change(small):
    """A cold user with revealed interactions: the map's representation (fitted on the users with
    interactions in the graph, by numpy here) plus the difference her interaction edges make to her
    zero-rule representation (the zero rule run on the graph with and without them)."""
    split = cold_start_split(small, "cold-users", k=5, seed=0)[0]
    cold = torch.from_numpy(split.cold)
    bare, revealed = split.graph_with(0), split.graph_with(3)
    assert revealed.num_edges(INTERACTS) > bare.num_edges(INTERACTS)
    model = trained_like("mthgt-coldmap", split)
    zero = create_model("mthgt", num_layers=2)
    zero.setup(split)
    zero.load_state_dict(model.state_dict())
    zero.eval()
    targets = zero.inductive_embeddings(revealed, {USER: cold})[USER]
    delta = targets[cold] - zero.inductive_embeddings(bare, {USER: cold})[USER][cold]
    assert delta.abs().max() > 1e-3
    has = revealed.out_degrees(etype=INTERACTS).numpy() > 0
    fit = np.flatnonzero(has & ~np.isin(np.arange(revealed.num_nodes(USER)), split.cold))
    x, _ = by_hand_features(revealed, USER, 1)
    w = np.linalg.solve(x[fit].T @ x[fit] + 10.0 * np.eye(x.shape[1]), x[fit].T @ targets.double().numpy()[fit])
    want = x[split.cold] @ w + delta.double().numpy()
    got = model.inductive_embeddings(revealed, {USER: cold})[USER][cold]
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol=1e-5)
    # nothing revealed: the map alone
    np.testing.assert_allclose(model.inductive_embeddings(bare, {USER: cold})[USER][cold].numpy(),
                               x[split.cold] @ np.linalg.solve(
                                   x[fit].T @ x[fit] + 10.0 * np.eye(x.shape[1]),
                                   x[fit].T @ zero.inductive_embeddings(bare, {USER: cold})[USER].double().numpy()[fit]),
                               rtol=1e-4, atol=1e-5)


def test_mthgt_map_refuses_an_unknown_attribute_value(small):
    split = cold_start_split(small, "cold-items", k=5, seed=0)[0]
    model = trained_like("mthgt-coldmap", split)
    g = split.train_graph.clone()
    g.add_nodes(1, ntype="tag")  # a tag the model never saw, given to a cold item
    item = int(split.cold[0])
    g.add_edges(torch.tensor([item]), torch.tensor([g.num_nodes("tag") - 1]), etype=("item", "tagged_with", "tag"))
    g.add_edges(torch.tensor([g.num_nodes("tag") - 1]), torch.tensor([item]), etype=("tag", "tag_of", "item"))
    with pytest.raises(ValueError, match="unknown tag value"):
        model.inductive_embeddings(g, {ITEM: torch.from_numpy(split.cold)})
