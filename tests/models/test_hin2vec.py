"""HIN2Vec: metapaths from the schema, (x, y, r) triples, objective, training, ranking."""
import dgl
import numpy as np
import pytest
import torch
from planted_signal import cluster_auc

from hetrec.data import kfold_split, synthetic
from hetrec.models import create_model
from hetrec.models.hin2vec import HIN2Vec, _straight_through_step, walk_metapaths


def make_model(split, **kw):
    torch.manual_seed(0)
    model = create_model("hin2vec", **kw)
    model.setup(split)
    return model


def test_metapaths_come_from_the_schema(split):
    cycles = {tuple(rel for _, rel, _ in c) for c in walk_metapaths(split.train_graph)}
    assert cycles == {
        ("interacts", "interacted_by"), ("friend",), ("has_group", "group_of"),
        ("uses_tag", "tag_used_by"), ("interacted_by", "interacts"),
        ("has_category", "category_of"), ("tagged_with", "tag_of"),
    }


def global_to_local(model, ids):
    t = model._node_type[ids]
    return t, ids - model.type_offset[t]


def test_triples_follow_their_metapaths_on_the_training_graph(split):
    model = make_model(split, window=3, walk_length=6)
    g = split.train_graph
    x, y, r = model.triples(torch.Generator().manual_seed(0))
    assert len(x) > 1000 and (x != y).all()
    tx, lx = global_to_local(model, x)
    ty, ly = global_to_local(model, y)
    lengths = torch.tensor([len(p) for p in model.metapaths])
    assert set(lengths[r].tolist()) == {1, 2, 3}
    ntypes = g.ntypes
    for rid, path in enumerate(model.metapaths):
        sel = r == rid
        if not sel.any():
            continue
        # endpoints have the metapath's end types
        assert (tx[sel] == ntypes.index(path[0][0])).all()
        assert (ty[sel] == ntypes.index(path[-1][2])).all()
        if len(path) == 1:  # one step: (x, y) is an edge of that relation
            assert g.has_edges_between(lx[sel], ly[sel], etype=path[0]).all()
    # no validation / test interaction is ever a one-step "interacts" triple
    rid = model.metapaths.index((("user", "interacts", "item"),))
    held_out = (split.val + split.test).toarray()
    sel = r == rid
    assert held_out[lx[sel].numpy(), ly[sel].numpy()].sum() == 0


def test_negatives_share_the_type_of_y_and_batches_are_reproducible(split):
    model = make_model(split, batch_size=500)
    a = list(model.train_batches(torch.Generator().manual_seed(1)))
    b = list(model.train_batches(torch.Generator().manual_seed(1)))
    assert len(a) == len(b) > 1
    for p, q in zip(a, b):
        for key in ("x", "y", "r", "y_neg"):
            assert torch.equal(p[key], q[key])
    batch = a[0]
    assert batch["y_neg"].shape == (len(batch["y"]), model.config.num_negatives)
    assert (model._node_type[batch["y_neg"]] == model._node_type[batch["y"]][:, None]).all()


def test_objective_and_scoring_match_the_formula(split):
    model = make_model(split)
    x, y, r = torch.tensor([0, 3]), torch.tensor([70, 90]), torch.tensor([0, 1])
    W, R = model.node_emb.weight, model.path_emb.weight
    expected = (W[x] * W[y] * (R[r] > 0).float()).sum(-1)
    torch.testing.assert_close(model.logits(x, y, r), expected)
    # scoring = HIN2Vec's prediction for relation "interacts" between user u and item i
    model.eval()
    users, items = model.embeddings()
    u, i = torch.tensor([1, 2]), torch.tensor([5, 6])
    gu = u + model.type_offset[model.type_index["user"]]
    gi = i + model.type_offset[model.type_index["item"]]
    rel = torch.full_like(u, model.interacts_relation)
    torch.testing.assert_close((users[u] * items[i]).sum(-1), model.logits(gu, gi, rel))
    assert model.scores(torch.arange(4)).shape == (4, split.num_items)


def test_binary_step_passes_a_gradient():
    z = torch.tensor([-1.0, 0.5], requires_grad=True)
    out = _straight_through_step(z)
    assert out.tolist() == [0.0, 1.0]
    out.sum().backward()
    assert (z.grad > 0).all()


def test_rejects_unknown_regularization(split):
    with pytest.raises(ValueError, match="regularization"):
        make_model(split, regularization="tanh")


def test_loss_falls_and_planted_cluster_ranked_above_chance():
    # the item category *is* the planted cluster: drop it so the signal must be learned from
    # interactions, tags, groups and friends
    g = synthetic(num_users=60, num_items=80, num_interactions=1500, seed=0)
    g = dgl.edge_type_subgraph(g, [et for et in g.canonical_etypes if "category" not in et])
    split = kfold_split(g, k=5, seed=0)[0]
    model = make_model(split, batch_size=2048)
    assert isinstance(model, HIN2Vec)
    fixed = list(model.train_batches(torch.Generator().manual_seed(123)))

    def mean_loss():
        with torch.no_grad():
            return float(np.mean([model.loss(b).loss.item() for b in fixed]))

    before, auc_before = mean_loss(), cluster_auc(model, g, split)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    gen = torch.Generator().manual_seed(0)
    for _ in range(4):
        for batch in model.train_batches(gen):
            out = model.loss(batch)
            opt.zero_grad()
            out.loss.backward()
            opt.step()
    after, auc_after = mean_loss(), cluster_auc(model, g, split)
    assert after < before - 0.05
    assert auc_after > 0.65 and auc_after > auc_before + 0.05
