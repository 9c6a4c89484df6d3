"""The complete MovieLens-1M (``$HETREC_DATA/ml-1m``): counts from the GroupLens README and
../shared/data/SOURCES.md, the schema, the reverses, and a leak-free split. Loaded once per
session; nothing here trains."""
import dgl
import numpy as np
import pytest
import torch

from hetrec.data import INTERACTED_BY, INTERACTS, MovieLens1M, kfold_split, reverse_etypes

pytestmark = pytest.mark.realdata


def test_counts(ml1m_dataset):
    ds = ml1m_dataset
    g = ds.graph
    assert ds.verified
    assert ds.dropped == {} or sum(ds.dropped.values()) == 0
    assert g.num_nodes("user") == 6040
    assert g.num_nodes("item") == 3883
    assert g.num_edges(INTERACTS) == 1_000_209
    rated = torch.unique(g.edges(etype=INTERACTS)[1])
    assert rated.numel() == 3706
    r = g.edges[INTERACTS].data["rating"]
    assert torch.bincount(r, minlength=6)[1:].tolist() == [56174, 107557, 261197, 348971, 226310]
    assert g.num_nodes("genre") == 18 and g.num_nodes("age") == 7
    assert g.num_nodes("gender") == 2 and g.num_nodes("occupation") == 21
    # every user has exactly one gender, age and occupation; every movie at least one genre
    for attr in ("gender", "age", "occupation"):
        assert torch.equal(g.out_degrees(etype=("user", f"has_{attr}", attr)), torch.ones(6040, dtype=torch.int64))
    assert int(g.out_degrees(etype=("item", "has_genre", "genre")).min()) >= 1
    # every user rated at least 20 movies (the README's guarantee)
    assert int(g.out_degrees(etype=INTERACTS).min()) >= 20


def test_names_and_raw_ids(ml1m_dataset):
    g = ml1m_dataset.graph
    raw = g.nodes["item"].data["raw_id"]
    assert raw.unique().numel() == 3883
    i = int((raw == 1).nonzero()[0])  # movie 1 of movies.dat
    assert ml1m_dataset.item_name(i) == "Toy Story (1995)"
    assert set(ml1m_dataset.names["gender"]) == {"F", "M"}


def test_every_relation_has_its_reverse(ml1m_dataset):
    g = ml1m_dataset.graph
    rev = reverse_etypes(g)
    assert set(rev) == set(g.canonical_etypes) and len(g.canonical_etypes) == 10
    for et, r in rev.items():
        assert et != r and rev[r] == et
        s, d = g.edges(etype=et)
        rs, rd = g.edges(etype=r)
        assert torch.equal(s, rd) and torch.equal(d, rs)


def _keys(users, items, ni):
    return np.asarray(users, dtype=np.int64) * ni + np.asarray(items, dtype=np.int64)


def test_kfold_split_leaks_nothing(ml1m_dataset):
    g = ml1m_dataset.graph
    ni = g.num_nodes("item")
    s, d = g.edges(etype=INTERACTS)
    every = _keys(s.numpy(), d.numpy(), ni)
    folds = kfold_split(g, k=5, seed=0)
    seen_test = np.zeros(len(every), dtype=np.int64)
    for f in (0, 4):
        sp = folds[f]
        parts = {}
        for name in ("train", "val", "test"):
            coo = getattr(sp, name).tocoo()
            parts[name] = np.sort(_keys(coo.row, coo.col, ni))
        assert len(np.intersect1d(parts["train"], parts["test"])) == 0
        assert len(np.intersect1d(parts["train"], parts["val"])) == 0
        assert len(np.intersect1d(parts["val"], parts["test"])) == 0
        assert np.array_equal(np.sort(np.concatenate(list(parts.values()))), np.sort(every))
        # the training graph holds exactly the training pairs, in both directions, and no more
        tg = sp.train_graph
        ts, td = tg.edges(etype=INTERACTS)
        assert np.array_equal(np.sort(_keys(ts.numpy(), td.numpy(), ni)), parts["train"])
        bs, bd = tg.edges(etype=INTERACTED_BY)
        assert np.array_equal(np.sort(_keys(bd.numpy(), bs.numpy(), ni)), parts["train"])
        eid = tg.edges[INTERACTS].data[dgl.EID]
        assert torch.equal(tg.edges[INTERACTS].data["rating"], g.edges[INTERACTS].data["rating"][eid])
        # about 1/k of the interactions of every user are in the test fold
        share = sp.test.nnz / len(every)
        assert abs(share - 0.2) < 0.005
        per_user = np.asarray(sp.test.sum(1)).ravel() / np.asarray(g.out_degrees(etype=INTERACTS))
        assert per_user.min() >= 0.1 and per_user.max() <= 0.3
        seen_test[sp.test_eids] += 1
    assert seen_test.max() == 1  # folds 0 and 4 test disjoint interactions


def test_cached_load_equals_first(ml1m_dir, ml1m_dataset):
    again = MovieLens1M(root=ml1m_dir.parent)
    assert again.has_cache() and again.verified
    for et in ml1m_dataset.graph.canonical_etypes:
        assert torch.equal(torch.stack(again.graph.edges(etype=et)),
                           torch.stack(ml1m_dataset.graph.edges(etype=et)))
