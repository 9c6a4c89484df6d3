"""Cold-start splits (hetrec.data.coldstart): leak-free, seeded, the protocol of docs/coldstart.md."""
import numpy as np
import pytest
import torch

from hetrec.data import INTERACTED_BY, INTERACTS, ITEM, USER, attribute_ntypes, cold_start_split, synthetic


@pytest.fixture(scope="module")
def graph():
    return synthetic(num_users=80, num_items=120, num_interactions=2500, num_friendships=200, seed=5)


def pairs(csr):
    coo = csr.tocoo()
    return set(zip(coo.row.tolist(), coo.col.tolist()))


def graph_pairs(g, etype):
    s, d = g.edges(etype=etype)
    return set(zip(s.tolist(), d.tolist()))


def check_leak_free(g, split):
    """No held-out interaction, nor its reverse, in the training graph; train/val/test partition
    the interactions."""
    tg = split.train_graph
    held = pairs(split.val) | pairs(split.test)
    assert not held & graph_pairs(tg, INTERACTS)
    assert not held & {(u, i) for i, u in graph_pairs(tg, INTERACTED_BY)}
    assert graph_pairs(tg, INTERACTS) == pairs(split.train)
    assert {(u, i) for i, u in graph_pairs(tg, INTERACTED_BY)} == pairs(split.train)
    assert pairs(split.train) | held == graph_pairs(g, INTERACTS)
    assert len(split.train_eids) + len(split.val_eids) + len(split.test_eids) == g.num_edges(INTERACTS)
    assert all(tg.num_nodes(t) == g.num_nodes(t) for t in g.ntypes)


@pytest.mark.parametrize("setting", ["cold-items", "cold-users"])
def test_folds_deal_every_active_node_once_and_are_leak_free(graph, setting):
    folds = cold_start_split(graph, setting, k=5, seed=3)
    ntype = ITEM if setting == "cold-items" else USER
    col = 1 if ntype == ITEM else 0
    active = np.unique(graph.edges(etype=INTERACTS)[col].numpy())
    seen = []
    for split in folds:
        check_leak_free(graph, split)
        seen.append(split.cold)
        cold = set(split.cold.tolist())
        # the test set is exactly the cold nodes' interactions
        assert {p[col] for p in pairs(split.test)} == cold
        assert not {p[col] for p in pairs(split.train) | pairs(split.val)} & cold
        # cold nodes have zero training interactions, in both directions
        tg = split.train_graph
        et, rev = (INTERACTS, INTERACTED_BY)
        deg = tg.in_degrees(etype=et) if ntype == ITEM else tg.out_degrees(etype=et)
        assert int(deg[torch.from_numpy(split.cold)].sum()) == 0
        deg_r = tg.out_degrees(etype=rev) if ntype == ITEM else tg.in_degrees(etype=rev)
        assert int(deg_r[torch.from_numpy(split.cold)].sum()) == 0
        # they keep their attribute edges, and only those
        attrs = set(attribute_ntypes(graph))
        for c_et in graph.canonical_etypes:
            s_t, _, d_t = c_et
            if ntype not in (s_t, d_t):
                continue
            end = 0 if s_t == ntype else 1
            ids = torch.from_numpy(split.cold)
            before = torch.isin(graph.edges(etype=c_et)[end], ids).sum()
            after = torch.isin(tg.edges(etype=c_et)[end], ids).sum()
            if (s_t in attrs) or (d_t in attrs):
                assert int(after) == int(before) > 0 or int(before) == 0
            else:
                assert int(after) == 0
        if ntype == ITEM:
            np.testing.assert_array_equal(split.candidates, split.cold)
        else:
            assert split.candidates is None
    everything = np.concatenate(seen)
    assert len(everything) == len(set(everything.tolist())) == len(active)
    assert set(everything.tolist()) == set(active.tolist())


