"""MTHGT and its ablations: they train, and nothing they predict is visible to the encoder."""
import dataclasses

import dgl
import numpy as np
import pytest
import torch

from hetrec.data import INTERACTED_BY, INTERACTS, kfold_split, synthetic
from hetrec.data.schema import SIMILAR_TO
from hetrec.models import create_model
from hetrec.train import seed_everything

SMALL = dict(batch_size=128, width=16, hidden_size=16, num_heads=2, num_layers=2, lp_edges_per_relation=64)


@pytest.fixture(scope="module")
def split():
    g = synthetic(num_users=80, num_items=100, num_interactions=1600, num_tags=12, seed=2)
    return kfold_split(g, k=5, seed=0)[0]


@pytest.mark.parametrize("training", ["full", "sampled"])
@pytest.mark.parametrize("name", ["mthgt", "hgt", "hgt-d", "hgt-m", "mthgt-sampled", "mthgt-paper"])
def test_variants_train_and_loss_falls(split, name, training):
    seed_everything(0)
    model = create_model(name, **{**SMALL, "training": training})
    model.setup(split)
    opt = torch.optim.Adam(model.parameters(), lr=3e-2)
    gen = seed_everything(0, 1)
    batch = next(iter(model.train_batches(gen)))
    losses = []
    for _ in range(20):  # fit one fixed batch: the loss must fall
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
    s = create_model("mthgt-sampled").config
    assert s.multitask and s.sampler == "dense"
    assert all(create_model(n).config.training == "sampled" for n in ("hgt", "hgt-d", "hgt-m", "mthgt-sampled"))
    m = create_model("mthgt", multitask=True, shared_gnn=True)
    assert m.config.multitask and m.config.sampler == "dense" and m.config.shared_gnn
    with pytest.raises(ValueError, match="has no setting"):
        create_model("mthgt", hiden_size=3)
    with pytest.raises(ValueError, match="unknown model"):
        create_model("gcn")


def test_shared_gnn_has_one_stack(split):
    a = create_model("mthgt", multitask=True, shared_gnn=True, **SMALL)
    b = create_model("mthgt", multitask=True, shared_gnn=False, **SMALL)
    a.setup(split)
    b.setup(split)
    assert len(a.gnns) == 1 and len(b.gnns) == 2


@pytest.mark.parametrize("name", ["mthgt-sampled", "hgt", "mthgt-paper"])
def test_no_leakage_sampled(split, name):
    """Sampled mode: no validation/test pair is in the training graph, and no pair a batch
    predicts (the batch's interactions, and the link-prediction positives) is in the graph it
    encodes."""
    g_full_eids = set(split.test_eids.tolist()) | set(split.val_eids.tolist())
    tg = split.train_graph
    assert not (set(tg.edges[INTERACTS].data[dgl.EID].tolist()) & g_full_eids)
    model = create_model(name, **{**SMALL, "training": "sampled"})
    model.setup(split)
    seen = []
    orig_encode = model.encode
    model.encode = lambda g, *rest: (seen.append(g), orig_encode(g, *rest))[1]
    for n, batch in enumerate(model.train_batches(seed_everything(0, 1))):
        _, pair, _, sub = batch[:4]
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
    for bad in ({"sampler": "random"}, {"negatives": "hard"}, {"conv": "gat"}, {"loss": "mse"},
                {"training": "mini"}, {"combine": "max"}, {"relations": "some"}):
        with pytest.raises(ValueError, match="must be one of"):
            create_model("mthgt", **bad).setup(split)


def test_paper_preset_is_the_paper_recipe():
    paper = create_model("mthgt-paper").config
    assert (paper.conv, paper.projection, paper.combine, paper.training, paper.shared_gnn) == \
        ("hgt", True, "last", "sampled", False)
    default = create_model("mthgt").config
    assert (default.conv, default.projection, default.combine, default.training, default.loss) == \
        ("light", False, "mean", "auto", "softmax")


