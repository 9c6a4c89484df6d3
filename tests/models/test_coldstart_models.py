"""Cold-start scoring (docs/coldstart.md): MTHGT's inductive embeddings against an independent
numpy propagation, the attribute baselines, LightFM (when installed) and the clear refusals."""
import dgl
import numpy as np
import pytest
import scipy.sparse as sp
import torch

from hetrec.data import INTERACTED_BY, INTERACTS, ITEM, USER, cold_start_split, kfold_split, synthetic
from hetrec.models import create_model
from hetrec.train import TrainConfig, Trainer


@pytest.fixture(scope="module")
def small():
    return synthetic(num_users=40, num_items=50, num_interactions=700, seed=4)


def without_item(g, item: int):
    """``g`` without item node ``item`` (and every edge of it)."""
    return dgl.remove_nodes(g, torch.tensor([item]), ntype=ITEM)


def numpy_propagation(g, h0: dict, num_layers: int) -> dict:
    """LightGCN's symmetric propagation over the whole heterograph, by hand: all node types in
    one index space, D^-1/2 A D^-1/2 with degrees over every relation; H^k = Â H^(k-1)."""
    types = sorted(g.ntypes)
    offset, start = {}, 0
    for t in types:
        offset[t], start = start, start + g.num_nodes(t)
    rows, cols = [], []
    for s_t, r, d_t in g.canonical_etypes:
        s, d = g.edges(etype=(s_t, r, d_t))
        rows.append(d.numpy() + offset[d_t])
        cols.append(s.numpy() + offset[s_t])
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    a = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(start, start))
    deg_in = np.maximum(np.asarray(a.sum(1)).ravel(), 1)
    deg_out = np.maximum(np.asarray(a.sum(0)).ravel(), 1)
    norm = sp.diags(deg_in ** -0.5) @ a @ sp.diags(deg_out ** -0.5)
    h = np.concatenate([h0[t].detach().numpy().astype(np.float64) for t in types])
    layers = [h]
    for _ in range(num_layers):
        h = norm @ h
        layers.append(h)
    return {t: [x[offset[t]:offset[t] + g.num_nodes(t)] for x in layers] for t in types}


def test_mthgt_embeds_a_new_item_from_its_attribute_edges(small):
    new = small.num_nodes(ITEM) - 1
    g_minus = without_item(small, new)
    model = create_model("mthgt", num_layers=2)
    model.setup(kfold_split(g_minus, k=5, seed=0)[0])
    model.eval()
    # the new item comes with its attribute edges only (tags, category), not its interactions
    g_plus = kfold_split(g_minus, k=5, seed=0)[0].train_graph.clone()
    g_plus.add_nodes(1, ntype=ITEM)
    for et in small.canonical_etypes:
        if ITEM not in (et[0], et[2]) or et in (INTERACTS, INTERACTED_BY):
            continue
        s, d = small.edges(etype=et)
        mine = (s == new) if et[0] == ITEM else (d == new)
        g_plus.add_edges(s[mine], d[mine], etype=et)
    assert g_plus.in_degrees(torch.tensor([new]), etype=("tag", "tag_of", "item")).item() > 0
    got = model.inductive_embeddings(g_plus)[ITEM][new]

    # reference: the learned (here initial: relation logits start at 0, LightGCN's weights) layers
    # applied by hand, the new item's layer 0 zero, its representation the mean of layers 1..K
    h0 = {t: torch.cat([model.proj[t].weight.detach(), torch.zeros(g_plus.num_nodes(t) - model.proj[t].num_embeddings,
                                                                     model.config.hidden_size)])
          for t in g_plus.ntypes}
    h0[ITEM][new] = 0.0
    ref = numpy_propagation(g_plus, h0, 2)[ITEM]
    want = (ref[1][new] + ref[2][new]) / 2
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol=1e-6)
    assert got.abs().sum() > 0


