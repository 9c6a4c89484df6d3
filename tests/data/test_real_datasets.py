"""The real datasets: counts from the published readmes (and ../shared/data/SOURCES.md)."""
import warnings

import pytest
import torch

from hetrec.data import INTERACTS, ChecksumError, LastFM2K, MovieLens1M, reverse_etypes

pytestmark = pytest.mark.realdata


def test_lastfm_counts(lastfm_dataset):
    g = lastfm_dataset.graph
    assert lastfm_dataset.verified
    assert g.num_nodes("user") == 1892
    assert g.num_nodes("item") == 17632
    assert g.num_nodes("tag") == 11946
    assert g.num_edges(INTERACTS) == 92834
    assert g.num_edges(("user", "friend", "user")) == 25434
    # play counts as edge data, 1..352,698 per the readme
    w = g.edges[INTERACTS].data["weight"]
    assert int(w.min()) == 1 and int(w.max()) == 352698
    # tag assignments naming an artist missing from artists.dat are dropped and reported
    assert lastfm_dataset.dropped.get("tag assignments with unknown artist", 0) > 0
    # every remaining assignment is counted once in each tag relation
    n_assign = 186479 - sum(lastfm_dataset.dropped.values())
    assert int(g.edges[("item", "tagged_with", "tag")].data["count"].sum()) == n_assign
    assert int(g.edges[("user", "uses_tag", "tag")].data["count"].sum()) == n_assign


def test_lastfm_every_relation_has_its_reverse(lastfm_graph):
    g = lastfm_graph
    rev = reverse_etypes(g)
    assert set(rev) == set(g.canonical_etypes)
    for et, r in rev.items():
        s, d = g.edges(etype=et)
        rs, rd = g.edges(etype=r)
        assert g.num_edges(et) == g.num_edges(r)
        if et == r:  # friendship: symmetric within one relation
            fwd = set(zip(s.tolist(), d.tolist()))
            assert fwd == set(zip(d.tolist(), s.tolist()))
        else:  # same facts, same order
            assert torch.equal(s, rd) and torch.equal(d, rs)


def test_lastfm_raw_ids_map_back(lastfm_dataset):
    g = lastfm_dataset.graph
    raw = g.nodes["item"].data["raw_id"]
    assert raw.unique().numel() == g.num_nodes("item")
    i = int((raw == 289).nonzero()[0])  # artist 289 is Britney Spears in artists.dat
    assert lastfm_dataset.item_name(i) == "Britney Spears"


def test_lastfm_cache_round_trip(lastfm_dir, lastfm_graph):
    again = LastFM2K(root=lastfm_dir.parent)  # second load comes from the cache
    assert again.has_cache()
    for et in lastfm_graph.canonical_etypes:
        assert torch.equal(torch.stack(again.graph.edges(etype=et)), torch.stack(lastfm_graph.edges(etype=et)))


def test_ml1m_partial_fails_verification(ml_partial_dir):
    with pytest.raises(ChecksumError) as err:
        MovieLens1M(root=ml_partial_dir)
    msg = str(err.value)
    assert "ratings.dat" in msg and "a89aa3591bc97d6d4e0c89459ff39362" in msg


def test_ml1m_partial_loads_unverified(ml_partial_dir):
    with pytest.warns(UserWarning, match="UNVERIFIED"):
        ds = MovieLens1M(root=ml_partial_dir, verify=False, cache=False)
    g = ds.graph
    assert not ds.verified
    assert g.num_nodes("user") == 6040
    assert g.num_nodes("item") == 3883
    assert g.num_edges(INTERACTS) == 562245
    assert {"gender", "age", "occupation", "genre"} <= set(g.ntypes)
    assert g.num_nodes("gender") == 2 and g.num_nodes("age") == 7 and g.num_nodes("occupation") == 21
    assert g.num_nodes("genre") == 18
    r = g.edges[INTERACTS].data["rating"]
    assert int(r.min()) == 1 and int(r.max()) == 5
    # rating counts per value from SOURCES.md
    assert torch.bincount(r)[1:].tolist() == [56174, 107557, 123831, 167066, 107617]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reverse_etypes(g)
