"""k-fold splits (docs/index.md, "Splits")."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hetrec.data import INTERACTED_BY, INTERACTS, kfold_split, synthetic


def pairs(csr):
    coo = csr.tocoo()
    return set(zip(coo.row.tolist(), coo.col.tolist()))


def graph_pairs(g, etype):
    s, d = g.edges(etype=etype)
    return set(zip(s.tolist(), d.tolist()))


def check_split(g, split, k, val_ratio):
    all_pairs = graph_pairs(g, INTERACTS)
    tr, va, te = pairs(split.train), pairs(split.val), pairs(split.test)
    assert not (tr & va) and not (tr & te) and not (va & te)
    # per user: the test fold gets floor(n/k) or ceil(n/k) of n interactions (dealt round-robin),
    # validation round(val_ratio * rest) of the rest, capped so one interaction stays in train
    n = np.bincount(g.edges(etype=INTERACTS)[0].numpy(), minlength=split.num_users)
    n_test = np.asarray(split.test.sum(1)).ravel()
    n_val = np.asarray(split.val.sum(1)).ravel()
    assert np.all((n_test == n // k) | (n_test == -(-n // k)))
    rest = n - n_test
    quota = np.where(rest > 0, np.minimum(np.floor(val_ratio * rest + 0.5), rest - 1), 0)
    np.testing.assert_array_equal(n_val, quota)
    assert tr | va | te == all_pairs
    assert len(split.train_eids) + len(split.val_eids) + len(split.test_eids) == g.num_edges(INTERACTS)
    # the training graph holds exactly the training pairs, in both directions
    tg = split.train_graph
    assert graph_pairs(tg, INTERACTS) == tr
    assert {(u, i) for i, u in graph_pairs(tg, INTERACTED_BY)} == tr
    # other relations untouched, all nodes kept
    for et in g.canonical_etypes:
        if et not in (INTERACTS, INTERACTED_BY):
            assert tg.num_edges(et) == g.num_edges(et)
    assert all(tg.num_nodes(t) == g.num_nodes(t) for t in g.ntypes)
    # dgl.EID maps training edges back to the full graph
    import dgl

    eid = tg.edges[INTERACTS].data[dgl.EID]
    assert sorted(eid.tolist()) == sorted(split.train_eids.tolist())
    # edge data travels with the kept edges
    for key in g.edges[INTERACTS].data:
        assert torch.equal(tg.edges[INTERACTS].data[key], g.edges[INTERACTS].data[key][eid])
    return tr, va, te


def test_folds_partition_per_user_and_share():
    g = synthetic(num_users=60, num_items=80, num_interactions=3000, seed=3)
    k = 5
    folds = kfold_split(g, k=k, seed=7, val_ratio=0.1)
    assert len(folds) == k
    seen_test = set()
    n_per_user = np.bincount(g.edges(etype=INTERACTS)[0].numpy(), minlength=60)
    for f in range(k):
        sp = folds[f]
        tr, va, te = check_split(g, sp, k, 0.1)
        assert not (seen_test & te)  # test sets of different folds are disjoint
        seen_test |= te
        test_per_user = np.asarray(sp.test.sum(1)).ravel()
        # dealing: each user's test count is floor or ceil of n/k
        assert np.all(test_per_user >= np.floor(n_per_user / k))
        assert np.all(test_per_user <= np.ceil(n_per_user / k))
        # validation is ~10% of each user's non-test part, and never all of it
        rest = n_per_user - test_per_user
        val_per_user = np.asarray(sp.val.sum(1)).ravel()
        assert np.all(val_per_user == np.minimum(np.floor(0.1 * rest + 0.5), rest - 1))
    assert seen_test == graph_pairs(g, INTERACTS)  # the k test sets cover everything


def test_same_seed_same_split_other_seed_differs():
    g = synthetic(num_users=40, num_items=50, num_interactions=800, seed=0)
    a, b, c = kfold_split(g, seed=1)[2], kfold_split(g, seed=1)[2], kfold_split(g, seed=2)[2]
    assert np.array_equal(a.test_eids, b.test_eids) and np.array_equal(a.val_eids, b.val_eids)
    assert not np.array_equal(a.test_eids, c.test_eids)


def test_bad_arguments():
    g = synthetic(num_users=5, num_items=5, num_interactions=10)
    with pytest.raises(ValueError, match="k must be at least 2"):
        kfold_split(g, k=1)
    with pytest.raises(ValueError, match="val_ratio"):
        kfold_split(g, val_ratio=1.0)
    with pytest.raises(IndexError):
        kfold_split(g, k=3)[3]


@settings(max_examples=25, deadline=None)
@given(n_users=st.integers(2, 15), n_items=st.integers(2, 15), density=st.floats(0.1, 0.9),
       k=st.integers(2, 6), val_ratio=st.sampled_from([0.0, 0.1, 0.3]), seed=st.integers(0, 10_000))
def test_split_properties_random_graphs(n_users, n_items, density, k, val_ratio, seed):
    g = synthetic(n_users, n_items, max(1, int(density * n_users * n_items)), num_tags=3, seed=seed)
    folds = kfold_split(g, k=k, seed=seed, val_ratio=val_ratio)
    check_split(g, folds[seed % k], k, val_ratio)


@pytest.mark.realdata
def test_lastfm_split_share(lastfm_graph):
    sp = kfold_split(lastfm_graph, k=5, seed=0)[0]
    check_split(lastfm_graph, sp, 5, 0.1)
    share = sp.test.nnz / lastfm_graph.num_edges(INTERACTS)
    assert abs(share - 0.2) < 0.01