def test_auto_training_mode_follows_graph_size(split):
    small = create_model("mthgt", **SMALL)
    small.setup(split)
    assert small.full_graph
    big = create_model("mthgt", **SMALL, full_graph_max_edges=split.train_graph.num_edges() - 1)
    big.setup(split)
    assert not big.full_graph


def test_full_graph_batches_are_training_pairs_with_true_negatives(split):
    """Every positive is a training interaction, every negative an item outside the user's
    training items, each link-prediction positive an edge of the training graph; one epoch
    visits every training interaction once; the same generator seed gives the same batches."""
    model = create_model("mthgt", **{**SMALL, "num_negatives": 3, "multitask": True})
    model.setup(split)
    train = split.train.tocsr()
    batches = list(model.train_batches(seed_everything(0, 1)))
    dense = torch.from_numpy(train.toarray())
    users = torch.cat([b.users for b in batches])
    items = torch.cat([b.pos_items for b in batches])
    assert (dense[users, items] > 0).all()
    assert len(users) == train.nnz and len(set(zip(users.tolist(), items.tolist()))) == train.nnz
    for b in batches:
        assert b.neg_items.shape == (len(b.users), 3)
        assert not dense[b.users.repeat_interleave(3), b.neg_items.flatten()].any()
        for et, (src, dst, fake) in b.lp.items():
            assert model.graph.has_edges_between(src, dst, etype=et).all()
            assert fake.max() < model.graph.num_nodes(et[2])
    again = list(model.train_batches(seed_everything(0, 1)))
    assert all(torch.equal(a.neg_items, b.neg_items) for a, b in zip(batches, again))


def test_relations_interactions_sees_only_user_item(split):
    model = create_model("mthgt", **SMALL, relations="interactions")
    model.setup(split)
    assert set(model.graph.canonical_etypes) == {INTERACTS, INTERACTED_BY}
    u, i = model.embeddings()
    assert u.shape[0] == split.num_users and i.shape[0] == split.num_items


def test_full_graph_hides_each_steps_predicted_edges(split):
    """Full-graph mode: the graph a step encodes holds none of the pairs it scores (the batch's
    interactions and the link-prediction positives), in either direction; every other edge stays."""
    model = create_model("mthgt", **{**SMALL, "multitask": True})
    model.setup(split)
    g = model.graph
    seen = []
    orig_encode = model.encode
    model.encode = lambda graph, *rest: (seen.append(graph), orig_encode(graph, *rest))[1]

    def pairs(graph, et):
        s, d = graph.edges(etype=et)
        return set(zip(s.tolist(), d.tolist()))

    for n, batch in enumerate(model.train_batches(seed_everything(0, 1))):
        model.loss(batch)
        mp = seen[-1]
        predicted = {INTERACTS: (batch.users, batch.pos_items)}
        predicted.update({et: (s, d) for et, (s, d, _) in batch.lp.items()})
        for et, (s, d) in predicted.items():
            ids = set(zip(s.tolist(), d.tolist()))
            assert not ids & pairs(mp, et)
            assert not {(b, a) for a, b in ids} & pairs(mp, model.reverse[et])
        hidden = sum(len(v) for v in batch.hidden.values())
        assert mp.num_edges() == g.num_edges() - hidden and hidden >= 2 * len(batch.users)
        if n == 2:
            break
    off = create_model("mthgt", **{**SMALL, "drop_batch_edges": False})
    off.setup(split)
    assert next(iter(off.train_batches(seed_everything(0, 1)))).hidden == {}


