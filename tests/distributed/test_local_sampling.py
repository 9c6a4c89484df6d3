"""The dense sampler on one partition plus its HALO: the local graph holds exactly what the
partition file holds (every training edge with an end the partition owns), in the hetrec schema,
with ids that map back to the DistGraph and the dataset; a one-partition folder gives back the
training graph, so local and full-graph sampling agree draw for draw."""
import json
import shutil

import dgl
import numpy as np
import pytest
import torch

from hetrec.data import INTERACTED_BY, INTERACTS, kfold_split, synthetic
from hetrec.distributed import (
    DATASET_ID,
    DIST_ID,
    INNER,
    ORIG_IDS_FILE,
    LocalDenseSampler,
    PartitionError,
    load_heldout,
    local_graph,
    partition_edges,
    partition_fold,
)
from hetrec.sampling import DenseSubgraphSampler

FOLD = 1


@pytest.fixture(scope="module")
def graph():
    # two categories and two groups: small node types, as in test_partition.py
    return synthetic(num_users=120, num_items=150, num_interactions=1500, num_clusters=2, num_groups=2,
                     num_tags=20, seed=3)


@pytest.fixture(scope="module")
def splits(graph):
    return kfold_split(graph, k=5, seed=0)


@pytest.fixture(scope="module")
def parted(splits, tmp_path_factory):
    root = tmp_path_factory.mktemp("local")
    for method in ("metis", "random"):
        partition_fold(splits, FOLD, 2, root / method, method=method, seed=0)
    return {method: root / method for method in ("metis", "random")}


METHOD = pytest.mark.parametrize("method", ["metis", "random"])


def owner(folder, train_graph) -> dict:
    """The partition that owns each training-graph node, from DGL's own id ranges
    (``node_map`` of its configuration) and ``orig_ids.npz``."""
    meta = json.loads((folder / "hetrec_partition.json").read_text())
    config = json.loads((folder / meta["dgl_config"]).read_text())
    ids = np.load(folder / ORIG_IDS_FILE)
    out = {}
    for t in train_graph.ntypes:
        sizes = [end - start for start, end in config["node_map"][t]]
        part = np.full(train_graph.num_nodes(t), -1)
        part[ids[f"node:{t}"]] = np.repeat(np.arange(len(sizes)), sizes)
        out[t] = part
    return out


def training_edges(train_graph, et) -> tuple:
    """(src, dst, dataset edge id) of a relation of the training graph (its node ids are the dataset's)."""
    src, dst = (x.numpy() for x in train_graph.edges(etype=et))
    eid = (train_graph.edges[INTERACTS].data[dgl.EID].numpy() if et in (INTERACTS, INTERACTED_BY)
           else np.arange(train_graph.num_edges(et)))
    return src, dst, eid


def triples(src, dst, eid) -> np.ndarray:
    t = np.stack([src, dst, eid], axis=1)
    return t[np.lexsort(t.T[::-1])]


def local_triples(lg, et) -> np.ndarray:
    s, d = lg.edges(etype=et)
    stype, _, dtype = et
    return triples(lg.nodes[stype].data[DATASET_ID][s].numpy(), lg.nodes[dtype].data[DATASET_ID][d].numpy(),
                   lg.edges[et].data[DATASET_ID].numpy())


@METHOD
@pytest.mark.parametrize("part", [0, 1])
def test_the_local_graph_is_the_partition_with_its_halo(parted, splits, method, part):
    """Against a construction from the training graph and DGL's node assignment: every edge with
    an end the partition owns, none other; nodes are the owned ones plus the other ends (HALO)."""
    folder = parted[method]
    tg = splits[FOLD].train_graph
    lg = local_graph(folder, part, splits=splits)
    assert set(lg.ntypes) == set(tg.ntypes) and set(lg.canonical_etypes) == set(tg.canonical_etypes)
    own = owner(folder, tg)
    expected_nodes = {t: set(np.flatnonzero(own[t] == part)) for t in tg.ntypes}
    for et in tg.canonical_etypes:
        stype, _, dtype = et
        src, dst, eid = training_edges(tg, et)
        mine = (own[stype][src] == part) | (own[dtype][dst] == part)
        np.testing.assert_array_equal(local_triples(lg, et), triples(src[mine], dst[mine], eid[mine]), err_msg=str(et))
        assert lg.num_edges(et) > 0
        expected_nodes[stype] |= set(src[mine])
        expected_nodes[dtype] |= set(dst[mine])
        # an edge is the partition's own when its destination is (DGL's rule); the rest are copies
        s, d = lg.edges(etype=et)
        inner = own[dtype][lg.nodes[dtype].data[DATASET_ID][d].numpy()] == part
        np.testing.assert_array_equal(lg.edges[et].data[INNER].numpy(), inner)
        # the same edges as hetrec's own reading of the file, partition_edges(inner_only=False)
        np.testing.assert_array_equal(local_triples(lg, et), triples(*partition_edges(folder, part, inner_only=False)[et]))
    halo = 0
    for t in tg.ntypes:
        ids = lg.nodes[t].data[DATASET_ID].numpy()
        np.testing.assert_array_equal(ids, np.array(sorted(expected_nodes[t])))  # dataset order
        np.testing.assert_array_equal(lg.nodes[t].data[INNER].numpy(), own[t][ids] == part)
        halo += int((~lg.nodes[t].data[INNER]).sum())
    assert halo > 0  # two parts of a connected graph: some HALO nodes