def test_cold_init_mean_imputes_layer0_from_known_neighbours(small):
    """cold_init="mean": a cold item's layer 0 is the mean of its known neighbours' ID embeddings
    (its tags and category here), then it propagates and averages H^0..H^K like a trained node.
    Against numpy propagation with that layer 0 set by hand; "zero" stays the zero rule."""
    split = cold_start_split(small, "cold-items", k=5, seed=0)[0]
    g = split.train_graph
    cold = torch.from_numpy(split.cold)
    model = create_model("mthgt-coldmean", num_layers=2)
    model.setup(split)
    with torch.no_grad():
        for t in model.proj:
            model.proj[t].weight.normal_()
    model.eval()
    got = model.inductive_embeddings(g, {ITEM: cold})[ITEM]
    h0 = {t: model.proj[t].weight.detach().clone() for t in g.ntypes}
    h0[ITEM][cold] = 0.0
    known = {t: torch.ones(g.num_nodes(t), dtype=torch.bool) for t in g.ntypes}
    known[ITEM][cold] = False
    imputed = h0[ITEM].clone()
    for i in split.cold.tolist():  # a plain loop over the cold items and their in-edges
        rows = []
        for et in g.canonical_etypes:
            if et[2] != ITEM:
                continue
            s, d = g.edges(etype=et)
            rows += [h0[et[0]][u] for u in s[d == i].tolist() if known[et[0]][u]]
        assert rows, "every synthetic item has attribute edges"
        imputed[i] = torch.stack(rows).mean(0)
    h0[ITEM] = imputed
    ref = numpy_propagation(g, h0, 2)[ITEM]
    want = (ref[0] + ref[1] + ref[2]) / 3
    np.testing.assert_allclose(got[cold].numpy(), want[split.cold], rtol=1e-4, atol=1e-5)
    # the zero rule gives other cold embeddings; with nothing unknown the rule changes nothing
    zero = create_model("mthgt", num_layers=2)
    zero.setup(split)
    zero.load_state_dict(model.state_dict())
    zero.eval()
    assert not torch.allclose(got[cold], zero.inductive_embeddings(g, {ITEM: cold})[ITEM][cold])
    torch.testing.assert_close(model.inductive_embeddings(g)[ITEM], model.embeddings()[1])


def test_a_new_node_equals_a_known_node_flagged_cold(small):
    """Appending a node, or keeping it in the training graph with only attribute edges and
    naming it cold, gives the same embedding: the trained ID row of a cold node is never read."""
    split = cold_start_split(small, "cold-items", k=5, seed=0)[0]
    model = create_model("mthgt", num_layers=2)
    model.setup(split)
    with torch.no_grad():
        for t in model.proj:  # arbitrary trained-looking values
            model.proj[t].weight.normal_()
    model.eval()
    a = model.inductive_embeddings(split.train_graph, {ITEM: torch.from_numpy(split.cold)})[ITEM]
    # the same graph, the cold items' ID rows replaced: nothing changes
    with torch.no_grad():
        model.proj[ITEM].weight[torch.from_numpy(split.cold)] = 123.0
    b = model.inductive_embeddings(split.train_graph, {ITEM: torch.from_numpy(split.cold)})[ITEM]
    torch.testing.assert_close(a, b)
    # with nothing new, inductive embeddings are the trained model's own
    warm = model.inductive_embeddings(split.train_graph)
    u, i = model.embeddings()
    torch.testing.assert_close(warm[USER], u)
    torch.testing.assert_close(warm[ITEM], i)


def test_id_dropout_trains_deterministically_and_only_full_graph(small):
    split = cold_start_split(small, "cold-users", k=5, seed=0)[0]
    losses = []
    for _ in range(2):
        model = create_model("mthgt-cold", num_layers=1, batch_size=256)
        res = Trainer(TrainConfig(epochs=2, lr=1e-2, progress=False), log=lambda *_: None).fit(
            model, split, evaluate_test=False)
        losses.append([r["loss"] for r in res.history])
    assert losses[0] == losses[1]
    with pytest.raises(ValueError, match="id_dropout > 0 needs full-graph training"):
        create_model("mthgt-cold", training="sampled").setup(split)


@pytest.mark.parametrize("name", ["ease", "lightgcn", "mostpop", "bprmf"])
def test_interaction_only_models_say_they_cannot(small, name):
    model = create_model(name)
    with pytest.raises(NotImplementedError, match=f"{name} cannot score users or items it has no training"):
        model.cold_start_scorer(small, {ITEM: torch.tensor([0])})