def test_runs_saved_before_the_recipe_rebuild_the_papers_model(split):
    """A model.pt written before hetrec's recipe (its settings lack the new fields, its name is
    "mthgt") rebuilds the paper's model, not today's default, so old runs still evaluate."""
    import dataclasses

    from hetrec.models import upgrade_config

    seed_everything(0)
    old = create_model("mthgt-paper", **SMALL)
    old.setup(split)
    new_fields = {"conv", "norm", "attention", "attention_layers", "projection", "init_std", "combine",
                  "relations", "training", "full_graph_max_edges", "loss", "temperature", "reg_weight",
                  "reg_in_task", "expert_activation", "expert_bias", "mmoe_alpha", "lp_loss", "lp_negatives",
                  "drop_batch_edges", "num_negatives"}
    saved = {k: v for k, v in dataclasses.asdict(old.config).items() if k not in new_fields}
    rebuilt = create_model("mthgt", **upgrade_config("mthgt", saved))
    rebuilt.setup(split)
    rebuilt.load_state_dict(old.state_dict())
    old.eval()
    rebuilt.eval()
    users = torch.arange(split.num_users)
    assert torch.equal(rebuilt.scores(users), old.scores(users))
    today = create_model("mthgt", **saved)
    today.setup(split)
    with pytest.raises(RuntimeError):
        today.load_state_dict(old.state_dict())


@pytest.mark.parametrize("name", ["hgt-m", "mthgt-sampled"])
def test_sampled_multitask_training_is_reproducible(name, split):
    """The loss's own draws (link-prediction edges and fakes) come from a seed of the trainer's
    generator carried by the batch, never the global generator (which DGL's loader may use from
    its prefetching thread), and DGL samples on one thread: two runs with one seed give the same
    numbers, with two threads too."""
    from hetrec.train import TrainConfig, Trainer

    runs = []
    for _ in range(2):
        cfg = TrainConfig(seed=3, epochs=1, patience=1, max_batches=3, progress=False, num_threads=2)
        res = Trainer(cfg, log=lambda m: None).fit(create_model(name, **{**SMALL, "training": "sampled"}), split)
        runs.append((res.history[0]["loss"], res.val, res.test))
    torch.set_num_threads(1)  # the test session's setting (conftest)
    assert runs[0] == runs[1]
    batch = next(iter(create_model(name, **{**SMALL, "training": "sampled"}).__class__.train_batches(
        _setup(name, split), seed_everything(0, 1))))
    assert len(batch) == 5 and isinstance(batch[4], int)


def _setup(name, split):
    m = create_model(name, **{**SMALL, "training": "sampled"})
    m.setup(split)
    return m


@pytest.mark.parametrize("multitask,shared_gnn", [(False, True), (True, True), (True, False)])
def test_encode_names_its_tasks_and_the_loss_is_their_losses(split, multitask, shared_gnn):
    """``encode`` gives ``{"rec": ...}`` for one task and ``{"lp": ..., "rec": ...}`` for two (one
    GNN or one per task); the full-graph loss is ``rec_loss`` plus ``lp_loss`` under uncertainty
    weighting (all weights 1 at the start), and the sampled loss reports the same parts."""
    seed_everything(0)
    model = create_model("mthgt", **{**SMALL, "training": "full", "multitask": multitask,
                                     "shared_gnn": shared_gnn, "reg_weight": 0.0})
    model.setup(split)
    tasks = {"lp", "rec"} if multitask else {"rec"}
    h = model.encode(model.device_graph)
    assert set(h) == tasks and all(set(v) == set(model.graph.ntypes) for v in h.values())
    u, i = model.embeddings()
    assert torch.equal(u, h["rec"]["user"]) and torch.equal(i, h["rec"]["item"])
    batch = next(iter(model.train_batches(seed_everything(0, 1))))
    out = model.loss(batch)
    h = model.encode(model.message_graph(batch.hidden))
    rec = model.rec_loss(h["rec"], batch.users, batch.pos_items, batch.neg_items)
    assert out.logs["rec_loss"] == pytest.approx(rec.item(), rel=1e-6)
    total = rec
    if multitask:
        lp = model.lp_loss(h["lp"], batch.lp)
        assert out.logs["lp_loss"] == pytest.approx(lp.item(), rel=1e-6)
        total = rec + lp
    assert out.loss.item() == pytest.approx(total.item(), rel=1e-6)
    assert model.lp_loss(h["rec"], {}).item() == 0.0

    sampled = create_model("mthgt", **{**SMALL, "training": "sampled", "multitask": multitask,
                                       "shared_gnn": shared_gnn})
    sampled.setup(split)
    batch = next(iter(sampled.train_batches(seed_everything(0, 1))))
    assert set(sampled.encode(batch.subgraph)) == tasks
    logs = sampled.loss(batch).logs
    assert "rec_loss" in logs and ("lp_loss" in logs) == multitask