def per_type_range(ranges, part) -> tuple:
    """The per-type DistGraph ids partition ``part`` owns, from DGL's ``node_map`` / ``edge_map``
    ranges (of homogeneous ids: each partition owns a contiguous run of every type, in order)."""
    sizes = np.array([end - start for start, end in ranges])
    return int(sizes[:part].sum()), int(sizes[:part + 1].sum())


@METHOD
def test_dist_ids_are_dgls_and_map_to_the_dataset_ids(parted, splits, method):
    folder = parted[method]
    meta = json.loads((folder / "hetrec_partition.json").read_text())
    config = json.loads((folder / meta["dgl_config"]).read_text())
    ids = np.load(folder / ORIG_IDS_FILE)
    for part in range(2):
        lg = local_graph(folder, part)
        for t in lg.ntypes:
            dist, inner = lg.nodes[t].data[DIST_ID].numpy(), lg.nodes[t].data[INNER].numpy()
            np.testing.assert_array_equal(ids[f"node:{t}"][dist], lg.nodes[t].data[DATASET_ID].numpy())
            start, end = per_type_range(config["node_map"][t], part)  # the DistGraph ids this partition owns
            np.testing.assert_array_equal((dist >= start) & (dist < end), inner)
        for et in lg.canonical_etypes:
            key = ":".join(et)
            dist, inner = lg.edges[et].data[DIST_ID].numpy(), lg.edges[et].data[INNER].numpy()
            np.testing.assert_array_equal(ids[f"edge:{key}"][dist], lg.edges[et].data[DATASET_ID].numpy())
            start, end = per_type_range(config["edge_map"][key], part)
            np.testing.assert_array_equal((dist >= start) & (dist < end), inner)
            assert inner.sum() == meta["parts"][part]["edges"][key]


@METHOD
def test_no_held_out_interaction_is_in_a_local_graph(parted, graph, splits, method):
    held = load_heldout(parted[method])
    held_eids = np.concatenate([held["val"][2], held["test"][2]])
    held_pairs = set(zip(np.concatenate([held["val"][0], held["test"][0]]).tolist(),
                         np.concatenate([held["val"][1], held["test"][1]]).tolist()))
    assert len(held_eids) > 0
    for part in range(2):
        lg = local_graph(parted[method], part)
        for et in (INTERACTS, INTERACTED_BY):
            assert not np.isin(lg.edges[et].data[DATASET_ID].numpy(), held_eids).any()
        for et, (u_pos, i_pos) in ((INTERACTS, (0, 1)), (INTERACTED_BY, (1, 0))):
            ends = local_triples(lg, et)
            pairs = set(zip(ends[:, u_pos].tolist(), ends[:, i_pos].tolist()))
            assert not pairs & held_pairs  # the synthetic graph's pairs are distinct


@pytest.fixture(scope="module")
def one_part(splits, tmp_path_factory):
    folder = tmp_path_factory.mktemp("one") / "parts"
    partition_fold(splits, 0, 1, folder)
    return folder


def test_one_partition_gives_back_the_training_graph(one_part, splits):
    tg = splits[0].train_graph
    lg = local_graph(one_part, 0, splits=splits)
    assert lg.ntypes == tg.ntypes and lg.canonical_etypes == tg.canonical_etypes
    for t in tg.ntypes:
        assert lg.num_nodes(t) == tg.num_nodes(t)
        np.testing.assert_array_equal(lg.nodes[t].data[DATASET_ID].numpy(), np.arange(tg.num_nodes(t)))
        assert lg.nodes[t].data[INNER].all()
    for et in tg.canonical_etypes:
        for a, b in zip(lg.edges(etype=et), tg.edges(etype=et)):
            assert torch.equal(a, b), et  # the same edges in the same order
        np.testing.assert_array_equal(lg.edges[et].data[DATASET_ID].numpy(), training_edges(tg, et)[2])
        assert lg.edges[et].data[INNER].all()