def test_mthgt_refuses_what_it_cannot_embed(small):
    split = kfold_split(small, k=5, seed=0)[0]
    paper = create_model("mthgt-paper", training="full")
    paper.setup(split)
    with pytest.raises(NotImplementedError, match="projection"):
        paper.inductive_embeddings(split.train_graph)
    model = create_model("mthgt", num_layers=1)
    model.setup(split)
    fewer = dgl.edge_type_subgraph(split.train_graph, [INTERACTS, INTERACTED_BY])
    with pytest.raises(ValueError, match="relations differ"):
        model.inductive_embeddings(fewer)


def test_attribute_mostpop_ranks_cold_items_by_their_values_popularity():
    g = synthetic(num_users=60, num_items=80, num_interactions=1500, seed=0)
    split = cold_start_split(g, "cold-items", k=4, seed=0)[0]
    model = create_model("attr-mostpop")
    model.setup(split)
    score = model.cold_start_scorer(split.train_graph, split.cold_nodes)(torch.arange(3))
    from hetrec.models.coldstart import attribute_matrix

    a, _ = attribute_matrix(split.train_graph, ITEM)
    pop = np.asarray(split.train.sum(0)).ravel()
    want = np.where(a.getnnz(axis=1) > 0, a @ (pop @ a), -1.0)
    np.testing.assert_allclose(score[0, split.cold].numpy(), want[split.cold], rtol=1e-5)
    assert torch.equal(score[0], score[2])  # the same for every user


def test_attribute_profile_matches_a_plain_reference():
    g = synthetic(num_users=30, num_items=40, num_interactions=500, seed=2)
    split = cold_start_split(g, "cold-items", k=4, seed=1)[0]
    model = create_model("attr-profile")
    model.setup(split)
    got = model.cold_start_scorer(split.train_graph, split.cold_nodes)(torch.arange(30)).numpy()
    from hetrec.models.coldstart import attribute_matrix

    a = attribute_matrix(split.train_graph, ITEM)[0].toarray()
    idf = np.log(a.shape[0] / (1 + a.sum(0))).clip(min=0) + 1e-3
    x = a * idf
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    r = split.train.toarray() > 0
    p = r @ x
    p /= np.maximum(np.linalg.norm(p, axis=1, keepdims=True), 1e-12)
    np.testing.assert_allclose(got, p @ x.T, rtol=1e-4, atol=1e-6)


def test_an_unknown_attribute_value_is_one_clear_error(small):
    split = cold_start_split(small, "cold-items", k=5, seed=0)[0]
    model = create_model("attr-profile")
    model.setup(split)
    g = split.train_graph.clone()
    g.add_nodes(1, ntype="tag")  # a tag the model never saw
    g.add_edges(torch.tensor([0]), torch.tensor([g.num_nodes("tag") - 1]), etype=("item", "tagged_with", "tag"))
    with pytest.raises(ValueError, match=r"unknown tag value: node 50 of relation 'tagged_with'") as err:
        model.cold_start_scorer(g, split.cold_nodes)
    assert "\n" not in str(err.value)


