"""MTHGT and its ablations: they train, and nothing they predict is visible to the encoder."""
import dgl
import pytest
import torch

from hetrec.data import INTERACTED_BY, INTERACTS, kfold_split, synthetic
from hetrec.models import create_model
from hetrec.train import seed_everything

SMALL = dict(batch_size=128, width=16, hidden_size=16, num_heads=2, num_layers=2, lp_edges_per_relation=64)


@pytest.fixture(scope="module")
def split():
    g = synthetic(num_users=80, num_items=100, num_interactions=1600, num_tags=12, seed=2)
    return kfold_split(g, k=5, seed=0)[0]


@pytest.mark.parametrize("name", ["mthgt", "hgt", "hgt-d", "hgt-m"])
def test_variants_train_and_loss_falls(split, name):
    seed_everything(0)
    model = create_model(name, **SMALL)
    model.setup(split)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    gen = seed_everything(0, 1)
    batch = next(iter(model.train_batches(gen)))
    losses = []
    for _ in range(15):  # fit one fixed batch: the loss must fall
        out = model.loss(batch)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        losses.append(out.loss.item())
    assert losses[-1] < losses[0] - 0.05, losses
    model.eval()
    u, i = model.embeddings()
    assert u.shape == (split.num_users, 16) and i.shape == (split.num_items, 16)
    assert (model.config.multitask) == ("lp_loss" in out.logs)


def test_ablation_presets():
    assert create_model("hgt").config.multitask is False and create_model("hgt").config.sampler == "uniform"
    assert create_model("hgt-d").config.sampler == "dense"
    assert create_model("hgt-m").config.multitask is True and create_model("hgt-m").config.sampler == "uniform"
    m = create_model("mthgt", shared_gnn=True)
    assert m.config.multitask and m.config.sampler == "dense" and m.config.shared_gnn
    with pytest.raises(ValueError, match="has no setting"):
        create_model("mthgt", hiden_size=3)
    with pytest.raises(ValueError, match="unknown model"):
        create_model("gcn")


def test_shared_gnn_has_one_stack(split):
    a, b = create_model("mthgt", shared_gnn=True, **SMALL), create_model("mthgt", **SMALL)
    a.setup(split)
    b.setup(split)
    assert len(a.gnns) == 1 and len(b.gnns) == 2


@pytest.mark.parametrize("name", ["mthgt", "hgt"])
def test_no_leakage(split, name):
    """No validation/test pair is in the training graph, and no pair a batch predicts (the
    batch's interactions, and the link-prediction positives) is in the graph it encodes."""
    g_full_eids = set(split.test_eids.tolist()) | set(split.val_eids.tolist())
    tg = split.train_graph
    assert not (set(tg.edges[INTERACTS].data[dgl.EID].tolist()) & g_full_eids)
    model = create_model(name, **SMALL)
    model.setup(split)
    seen = []
    orig_encode = model.encode
    model.encode = lambda g: (seen.append(g), orig_encode(g))[1]
    for n, batch in enumerate(model.train_batches(seed_everything(0, 1))):
        _, pair, _, sub = batch
        model.loss(batch)
        mp = seen[-1]
        batch_eids = pair.edges[INTERACTS].data[dgl.EID]
        for et in (INTERACTS, INTERACTED_BY):  # subgraph ids map to training-graph ids
            assert not torch.isin(mp.edges[et].data[dgl.EID], batch_eids).any()
        # node-id pairs (in the training graph) of every relation of the encoded graph
        def pairs(graph, et):
            s, d = graph.edges(etype=et)
            return set(zip(graph.nodes[et[0]].data[dgl.NID][s].tolist(),
                           graph.nodes[et[2]].data[dgl.NID][d].tolist()))
        if model.config.multitask:
            predicted = model._last_lp_positives
            for et, (src, dst) in predicted.items():
                ids = set(zip(sub.nodes[et[0]].data[dgl.NID][src].tolist(),
                              sub.nodes[et[2]].data[dgl.NID][dst].tolist()))
                rev = model.reverse[et]
                assert not (ids & pairs(mp, et))
                assert not ({(b, a) for a, b in ids} & pairs(mp, rev))
        if n == 3:
            break


def test_bad_settings_fail_at_setup(split):
    for bad in ({"sampler": "random"}, {"negatives": "hard"}):
        with pytest.raises(ValueError, match="must be"):
            create_model("mthgt", **bad).setup(split)