@pytest.mark.parametrize("max_in_edges", [None, 3])
def test_on_one_partition_local_sampling_is_full_graph_sampling(one_part, splits, max_in_edges):
    """Same graph, same seeds, same generator seed: the same draws, node for node and edge for edge."""
    tg = splits[0].train_graph
    lg = local_graph(one_part, 0)
    interactions = tg.edges[INTERACTS].data[dgl.EID]
    batch = torch.from_numpy(np.random.default_rng(0).choice(tg.num_edges(INTERACTS), 64, replace=False))
    users, items = tg.find_edges(batch, etype=INTERACTS)
    full = DenseSubgraphSampler(2, 8, max_in_edges=max_in_edges, generator=torch.Generator().manual_seed(11))
    full_nodes, _, full_sub = full.sample(tg, {"user": torch.unique(users), "item": torch.unique(items)},
                                          {INTERACTS: batch, INTERACTED_BY: batch})
    local = LocalDenseSampler(DenseSubgraphSampler(2, 8, max_in_edges=max_in_edges,
                                                   generator=torch.Generator().manual_seed(11)), lg)
    nodes, (src, dst), sub = local.sample_interactions(interactions[batch], by=DATASET_ID)
    assert set(nodes) == set(full_nodes)
    for t in tg.ntypes:
        assert torch.equal(nodes[t], full_nodes[t]), t
    for et in tg.canonical_etypes:
        for a, b in zip(sub.edges(etype=et), full_sub.edges(etype=et)):
            assert torch.equal(a, b), et
    assert sum(len(v) for v in nodes.values()) > len(torch.unique(users)) + len(torch.unique(items))  # it drew
    assert torch.equal(nodes["user"][src], users) and torch.equal(nodes["item"][dst], items)


@METHOD
def test_a_trainers_sample_maps_to_dist_graph_and_dataset_ids(parted, graph, method):
    folder = parted[method]
    ids = np.load(folder / ORIG_IDS_FILE)
    for part in range(2):
        lg = local_graph(folder, part)
        owned = lg.edges[INTERACTS].data[DIST_ID][lg.edges[INTERACTS].data[INNER]]
        batch = owned[torch.from_numpy(np.random.default_rng(part).choice(len(owned), 40, replace=False))]
        sampler = LocalDenseSampler(DenseSubgraphSampler(2, 8, generator=torch.Generator().manual_seed(part)), lg)
        nodes, (src, dst), sub = sampler.sample_interactions(batch)  # DistGraph ids in, DistGraph ids out
        # each interaction's ends, from the dataset graph itself
        facts = ids["edge:user:interacts:item"][batch.numpy()]
        users, items = (x.numpy() for x in graph.find_edges(torch.from_numpy(facts), etype=INTERACTS))
        np.testing.assert_array_equal(ids["node:user"][nodes["user"][src].numpy()], users)
        np.testing.assert_array_equal(ids["node:item"][nodes["item"][dst].numpy()], items)
        assert len(sub.nodes["tag"].data[DIST_ID]) > 0  # the budget reached beyond the seeds' types
        for t in sub.ntypes:
            assert torch.equal(nodes[t], sub.nodes[t].data[DIST_ID])
            np.testing.assert_array_equal(ids[f"node:{t}"][nodes[t].numpy()], sub.nodes[t].data[DATASET_ID].numpy())
            local_ids = sub.nodes[t].data[dgl.NID]
            assert torch.equal(lg.nodes[t].data[DIST_ID][local_ids], nodes[t])
        # every subgraph edge is a dataset edge with that id; the batch is gone in both directions;
        # and the subgraph is induced: every other local edge among the sampled nodes is there
        for et in sub.canonical_etypes:
            stype, _, dtype = et
            s, d = sub.edges(etype=et)
            eid = sub.edges[et].data[DATASET_ID]
            gs, gd = graph.find_edges(eid, etype=et)
            assert torch.equal(gs, sub.nodes[stype].data[DATASET_ID][s]) and torch.equal(gd, sub.nodes[dtype].data[DATASET_ID][d])
            if et in (INTERACTS, INTERACTED_BY):
                assert not np.isin(eid.numpy(), facts).any()
            ls, ld = (x.numpy() for x in lg.edges(etype=et))
            among = (np.isin(ls, sub.nodes[stype].data[dgl.NID].numpy()) & np.isin(ld, sub.nodes[dtype].data[dgl.NID].numpy())
                     & ~np.isin(lg.edges[et].data[DATASET_ID].numpy(), facts if et in (INTERACTS, INTERACTED_BY) else []))
            assert sub.num_edges(et) == among.sum(), et
        # the same sample asked for by node seeds in dataset ids
        seeds = {"user": torch.unique(torch.from_numpy(users)), "item": torch.unique(torch.from_numpy(items))}
        sampler.sampler.generator = torch.Generator().manual_seed(part)
        again, _, _ = sampler.sample(seeds, {INTERACTS: facts, INTERACTED_BY: facts}, by=DATASET_ID)
        for t in sub.ntypes:
            np.testing.assert_array_equal(again[t].numpy(), sub.nodes[t].data[DATASET_ID].numpy())