def test_lightfm_missing_names_the_extra(monkeypatch, small):
    import builtins

    real = builtins.__import__

    def no_lightfm(name, *args, **kwargs):
        if name == "lightfm" or name.startswith("lightfm."):
            raise ImportError("No module named 'lightfm'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_lightfm)
    with pytest.raises(ImportError, match=r"pip install --no-build-isolation lightfm==1.17"):
        create_model("lightfm").setup(kfold_split(small, k=5)[0])


def test_lightfm_scores_cold_items_from_their_attributes_only(small):
    pytest.importorskip("lightfm")
    split = cold_start_split(small, "cold-items", k=5, seed=0)[0]
    model = create_model("lightfm", epochs=3, no_components=8)
    model.setup(split)
    users = torch.arange(small.num_nodes(USER))
    cold = model.cold_start_scorer(split.train_graph, split.cold_nodes)(users)
    assert cold.shape == (len(users), small.num_nodes(ITEM)) and torch.isfinite(cold).all()
    # two cold items with the same attribute values score the same for everyone
    from hetrec.models.coldstart import attribute_matrix

    a = attribute_matrix(split.train_graph, ITEM)[0].toarray()
    ids = split.cold.tolist()
    twins = [(i, j) for i in ids for j in ids if i < j and (a[i] == a[j]).all()]
    for i, j in twins:
        torch.testing.assert_close(cold[:, i], cold[:, j])
    # warm ranking still works (identity features kept)
    assert model.scores(users).shape == cold.shape


@pytest.mark.parametrize("normalize", ["all", "identity-types"])
def test_lightfm_metadata_only_items_are_their_attributes(small, normalize):
    """identity="warm-types" on a cold-items fold: items (the cold type) have no identity feature,
    so an item's representation is its attribute values' embeddings summed (binary rows with
    "identity-types") or averaged (rows normalised), whether it is warm or cold, and users keep
    identities. Checked against LightFM's own embedding tables; a warm item and a cold item with
    the same attribute values score alike."""
    pytest.importorskip("lightfm")
    from hetrec.models.coldstart import attribute_matrix

    split = cold_start_split(small, "cold-items", k=5, seed=0)[0]
    model = create_model("lightfm", identity="warm-types", normalize=normalize, epochs=3, no_components=8)
    model.setup(split)
    assert model.with_identity == (True, False)
    users = torch.arange(small.num_nodes(USER))
    cold = model.cold_start_scorer(split.train_graph, split.cold_nodes)(users)
    a = attribute_matrix(split.train_graph, ITEM)[0].toarray()
    rows = a / np.maximum(a.sum(1, keepdims=True), 1) if normalize == "all" else a
    lf = model.lightfm
    # item feature columns: [identity of the active items (width len(active)) | attributes]
    width = len(model.active[1])
    expected_items = rows @ lf.item_embeddings[width:]
    expected_bias = rows @ lf.item_biases[width:]
    _, got = lf.get_item_representations(model._item_features)
    np.testing.assert_allclose(got, expected_items, rtol=1e-5, atol=1e-6)
    ub, ue = lf.get_user_representations(model._user_features)
    by_hand = ue @ expected_items.T + ub[:, None] + expected_bias[None]
    np.testing.assert_allclose(cold.numpy(), by_hand, rtol=1e-4, atol=1e-5)
    warm_ids = np.setdiff1d(np.arange(small.num_nodes(ITEM)), split.cold)
    twins = [(i, j) for i in split.cold.tolist() for j in warm_ids.tolist() if (a[i] == a[j]).all()]
    for i, j in twins[:5]:
        torch.testing.assert_close(cold[:, i], cold[:, j])


def test_lightfm_fit_leaves_out_nodes_without_any_feature(small, monkeypatch):
    """A metadata-only node without attribute values has an all-zero row: its interactions are not
    in the matrix LightFM is fitted on (and every other interaction of the fold is)."""
    lightfm = pytest.importorskip("lightfm")
    from hetrec.models.classic import binary_matrix
    from hetrec.models.coldstart import attribute_matrix

    # items 0..9 lose every attribute edge (both directions)
    g = small
    for et in [et for et in small.canonical_etypes if ITEM in (et[0], et[2]) and USER not in (et[0], et[2])]:
        src, dst = g.edges(etype=et)
        side = src if et[0] == ITEM else dst
        g = dgl.remove_edges(g, torch.nonzero(side < 10).ravel(), etype=et)
    split = cold_start_split(g, "cold-items", k=5, seed=0)[0]
    a = attribute_matrix(split.train_graph, ITEM)[0]
    bare = np.flatnonzero(np.diff(a.indptr) == 0)
    assert set(range(10)) <= set(bare.tolist())
    seen = {}
    real_fit = lightfm.LightFM.fit

    def spy(self, interactions, **kw):
        seen["m"] = interactions.tocsr()
        return real_fit(self, interactions, **kw)

    monkeypatch.setattr(lightfm.LightFM, "fit", spy)
    model = create_model("lightfm-attr-raw", epochs=1, no_components=4)
    model.setup(split)
    r = binary_matrix(split.train).tocsr()
    act_u, act_i = model.active
    expected = r[act_u][:, act_i].tolil()
    keep = ~np.isin(act_i, bare)
    expected = (expected.tocsr() @ sp.diags(keep.astype(np.float32))).tocsr()
    expected.eliminate_zeros()
    assert (seen["m"] != expected).nnz == 0
    assert seen["m"].nnz < r[act_u][:, act_i].nnz
    # the hybrid model (identities everywhere) fits every interaction
    create_model("lightfm", epochs=1, no_components=4).setup(split)
    assert (seen["m"] != r[act_u][:, act_i]).nnz == 0