def test_max_in_edges_auto_caps_only_big_training_graphs(split):
    from hetrec.models.mthgt import AUTO_MAX_IN_EDGES

    small = create_model("mthgt-sampled", **SMALL)
    small.setup(split)
    assert small.config.max_in_edges == "auto" and small.max_in_edges is None
    assert small.batch_builder.sampler.max_in_edges is None
    # the same graph counts as big when the threshold is below its size
    big = create_model("mthgt-sampled", **SMALL, full_graph_max_edges=split.train_graph.num_edges() - 1)
    big.setup(split)
    assert big.max_in_edges == AUTO_MAX_IN_EDGES == big.batch_builder.sampler.max_in_edges
    fixed = create_model("mthgt-sampled", **SMALL, max_in_edges=3)
    fixed.setup(split)
    assert fixed.batch_builder.sampler.max_in_edges == 3
    for bad in ("always", 0, 2.5, True):
        with pytest.raises(ValueError, match="max_in_edges"):
            create_model("mthgt-sampled", max_in_edges=bad)


def test_item_neighbors_relation_is_the_symmetric_cosine_topk_of_training_data(split):
    """``item_neighbors=k`` adds item-item edges: exactly the pairs where one item is among the
    other's k most cosine-similar items in split.train (a dense numpy reference), both ways, no
    self-loops; nothing from validation or test is read, and every other relation is unchanged."""
    k = 3
    model = create_model("mthgt", **SMALL, item_neighbors=k)
    model.setup(split)
    g = model.graph
    r = (split.train.toarray() > 0).astype(np.float64)
    norms = np.sqrt(r.sum(0))
    sim = np.divide(r.T @ r, np.outer(norms, norms), out=np.zeros((r.shape[1],) * 2), where=np.outer(norms, norms) > 0)
    np.fill_diagonal(sim, 0.0)
    expected = np.zeros_like(sim, dtype=bool)
    for j in range(sim.shape[1]):  # the k best i for each j, ties to the lower i, positive only
        order = np.lexsort((np.arange(sim.shape[0]), -sim[:, j]))[:k]
        expected[order[sim[order, j] > 0], j] = True
    expected |= expected.T
    src, dst = g.edges(etype=SIMILAR_TO)
    got = np.zeros_like(expected)
    got[src.numpy(), dst.numpy()] = True
    assert len(src) == expected.sum() and (got == expected).all()
    for et in split.train_graph.canonical_etypes:
        a, b = split.train_graph.edges(etype=et, order="eid")
        c, d = g.edges(etype=et, order="eid")
        assert torch.equal(a, c) and torch.equal(b, d)
    # the relation changes with the training data only: dropping a test pair changes nothing
    leaky = model.graph.num_edges(SIMILAR_TO)
    again = create_model("mthgt", **SMALL, item_neighbors=k)
    again.setup(dataclasses.replace(split, val=None, test=None))
    assert again.graph.num_edges(SIMILAR_TO) == leaky
    u, i = model.embeddings()
    assert i.shape == (split.num_items, 16)


def _reference_info_nce(v1, v2, tau):
    """-1/n sum_i log( exp(cos(v1_i, v2_i)/tau) / sum_j exp(cos(v1_i, v2_j)/tau) )."""
    n1, n2 = v1 / v1.norm(dim=1, keepdim=True), v2 / v2.norm(dim=1, keepdim=True)
    sim = torch.exp(n1 @ n2.T / tau)
    return float(-torch.log(torch.diagonal(sim) / sim.sum(1)).mean())