def test_friendships_of_cold_users_leave_the_training_graph(graph):
    split = cold_start_split(graph, "cold-users", k=4, seed=0)[1]
    friend = ("user", "friend", "user")
    assert graph.num_edges(friend) > 0
    s, d = split.train_graph.edges(etype=friend)
    cold = torch.from_numpy(split.cold)
    assert not torch.isin(s, cold).any() and not torch.isin(d, cold).any()
    # warm friendships stay
    s0, d0 = graph.edges(etype=friend)
    warm = ~(torch.isin(s0, cold) | torch.isin(d0, cold))
    assert split.train_graph.num_edges(friend) == int(warm.sum())


@pytest.mark.parametrize("setting", ["cold-items", "cold-users"])
def test_seeded_determinism(graph, setting):
    a = cold_start_split(graph, setting, k=5, seed=11)
    b = cold_start_split(graph, setting, k=5, seed=11)
    c = cold_start_split(graph, setting, k=5, seed=12)
    assert a.digest() == b.digest() != c.digest()
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.cold, y.cold)
        np.testing.assert_array_equal(x.test_eids, y.test_eids)
        np.testing.assert_array_equal(x.val_eids, y.val_eids)


@pytest.mark.parametrize("n", [0, 1, 3, 5])
def test_revealed_interactions_are_each_cold_users_first_n(graph, n):
    split = cold_start_split(graph, "cold-users", k=5, seed=2)[0]
    rev = split.revealed(n)
    per_user = np.asarray(rev.sum(1)).ravel()
    total = np.asarray(split.test.sum(1)).ravel()
    np.testing.assert_array_equal(per_user[split.cold], np.minimum(total[split.cold], n))
    assert not np.delete(per_user, split.cold).any()
    # targets after the first 5 never overlap what n <= 5 reveals
    assert not pairs(rev) & pairs(split.test_after(5))
    assert pairs(rev) | pairs(split.test_after(n)) == pairs(split.test)
    # the graph with n revealed: the training graph plus exactly those, both directions
    g_n = split.graph_with(n)
    assert graph_pairs(g_n, INTERACTS) == pairs(split.train) | pairs(rev)
    assert {(u, i) for i, u in graph_pairs(g_n, INTERACTED_BY)} == pairs(split.train) | pairs(rev)
    assert not pairs(split.test_after(n)) & graph_pairs(g_n, INTERACTS)
    # the training graph itself is untouched
    assert graph_pairs(split.train_graph, INTERACTS) == pairs(split.train)


def test_reveal_order_follows_time_where_known():
    import dgl

    g = synthetic(num_users=30, num_items=40, num_interactions=500, seed=1)
    n = g.num_edges(INTERACTS)
    stamps = torch.randperm(n, generator=torch.Generator().manual_seed(0)).double()
    g.edges[INTERACTS].data["timestamp"] = stamps
    split = cold_start_split(g, "cold-users", k=3, seed=0)[0]
    first = split.revealed_eids(2)
    assert isinstance(split.graph_with(2), dgl.DGLGraph)
    users = g.edges(etype=INTERACTS, order="eid")[0].numpy()
    for u in split.cold[:10]:
        mine = np.flatnonzero(users == u)
        expect = mine[np.argsort(stamps[mine].numpy())][:2]
        assert set(first[users[first] == u].tolist()) == set(expect.tolist())


def test_bad_arguments_are_one_clear_error(graph):
    with pytest.raises(ValueError, match="unknown cold-start setting 'cold-tags'"):
        cold_start_split(graph, "cold-tags")
    with pytest.raises(ValueError, match="k must be"):
        cold_start_split(graph, "cold-items", k=1)
    split = cold_start_split(graph, "cold-items", k=3)[0]
    with pytest.raises(ValueError, match="only cold users reveal"):
        split.revealed(1)
    with pytest.raises(ValueError, match="non-negative integer"):
        cold_start_split(graph, "cold-users", k=3)[0].revealed(-1)