def test_bad_input_is_named(parted, splits, graph, tmp_path):
    folder = parted["random"]
    with pytest.raises(PartitionError, match="no partition 2"):
        local_graph(folder, 2)
    with pytest.raises(PartitionError, match="another split"):
        local_graph(folder, 0, splits=kfold_split(graph, k=5, seed=1))
    lg = local_graph(folder, 0)
    sampler = LocalDenseSampler(DenseSubgraphSampler(1, 4), lg)
    with pytest.raises(ValueError, match=r"1 of the 2 item node ids \(dist_id: 1000000\) are not in this local graph"):
        sampler.sample({"item": torch.tensor([int(lg.nodes["item"].data[DIST_ID][0]), 10**6])})
    missing = np.setdiff1d(np.arange(graph.num_nodes("user")), lg.nodes["user"].data[DATASET_ID].numpy())
    if len(missing):  # a user neither owned nor adjacent to the partition: cannot be a seed here
        with pytest.raises(ValueError, match="not in this local graph"):
            sampler.sample({"user": torch.from_numpy(missing[:1])}, by=DATASET_ID)
    with pytest.raises(ValueError, match="no node type 'artist'"):
        sampler.sample({"artist": torch.tensor([0])})
    with pytest.raises(ValueError, match="by must be one of 'dist_id', 'dataset_id', got 'raw_id'"):
        sampler.sample({"user": torch.tensor([0])}, by="raw_id")
    with pytest.raises(ValueError, match="interactions are edges of"):
        sampler.sample_interactions(torch.tensor([0]), etype=("user", "friend", "user"))
    with pytest.raises(ValueError, match="not a local graph of a partition"):
        LocalDenseSampler(DenseSubgraphSampler(1, 4), splits[FOLD].train_graph)
    # a changed partition file is refused by its checksum
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    with open(copy / "part1" / "graph.dgl", "ab") as f:
        f.write(b"\0")
    local_graph(copy, 0)  # partition 0's files are intact
    with pytest.raises(PartitionError, match=r"part1/graph.dgl: changed since it was written"):
        local_graph(copy, 1)


@pytest.mark.realdata
def test_lastfm_local_graph(lastfm_graph, tmp_path):
    """The real Last.FM, fold 0, two METIS parts: partition 1's local graph against the
    construction from the training graph, and one sample's ids (a few seconds)."""
    splits = kfold_split(lastfm_graph, k=5, seed=0)
    tg = splits[0].train_graph
    folder = tmp_path / "parts"
    partition_fold(splits, 0, 2, folder)
    lg = local_graph(folder, 1, splits=splits)
    own = owner(folder, tg)
    for et in tg.canonical_etypes:
        stype, _, dtype = et
        src, dst, eid = training_edges(tg, et)
        mine = (own[stype][src] == 1) | (own[dtype][dst] == 1)
        np.testing.assert_array_equal(local_triples(lg, et), triples(src[mine], dst[mine], eid[mine]), err_msg=str(et))
    assert {t: int(lg.nodes[t].data[INNER].sum()) for t in tg.ntypes} == {t: int((own[t] == 1).sum()) for t in tg.ntypes}
    owned = lg.edges[INTERACTS].data[DIST_ID][lg.edges[INTERACTS].data[INNER]][:512]
    nodes, (src, dst), sub = LocalDenseSampler(
        DenseSubgraphSampler(2, 128, generator=torch.Generator().manual_seed(0)), lg).sample_interactions(owned)
    ids = np.load(folder / ORIG_IDS_FILE)
    facts = torch.from_numpy(ids["edge:user:interacts:item"][owned.numpy()])
    users, items = lastfm_graph.find_edges(facts, etype=INTERACTS)
    np.testing.assert_array_equal(ids["node:user"][nodes["user"][src].numpy()], users.numpy())
    np.testing.assert_array_equal(ids["node:item"][nodes["item"][dst].numpy()], items.numpy())
    assert sub.num_nodes("tag") == 256  # two rounds of 128 tags