@pytest.mark.parametrize("num_layers, cl_layer", [(2, 1), (3, 2)])
def test_contrastive_term_is_xsimgcls_on_the_noisy_layers(split, num_layers, cl_layer):
    """With ``cl_weight`` the full-graph loss is the recipe's loss on noisy layers plus
    ``cl_weight`` x InfoNCE(final, noisy layer ``cl_layer``) over the batch's unique users and
    items, the noise drawn from the batch's seed; computed here from the layers' outputs by hand."""
    seed_everything(0)
    cfg = {**SMALL, "training": "full", "num_layers": num_layers, "reg_weight": 0.0, "cl_weight": 0.3,
           "cl_layer": cl_layer, "cl_eps": 0.1, "cl_temperature": 0.3}
    model = create_model("mthgt", **cfg)
    model.setup(split)
    model.train()
    batch = next(iter(model.train_batches(seed_everything(0, 1))))
    assert batch.seed is not None
    out = model.loss(batch)

    g = model.message_graph(batch.hidden)
    gen = torch.Generator().manual_seed(batch.seed)
    h = model.layer0(model.device_graph)
    seq = [h]
    for layer in model.gnns[0]:
        h = layer(g, h)
        noisy = {}
        for t in sorted(h):
            delta = torch.rand(h[t].shape, generator=gen)
            noisy[t] = h[t] + 0.1 * torch.sign(h[t]) * delta / delta.norm(dim=1, keepdim=True)
        h = noisy
        seq.append(h)
    final = {t: sum(x[t] for x in seq) / len(seq) for t in seq[0]}
    u, i = sorted(set(batch.users.tolist())), sorted(set(batch.pos_items.tolist()))
    view = seq[cl_layer]
    cl = (_reference_info_nce(final["user"][u], view["user"][u], 0.3)
          + _reference_info_nce(final["item"][i], view["item"][i], 0.3))
    rec = model.rec_loss(final, batch.users, batch.pos_items, batch.neg_items).item()
    assert out.logs["cl"] == pytest.approx(cl, rel=1e-5)
    assert out.logs["rec_loss"] == pytest.approx(rec, rel=1e-5)
    assert out.loss.item() == pytest.approx(rec + 0.3 * cl, rel=1e-5)
    # the same batch gives the same loss (the noise comes from the batch's seed only)
    assert model.loss(batch).loss.item() == out.loss.item()
    # inference has no noise: the embeddings are those of the plain propagation
    model.eval()
    u_emb, _ = model.embeddings()
    assert torch.equal(u_emb, model.encode(model.device_graph)["rec"]["user"])


def test_contrastive_term_leaves_the_recipes_batches_alone(split):
    """A batch's seed is drawn after its other draws, and only when the term is on: the first
    batch is the recipe's (same users, negatives, hidden edges), and without the term no seed."""
    plain = create_model("mthgt", **{**SMALL, "training": "full"})
    plain.setup(split)
    cl = create_model("mthgt", **{**SMALL, "training": "full", "cl_weight": 0.2})
    cl.setup(split)
    a = next(iter(plain.train_batches(seed_everything(0, 1))))
    b = next(iter(cl.train_batches(seed_everything(0, 1))))
    assert a.seed is None and b.seed is not None
    assert torch.equal(a.users, b.users) and torch.equal(a.neg_items, b.neg_items)
    assert all(torch.equal(a.hidden[et], b.hidden[et]) for et in a.hidden)


def test_contrastive_term_needs_full_graph_training(split):
    with pytest.raises(ValueError, match="full-graph"):
        create_model("mthgt", **{**SMALL, "training": "sampled", "cl_weight": 0.2}).setup(split)
    with pytest.raises(ValueError, match="cl_layer"):
        create_model("mthgt", **{**SMALL, "training": "full", "cl_weight": 0.2, "cl_layer": 3}).setup(split)
