"""MTHGT's mini-batch mode (hetrec.models._history): the estimator against the full-graph layers
(DGL message passing over the whole training graph), its batches, loss and settings."""
import pytest
import torch

from hetrec.batching import MiniBatch, MiniBatches
from hetrec.data import INTERACTS, ITEM, USER
from hetrec.models import create_model
from hetrec.train import TrainConfig, Trainer


def _model(split, **overrides):
    torch.manual_seed(0)
    m = create_model("mthgt-minibatch", **overrides)
    m.setup(split)
    return m


def _perturb(model, scale=0.05, seed=1):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn(p.shape, generator=gen))


def _full(model):
    """``[H^0, ..., H^L]`` of every node from the full-graph layers, in global order."""
    hp = model.history()
    return [hp.to_global(h) for h in model.propagate(model.device_graph)[0]]


def _targets(hp):
    n = hp.num_nodes
    return torch.tensor(sorted({0, 3, hp.offset[ITEM] + 2, hp.offset[ITEM] + 9, n // 2, n - 1}))


@pytest.mark.parametrize("attention", ["relation", "none"])
@pytest.mark.parametrize("norm", ["node", "relation"])
def test_every_in_edge_gives_the_full_graph_layers_and_their_gradients(split, attention, norm):
    m = _model(split, attention=attention, norm=norm, history_fanout=None)
    hp = m.history(refresh=True)
    _perturb(m)  # parameters now differ from the snapshot: the control variate must cancel exactly
    t = _targets(hp)
    seq, _ = hp.propagate(t, m.layer0_global, m._relation_logits(), m.config.num_heads, None, None)
    full = _full(m)
    assert len(seq) == m.config.num_layers + 1
    for got, want in zip(seq, full):
        torch.testing.assert_close(got, want[t], atol=1e-6, rtol=1e-5)
    w = torch.randn(len(t), m.config.hidden_size, generator=torch.Generator().manual_seed(2))

    def grads(out):
        m.zero_grad()
        (out * w).sum().backward()
        return {n: p.grad.clone() for n, p in m.named_parameters() if p.grad is not None}

    g_mb = grads(torch.stack(seq).mean(0))
    g_full = grads(torch.stack(_full(m)).mean(0)[t])
    assert set(g_mb) == set(g_full) and g_full
    for name in g_full:
        torch.testing.assert_close(g_mb[name], g_full[name], atol=1e-6, rtol=1e-5, msg=name)


@pytest.mark.parametrize("draw", ["norm", "dense"])
def test_sampled_layers_are_exact_at_the_snapshot(split, draw):
    m = _model(split, history_draw=draw)
    hp = m.history(refresh=True)
    t = _targets(hp)
    seq, frontiers = hp.propagate(t, m.layer0_global, m._relation_logits(), m.config.num_heads, 2,
                                  torch.Generator().manual_seed(0))
    for got, want in zip(seq, _full(m)):
        torch.testing.assert_close(got, want[t], atol=1e-6, rtol=1e-5)
    # each hop adds at most fanout sources per node
    for lo, hi in zip(frontiers[:-1], frontiers[1:]):
        assert set(hi.tolist()) <= set(lo.tolist()) and len(lo) <= 3 * len(hi)


def test_a_fanout_per_layer_bounds_each_hop_by_its_own_fanout(split):
    m = _model(split)
    hp = m.history(refresh=True)
    _perturb(m)
    t = _targets(hp)
    args = (m.layer0_global, m._relation_logits(), m.config.num_heads)
    # the same number for every layer, given as a list: the very same draws and values
    a, fa = hp.propagate(t, *args, 2, torch.Generator().manual_seed(3))
    b, fb = hp.propagate(t, *args, [2, 2, 2], torch.Generator().manual_seed(3))
    for x, y in zip(a + fa, b + fb):
        torch.testing.assert_close(x, y, atol=0, rtol=0)
    # layer 1 (next to the ID embeddings) first: hop k adds at most fanout[k-1] sources per node
    per_layer = [1, 1, 4]
    _, frontiers = hp.propagate(t, *args, per_layer, torch.Generator().manual_seed(0))
    for k in range(1, len(frontiers)):
        assert len(frontiers[k - 1]) <= (1 + per_layer[k - 1]) * len(frontiers[k])
    assert len(frontiers[0]) < len(fa[0])  # smaller than fanout 2 everywhere would give
    with pytest.raises(ValueError, match="one entry per layer"):
        hp.propagate(t, *args, [2, 2], torch.Generator().manual_seed(0))


@pytest.mark.parametrize("draw", ["norm", "uniform", "dense"])
def test_in_edge_draws_follow_their_distribution_and_weigh_c_over_k_p(split, draw):
    from hetrec.models._history import HistoricalPropagation

    hp = HistoricalPropagation(split.train_graph, "node", draw)
    deg = hp.indptr[1:] - hp.indptr[:-1]
    t = int(torch.argmax(deg))
    lo, hi = int(hp.indptr[t]), int(hp.indptr[t + 1])
    k = 4
    reps = 3000
    row, pos, scale, n_exact, big = hp._in_edges(torch.full((reps,), t), k, torch.Generator().manual_seed(0))
    assert n_exact == 0 and bool(big.all()) and len(pos) == reps * k
    c = hp.c[lo:hi].double()
    if draw == "norm":
        w = c
    elif draw == "uniform":
        w = torch.ones_like(c)
    else:
        out_deg = torch.bincount(hp.src.long(), minlength=hp.num_nodes).double()
        w = out_deg[hp.src[lo:hi].long()] ** 2
    p = w / w.sum()
    freq = torch.bincount(pos - lo, minlength=hi - lo).double() / len(pos)
    se = (p * (1 - p) / len(pos)).sqrt()
    assert ((freq - p).abs() <= 5 * se + 1e-4).all()
    torch.testing.assert_close(scale.double(), (c / (k * p))[pos - lo], rtol=1e-4, atol=0)


def test_an_unknown_draw_is_refused(split):
    with pytest.raises(ValueError, match="history_draw"):
        _model(split, history_draw="squared")


@pytest.mark.parametrize("fanout, draw", [(2, "norm"), ([1, 3, 2], "norm"), (2, "uniform"), (2, "dense")])
def test_sampled_layers_are_unbiased(split, fanout, draw):
    """Away from the snapshot, the mean of many draws converges to the exact layers: every
    entry within 5 standard errors of its Monte Carlo mean. 64 wide, the width the bound was
    calibrated at: twice the entries (128, the registry's width since session 25) is twice the
    chance of one heavy-tailed false alarm — at 128 wide one of 768 dense-draw entries sat at 5.5
    s.e. after 1,500 draws and at most 3.1 after 6,000 (no bias: a mean |z| of 0.64-0.67 at both
    widths)."""
    m = _model(split, history_draw=draw, hidden_size=64)
    hp = m.history(refresh=True)
    _perturb(m)
    t = _targets(hp)
    full = _full(m)
    gen = torch.Generator().manual_seed(0)
    draws = 1500
    with torch.no_grad():
        outs = [hp.propagate(t, m.layer0_global, m._relation_logits(), m.config.num_heads, fanout, gen)[0][-1]
                for _ in range(draws)]
    x = torch.stack(outs)
    mean, se = x.mean(0), x.std(0) / draws ** 0.5
    assert (x.std(0) > 0).any()  # the draws do vary
    assert ((mean - full[-1][t]).abs() <= 5 * se + 1e-6).all()


def test_hidden_edges_carry_no_message(split):
    """A step's predicted edges (and their reverses) leave every layer: against the full-graph
    layers over the graph without them, normalised with the whole graph's degrees (the
    mini-batch mode keeps those). Without attention the two are the same computation."""
    from hetrec.data import INTERACTED_BY
    from hetrec.nn.light_hgt import IN_DEGREE, OUT_DEGREE

    m = _model(split, attention="none", history_fanout=None)
    g = m.device_graph
    hp = m.history(refresh=True)
    u, i = g.edges(etype=INTERACTS)
    pick = torch.arange(0, len(u), 7)
    hidden = hp.hidden_edges(INTERACTS, u[pick], i[pick], INTERACTED_BY)
    t = torch.unique(torch.cat([hp.global_ids(USER, u[pick][:10]), hp.global_ids(ITEM, i[pick][:10])]))
    _perturb(m)
    seq, _ = hp.propagate(t, m.layer0_global, m._relation_logits(), m.config.num_heads, None,
                          torch.Generator().manual_seed(0), hidden)
    rev = m.reverse[INTERACTS]
    s_all, d_all = g.edges(etype=rev)
    drop_rev = torch.isin(s_all * g.num_nodes(USER) + d_all, i[pick] * g.num_nodes(USER) + u[pick]).nonzero().flatten()
    mp = m.message_graph({INTERACTS: pick, rev: drop_rev})
    for nt in g.ntypes:
        mp.nodes[nt].data[OUT_DEGREE] = sum(g.out_degrees(etype=r) for r in g.canonical_etypes if r[0] == nt)
        mp.nodes[nt].data[IN_DEGREE] = sum(g.in_degrees(etype=r) for r in g.canonical_etypes if r[2] == nt)
    want = [hp.to_global(h) for h in m.propagate(mp)[0]]
    kept, _ = hp.propagate(t, m.layer0_global, m._relation_logits(), m.config.num_heads, None, None)
    assert not torch.allclose(kept[-1], want[-1][t], atol=1e-4)  # the hidden edges did matter
    for got, w in zip(seq, want):
        torch.testing.assert_close(got, w[t], atol=1e-6, rtol=1e-5)


def test_minibatches_cover_each_interaction_once_with_pool_negatives(split):
    g = split.train_graph
    b = MiniBatches(g, batch_size=128, num_negatives=8, negative_pool=16)
    batches = list(b.batches(torch.Generator().manual_seed(0)))
    users = torch.cat([x.users for x in batches])
    items = torch.cat([x.pos_items for x in batches])
    u, i = g.edges(etype=INTERACTS)
    key = lambda a, c: sorted((a * g.num_nodes(ITEM) + c).tolist())  # noqa: E731
    assert key(users, items) == key(u.long(), i.long())
    assert [x.first for x in batches] == [True] + [False] * (len(batches) - 1)
    for x in batches:
        assert x.neg_items.shape == (len(x.users), 8)
        assert len(torch.unique(x.neg_items)) <= 16
        assert int(x.neg_items.max()) < g.num_nodes(ITEM)
    again = list(b.batches(torch.Generator().manual_seed(0)))
    assert all(torch.equal(a.neg_items, c.neg_items) and a.seed == c.seed for a, c in zip(batches, again))
    part = b.shard(batches[0], 1, 2)
    assert torch.equal(part.users, batches[0].users[1::2]) and part.seed == batches[0].seed


def test_a_negative_the_user_trained_on_is_masked(split):
    """A negative that is one of the user's training items drops out of the loss: the loss is
    the sampled softmax over the positive and the other negatives, from full-graph embeddings."""
    from hetrec.nn.losses import ranking_loss

    m = _model(split, reg_weight=0.0, history_fanout=None, drop_batch_edges=False)
    g = split.train_graph
    u, i = (x.long() for x in g.edges(etype=INTERACTS))
    user = u[0]
    trained = i[u == user]
    others = torch.tensor([j for j in range(g.num_nodes(ITEM)) if j not in set(trained.tolist())])[:3]
    batch = MiniBatch(user.view(1), trained[:1], torch.cat([trained[1:2], others]).view(1, -1), 0, True)
    got = m.loss(batch).loss
    hp = m.history()
    z = torch.stack(_full(m)).mean(0)
    zu, zi = z[hp.global_ids(USER, user.view(1))], z[hp.global_ids(ITEM, torch.arange(g.num_nodes(ITEM)))]
    want = ranking_loss((zu * zi[trained[:1]]).sum(-1), zu @ zi[others].T, "softmax", m.config.temperature)
    torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5)


def _exact_pair(split, **overrides):
    """A mini-batch model over every in-edge and a full-graph model with the same (perturbed)
    parameters, predicted edges left in, and 20 training pairs with 5 true negatives each
    (nothing masked); the generator that drew them, to draw more."""
    m = _model(split, history_fanout=None, drop_batch_edges=False, **overrides)
    full = create_model("mthgt", training="full", drop_batch_edges=False, **overrides)
    full.setup(split)
    _perturb(m)
    full.load_state_dict(m.state_dict())
    g = split.train_graph
    u, i = (x.long() for x in g.edges(etype=INTERACTS))
    users, pos = u[:20], i[:20]
    free = torch.tensor(sorted(set(range(g.num_nodes(ITEM))) - set(i[torch.isin(u, users)].tolist())))
    gen = torch.Generator().manual_seed(3)
    neg = free[torch.randint(0, len(free), (20, 5), generator=gen)]
    return m, full, users, pos, neg, gen


def test_minibatch_loss_equals_the_full_graph_loss_on_the_same_triples(split):
    """With every in-edge, the mini-batch loss is the full-graph model's loss (predicted edges
    left in) on the same users, positives and negatives."""
    from hetrec.batching import FullGraphBatch

    m, full, users, pos, neg, _ = _exact_pair(split)
    want = full.loss(FullGraphBatch(users, pos, neg, {}, {})).loss
    got = m.loss(MiniBatch(users, pos, neg, 0, True)).loss
    torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5)


def test_settings_the_mode_cannot_train_fail_at_setup(split):
    for bad in (dict(conv="hgt"), dict(attention="edge"), dict(multitask=True, shared_gnn=False), dict(cl_weight=0.1)):
        with pytest.raises(ValueError, match="minibatch"):
            _model(split, **bad)


@pytest.mark.parametrize("bad", [dict(history_fanout=0), dict(negative_pool=0), dict(history_refresh=-1),
                                 dict(history_max_age=0),
                                 dict(history_fanout=[8, 0, 2]), dict(history_fanout=[]),
                                 dict(history_fanout=[8, True, 2]), dict(history_fanout=[8, 2.5, 2])])
def test_mode_settings_out_of_range_are_refused(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        create_model("mthgt-minibatch", **bad)


def test_a_fanout_list_of_the_wrong_length_is_refused_before_anything_runs(tmp_path):
    with pytest.raises(ValueError, match="history_fanout needs one entry per layer"):
        create_model("mthgt-minibatch", history_fanout=[8, 2])
    from click.testing import CliRunner

    from hetrec.cli import main

    out = tmp_path / "run"
    r = CliRunner().invoke(main, ["train", "--dataset", "lastfm", "--data-dir", str(tmp_path / "none"), "--model",
                                  "mthgt-minibatch", "--set", "history_fanout=[8,2]", "--out", str(out)])
    assert r.exit_code != 0 and "history_fanout needs one entry per layer" in r.output
    assert "Traceback" not in r.output and not out.exists()


def test_auto_picks_minibatch_above_the_threshold_where_it_can(split):
    m = create_model("mthgt", full_graph_max_edges=10)
    m.setup(split)
    assert m.minibatch and not m.full_graph and isinstance(m.batch_builder, MiniBatches)
    m = create_model("mthgt", full_graph_max_edges=10, multitask=True)
    m.setup(split)
    assert m.minibatch and m.batch_builder.multitask  # two tasks over one GNN stack
    m = create_model("mthgt", full_graph_max_edges=10, multitask=True, shared_gnn=False)
    m.setup(split)
    assert not m.minibatch and not m.full_graph  # one GNN per task: sampled subgraphs
    m = create_model("mthgt")
    m.setup(split)
    assert m.full_graph and not m.minibatch


@pytest.mark.parametrize("two_tasks", [False, True], ids=["one-task", "two-tasks"])
def test_training_is_reproducible_learns_and_runs_on_an_explicit_device(split, tmp_path, two_tasks):
    def run(out):
        torch.manual_seed(0)
        extra = dict(multitask=True, lp_negatives=8) if two_tasks else {}
        m = create_model("mthgt-minibatch", hidden_size=16, num_heads=2, batch_size=256, negative_pool=32, **extra)
        res = Trainer(TrainConfig(epochs=4, lr=1e-2, patience=10, seed=0), out_dir=out,
                      device=torch.device("cpu")).fit(m, split)
        return m, res

    m1, r1 = run(tmp_path / "a")
    m2, r2 = run(tmp_path / "b")
    assert r1.test == r2.test and r1.val == r2.val
    # the loss falls; with two tasks each task's term does
    for key in ("rec_loss", "lp_loss") if two_tasks else ("loss",):
        losses = [h[key] for h in r1.history]
        assert losses[-1] < losses[0], key
    for a, b in zip(m1.state_dict().values(), m2.state_dict().values()):
        assert torch.equal(a, b)
    assert m1.history().src.device.type == "cpu" and m1.history().history[0].device.type == "cpu"


def test_history_refresh_every_n_steps(split):
    m = _model(split, history_refresh=2, batch_size=64)
    batches = iter(m.train_batches(torch.Generator().manual_seed(0)))
    snapshots = []
    for _ in range(5):
        m.loss(next(batches))
        snapshots.append(id(m._history.history))
        with torch.no_grad():
            m.proj[USER].weight.add_(0.01)
    # a refresh on the first step, then every second step
    assert snapshots[0] == snapshots[1] != snapshots[2] == snapshots[3] != snapshots[4]


def test_a_snapshot_serves_at_most_history_max_age_steps_of_an_epoch(split):
    def refreshes(**settings):
        m = _model(split, batch_size=16, **settings)
        batches = list(m.train_batches(torch.Generator().manual_seed(0)))[:7]
        snapshots = []
        for b in batches + batches[:3]:  # a second epoch starts at the 8th step
            m.loss(b)
            snapshots.append(id(m._history.history))
            with torch.no_grad():
                m.proj[USER].weight.add_(0.01)
        return [i for i in range(1, len(snapshots)) if snapshots[i] != snapshots[i - 1]]

    assert refreshes(history_max_age=3) == [3, 6, 7]  # every third step, and the next epoch's first
    assert refreshes(history_max_age=None) == [7]  # the next epoch's first step only
    assert refreshes(history_refresh=2, history_max_age=3) == [2, 4, 6, 8]  # a fixed period wins


@pytest.mark.parametrize("n, size", [(50, 1000), (10_000, 30)])  # the mask path and the sorting path
def test_unique_inverse_agrees_with_torch_unique(n, size):
    from hetrec.models._history import unique_inverse

    x = torch.randint(0, n, (size,), generator=torch.Generator().manual_seed(0))
    uniq, inv = unique_inverse(x, n)
    want_uniq, want_inv = torch.unique(x, return_inverse=True)
    assert torch.equal(uniq, want_uniq) and torch.equal(inv, want_inv)
    assert torch.equal(uniq[inv], x)


# -- two tasks (link prediction + recommendation) in the mini-batch mode ---------------------------


def _lp_triples(g, relations, gen, n=6, k=3):
    out = {}
    for et in relations:
        pick = torch.randint(0, g.num_edges(et), (n,), generator=gen)
        src, dst = (x.long() for x in g.find_edges(pick, etype=et))
        out[et] = (src, dst, torch.randint(0, g.num_nodes(et[2]), (n, k), generator=gen))
    return out


def test_multitask_minibatch_loss_equals_the_full_graph_loss(split):
    """With every in-edge, a two-task model's mini-batch loss (both task terms, their uncertainty
    weights, the L2 term) is the full-graph model's on the same triples; gradients agree too."""
    from hetrec.batching import FullGraphBatch

    m, full, users, pos, neg, gen = _exact_pair(split, multitask=True)
    lp = _lp_triples(split.train_graph, m.lp_relations, gen)
    assert len(lp) >= 2  # the fixture has attribute relations
    want = full.loss(FullGraphBatch(users, pos, neg, lp, {}))
    got = m.loss(MiniBatch(users, pos, neg, 0, True, lp))
    torch.testing.assert_close(got.loss, want.loss, atol=1e-6, rtol=1e-5)
    for key in ("rec_loss", "lp_loss", "lp_weight", "rec_weight", "reg"):
        assert got.logs[key] == pytest.approx(want.logs[key], rel=1e-5, abs=1e-7)
    got.loss.backward()
    want.loss.backward()
    for (name, a), (_, b) in zip(m.named_parameters(), full.named_parameters()):
        ga = a.grad if a.grad is not None else torch.zeros_like(a)
        gb = b.grad if b.grad is not None else torch.zeros_like(b)
        torch.testing.assert_close(ga, gb, atol=1e-6, rtol=1e-4, msg=name)
    with pytest.raises(ValueError, match="link-prediction triples"):
        m.loss(MiniBatch(users, pos, neg, 0, True))


def test_multitask_minibatches_draw_link_prediction_triples_from_the_training_edges(split):
    g = split.train_graph
    m = _model(split, multitask=True, batch_size=128, lp_edges_per_relation=7, lp_negatives=2)
    single = _model(split, batch_size=128)
    a = next(iter(m.train_batches(torch.Generator().manual_seed(0))))
    b = next(iter(single.train_batches(torch.Generator().manual_seed(0))))
    # the triples are drawn after what a single-task batch draws
    assert torch.equal(a.users, b.users) and torch.equal(a.neg_items, b.neg_items) and a.seed == b.seed
    assert b.lp is None and set(a.lp) == {et for et in m.lp_relations if g.num_edges(et)}
    for et, (src, dst, fake) in a.lp.items():
        assert len(src) == min(7, g.num_edges(et)) and fake.shape == (len(src), 2)
        assert bool(g.has_edges_between(src, dst, etype=et).all())
        assert int(fake.max()) < g.num_nodes(et[2])
    half = m.batch_builder.shard(a, 1, 2)
    for et in a.lp:
        for got, whole in zip(half.lp[et], a.lp[et]):
            assert torch.equal(got, whole[1::2])
    # a generator of relations is taken as the list it yields
    from hetrec.batching import MiniBatches

    assert MiniBatches(g, 128, 4, 64, (et for et in m.lp_relations)).multitask


def test_a_shard_without_link_prediction_triples_still_has_a_loss(split):
    """One triple per relation split over two ranks: rank 1 gets none of them."""
    m = _model(split, multitask=True, batch_size=64, lp_edges_per_relation=1, negative_pool=32)
    batch = next(iter(m.train_batches(torch.Generator().manual_seed(0))))
    part = m.shard_batch(batch, 1, 2)
    assert all(len(src) == 0 for src, _, _ in part.lp.values())
    out = m.loss(part)
    assert torch.isfinite(out.loss) and out.logs["lp_loss"] == 0.0
    assert torch.isfinite(m.loss(m.shard_batch(batch, 0, 2)).loss)
    # the same in full-graph training (its link-prediction loss skips an empty relation too)
    full = create_model("mthgt", multitask=True, batch_size=64, lp_edges_per_relation=1)
    full.setup(split)
    batch = next(iter(full.train_batches(torch.Generator().manual_seed(0))))
    out = full.loss(full.shard_batch(batch, 1, 2))
    assert torch.isfinite(out.loss) and out.logs["lp_loss"] == 0.0


def test_multitask_minibatch_hides_the_predicted_edges_and_their_reverses_once(split, monkeypatch):
    m = _model(split, multitask=True, lp_edges_per_relation=40)
    g = split.train_graph
    batch = next(iter(m.train_batches(torch.Generator().manual_seed(1))))
    seen = {}
    monkeypatch.setattr(m, "history_loss", lambda *a, **kw: seen.update(hidden=a[6], lp=kw["lp"]))
    m.loss(batch)
    hp = m.history()
    src, dst, rel, c = seen["hidden"]
    got = list(zip(src.tolist(), dst.tolist(), rel.tolist()))
    assert len(got) == len(set(got))  # drawn with replacement, hidden once
    want = set()
    named = [(INTERACTS, batch.users, batch.pos_items)] + [(et, s, d) for et, (s, d, _) in batch.lp.items()]
    for et, s, d in named:
        rev = m.reverse[et]
        for a, b in zip(s.tolist(), d.tolist()):
            want.add((a + hp.offset[et[0]], b + hp.offset[et[2]], hp.etypes.index(tuple(et))))
            want.add((b + hp.offset[rev[0]], a + hp.offset[rev[2]], hp.etypes.index(tuple(rev))))
    assert set(got) == want
    # each hidden edge carries its own normalisation c(e)
    for (s_, d_, r_), w in zip(got, c.tolist()):
        et = hp.etypes[r_]
        norms = hp.norms[r_]
        assert w == pytest.approx(float(norms[0][s_ - hp.offset[et[0]]] * norms[1][d_ - hp.offset[et[2]]]))
    assert g.num_edges() > len(got)
