"""A fold's training graph partitioned for DistDGL: the schema and the split survive, no held-out
interaction is visible to training, and a folder that does not match the data is refused."""
import json
import os
import re
import shutil
import time

import dgl
import numpy as np
import pytest
from click.testing import CliRunner

import hetrec.distributed as hd
import hetrec.distributed.partition as hp
from hetrec.cli import PARTITION_METHODS, main
from hetrec.data import INTERACTED_BY, INTERACTS, kfold_split, synthetic
from hetrec.data.schema import reverse_name
from hetrec.distributed import (
    PartitionError,
    check_partition,
    load_heldout,
    partition_edges,
    partition_fold,
    read_metadata,
)


def small_graph(seed=3):
    # two categories and two groups: small node types, the hard case for DGL 2.1's partitioner
    return synthetic(num_users=120, num_items=150, num_interactions=1500, num_clusters=2, num_groups=2,
                     num_tags=20, seed=seed)


@pytest.fixture(scope="module")
def graph():
    return small_graph()


@pytest.fixture(scope="module")
def splits(graph):
    return kfold_split(graph, k=5, seed=0)


@pytest.fixture(scope="module")
def parted(splits, tmp_path_factory):
    """One 2-part partitioning of fold 1 per method."""
    root = tmp_path_factory.mktemp("parts")
    return {m: (root / m, partition_fold(splits, 1, 2, root / m, method=m, seed=0)) for m in ("metis", "random")}


METHOD = pytest.mark.parametrize("method", ["metis", "random"])


def dataset_edge_ids(train_graph, etype):
    """The dataset graph's ids of the training graph's edges of ``etype``."""
    if etype in (INTERACTS, INTERACTED_BY):
        return train_graph.edges[INTERACTS].data[dgl.EID].numpy()
    return np.arange(train_graph.num_edges(etype))


@METHOD
def test_schema_is_kept(parted, splits, method):
    folder, meta = parted[method]
    tg = splits[1].train_graph
    config = str(folder / meta["dgl_config"])
    for p in range(2):
        part, node_feats, edge_feats, book, name, ntypes, etypes = dgl.distributed.load_partition(config, p)
        assert name == "hetrec" and set(ntypes) == set(tg.ntypes) and set(etypes) == set(tg.canonical_etypes)
        for s, r, d in etypes:  # every relation travels with its reverse
            assert (d, reverse_name(r), s) in etypes
        assert {dgl.NID, dgl.NTYPE, "inner_node"} <= set(part.ndata) and {dgl.EID, dgl.ETYPE, "inner_edge"} <= set(part.edata)
        for t in tg.ntypes:
            assert f"{t}/raw_id" in node_feats
        assert "item/category" in node_feats
        assert "user:interacts:item/weight" in edge_feats and "item:interacted_by:user/weight" in edge_feats
        assert "item:tagged_with:tag/count" in edge_feats and "user:uses_tag:tag/count" in edge_feats
    assert meta["method"] == method and meta["num_parts"] == 2 and meta["fold"] == 1


@METHOD
def test_partitions_add_up_to_the_training_graph(parted, graph, splits, method):
    """Owned edges of all partitions, mapped back to the dataset's ids, are the training graph's
    edges exactly once per relation; owned nodes add up per type; node and edge data match."""
    folder, meta = parted[method]
    tg = splits[1].train_graph
    parts = [partition_edges(folder, p) for p in range(2)]
    for et in tg.canonical_etypes:
        src = np.concatenate([e[et][0] for e in parts])
        dst = np.concatenate([e[et][1] for e in parts])
        eid = np.concatenate([e[et][2] for e in parts])
        assert len(eid) == tg.num_edges(et) == len(np.unique(eid)), et
        order, want = np.argsort(eid), dataset_edge_ids(tg, et)
        want_order = np.argsort(want)
        np.testing.assert_array_equal(eid[order], want[want_order])
        s, d = (x.numpy() for x in tg.edges(etype=et))
        np.testing.assert_array_equal(src[order], s[want_order])
        np.testing.assert_array_equal(dst[order], d[want_order])
        # and the same edges in the dataset graph itself
        gs, gd = (x.numpy() for x in graph.edges(etype=et))
        np.testing.assert_array_equal(gs[eid], src)
        np.testing.assert_array_equal(gd[eid], dst)
        assert sum(p["edges"][":".join(et)] for p in meta["parts"]) == tg.num_edges(et)
    # node and edge data, read with DGL alone, against the dataset graph through orig_ids.npz
    ids = np.load(folder / hd.ORIG_IDS_FILE)
    config = json.loads((folder / meta["dgl_config"]).read_text())
    for t in tg.ntypes:
        assert sorted(ids[f"node:{t}"]) == list(range(tg.num_nodes(t)))
        assert sum(p["nodes"][t] for p in meta["parts"]) == tg.num_nodes(t)
    for p in range(2):
        part, node_feats, edge_feats, book, *_ = dgl.distributed.load_partition(str(folder / meta["dgl_config"]), p)
        for t in tg.ntypes:
            owned = int(((part.ndata[dgl.NTYPE] == book.ntypes.index(t)) & (part.ndata["inner_node"] == 1)).sum())
            first = sum(meta["parts"][q]["nodes"][t] for q in range(p))
            assert owned == meta["parts"][p]["nodes"][t] == config["node_map"][t][p][1] - config["node_map"][t][p][0]
            mine = ids[f"node:{t}"][first:first + owned]
            np.testing.assert_array_equal(node_feats[f"{t}/raw_id"].numpy(), graph.nodes[t].data["raw_id"].numpy()[mine])
        for et, field in ((INTERACTS, "weight"), (INTERACTED_BY, "weight"), (("item", "tagged_with", "tag"), "count")):
            key = ":".join(et)
            first = sum(meta["parts"][q]["edges"][key] for q in range(p))
            mine = ids[f"edge:{key}"][first:first + meta["parts"][p]["edges"][key]]
            np.testing.assert_array_equal(edge_feats[f"{key}/{field}"].numpy(), graph.edges[et].data[field].numpy()[mine])


@METHOD
def test_no_validation_or_test_interaction_is_visible(parted, graph, splits, method):
    """Not as an owned edge, not as a HALO copy, in neither direction; and heldout.npz holds
    exactly the fold's validation and test interactions."""
    folder, _ = parted[method]
    split = splits[1]
    users, items = (x.numpy() for x in graph.edges(etype=INTERACTS))
    held = load_heldout(folder)
    for name, eids in (("val", split.val_eids), ("test", split.test_eids)):
        np.testing.assert_array_equal(held[name][2], eids)
        np.testing.assert_array_equal(held[name][0], users[eids])
        np.testing.assert_array_equal(held[name][1], items[eids])
    held_eids = np.concatenate([split.val_eids, split.test_eids])
    held_pairs = set(zip(users[held_eids].tolist(), items[held_eids].tolist()))
    assert held_pairs
    for p in range(2):
        edges = partition_edges(folder, p, inner_only=False)
        u, i, e = edges[INTERACTS]
        assert not np.isin(e, held_eids).any() and not held_pairs & set(zip(u.tolist(), i.tolist()))
        i, u, e = edges[INTERACTED_BY]
        assert not np.isin(e, held_eids).any() and not held_pairs & set(zip(u.tolist(), i.tolist()))
        assert len(edges[INTERACTS][0]) >= len(partition_edges(folder, p)[INTERACTS][0])  # HALO copies included


def test_check_partition_accepts_its_own_data_and_refuses_other_data(parted, graph, splits):
    folder, meta = parted["metis"]
    assert check_partition(folder, splits, 1)["split_digest"] == splits.digest()
    with pytest.raises(PartitionError, match="another split .*given: k=5, seed=1"):
        check_partition(folder, kfold_split(graph, k=5, seed=1))
    with pytest.raises(PartitionError, match="another split"):
        check_partition(folder, kfold_split(graph, k=5, seed=0, val_ratio=0.2))
    with pytest.raises(PartitionError, match="other data .*the graph's sha256"):
        check_partition(folder, kfold_split(small_graph(seed=4), k=5, seed=0))
    with pytest.raises(PartitionError, match="fold 1, not fold 0"):
        check_partition(folder, splits, 0)


def test_a_changed_missing_or_unreadable_file_is_named(parted, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(parted["metis"][0], folder)
    check_partition(folder)
    graph_file = folder / "part1" / "graph.dgl"
    graph_file.write_bytes(graph_file.read_bytes() + b"\0")
    with pytest.raises(PartitionError, match=r"part1/graph.dgl: changed since it was written \(sha256"):
        check_partition(folder)
    with pytest.raises(PartitionError, match="part1/graph.dgl: changed"):
        partition_edges(folder, 1)
    partition_edges(folder, 0)  # the other partition is intact
    shutil.copy(parted["random"][0] / "part1" / "graph.dgl", graph_file)  # a file swapped with another run's
    with pytest.raises(PartitionError, match="part1/graph.dgl: changed"):
        check_partition(folder)
    shutil.copy(parted["metis"][0] / "part1" / "graph.dgl", graph_file)
    (folder / hd.HELDOUT_FILE).unlink()
    with pytest.raises(PartitionError, match="heldout.npz: missing"):
        check_partition(folder)
    with pytest.raises(PartitionError, match="heldout.npz: missing"):
        load_heldout(folder)
    meta_file = folder / hd.METADATA_FILE
    meta_file.write_text("{not json")
    with pytest.raises(PartitionError, match="hetrec_partition.json: not valid JSON"):
        check_partition(folder)
    meta_file.write_text(json.dumps({**read_metadata(parted["metis"][0]), "format": 99}))
    with pytest.raises(PartitionError, match="format 99"):
        check_partition(folder)
    meta_file.unlink()
    with pytest.raises(PartitionError, match="not a hetrec partition folder"):
        check_partition(folder)
    with pytest.raises(PartitionError, match="no partition 2"):
        partition_edges(parted["metis"][0], 2)


@pytest.mark.parametrize("field, value, says", [
    ("files", [], "field files: expected an object, got a list"),
    ("num_parts", "2", "field num_parts: expected an integer, got the text '2'"),
    ("fold", None, "field fold: expected an integer of at least 0, got null"),
    ("split_digest", 5, "field split_digest: expected a sha256"),
])
def test_metadata_fields_of_the_wrong_type_or_edited_values_are_named(parted, tmp_path, field, value, says):
    """hetrec_partition.json is type-checked field by field, and its own digest refuses an edit
    that keeps every type (docs/reliability.md)."""
    folder = tmp_path / "copy"
    shutil.copytree(parted["metis"][0], folder)
    meta_file = folder / hd.METADATA_FILE
    doc = json.loads(meta_file.read_text())
    meta_file.write_text(json.dumps({**doc, field: value}))
    with pytest.raises(PartitionError, match=re.escape(f"{hd.METADATA_FILE}: {says}")):
        check_partition(folder)
    meta_file.write_text(json.dumps({**doc, "fold": 0}))  # another fold (it is of fold 1), every type right
    with pytest.raises(PartitionError, match="hetrec_partition.json: changed since hetrec wrote it"):
        check_partition(folder)
    meta_file.write_text(json.dumps({k: v for k, v in doc.items() if k != "integrity"}))
    with pytest.raises(PartitionError, match="hetrec_partition.json: field integrity: missing"):
        check_partition(folder)


def test_a_used_folder_is_refused_and_a_failed_run_leaves_nothing(splits, tmp_path, monkeypatch):
    used = tmp_path / "used"
    used.mkdir()
    (used / "notes.txt").write_text("mine")
    with pytest.raises(PartitionError, match="is not empty .*notes.txt"):
        partition_fold(splits, 0, 2, used)
    with pytest.raises(PartitionError, match="is a file"):
        partition_fold(splits, 0, 2, used / "notes.txt")

    def interrupted(*args, **kwargs):
        (tmp_path / "seen").write_text(args[3])
        os.makedirs(os.path.join(args[3], "part0"))
        open(os.path.join(args[3], "part0", "graph.dgl"), "wb").close()
        raise KeyboardInterrupt

    monkeypatch.setattr(dgl.distributed, "partition_graph", interrupted)
    with pytest.raises(KeyboardInterrupt):
        partition_fold(splits, 0, 2, tmp_path / "new")
    assert not (tmp_path / "new").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seen", "used"]  # no .new.partial-* either
    monkeypatch.undo()

    def another_process_finishes_first(folder):
        (tmp_path / "raced").mkdir(exist_ok=True)
        (tmp_path / "raced" / "hetrec_partition.json").write_text("{}")

    monkeypatch.setattr(hp, "_fsync_tree", another_process_finishes_first)
    with pytest.raises(PartitionError, match="raced is not empty any more .*nothing was written"):
        partition_fold(splits, 0, 2, tmp_path / "raced")
    assert [p.name for p in (tmp_path / "raced").iterdir()] == ["hetrec_partition.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raced", "seen", "used"]
    monkeypatch.undo()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert partition_fold(splits, 0, 1, empty)["num_parts"] == 1  # an empty folder is taken
    assert check_partition(empty, splits, 0)


def test_what_dgl_cannot_partition_is_refused_up_front(splits, tmp_path):
    out = tmp_path / "never-written"
    with pytest.raises(PartitionError, match="node type 'category' has 2 nodes, fewer than the 3 parts .*use at most 2 parts"):
        partition_fold(splits, 0, 3, out)
    with pytest.raises(ValueError, match="fold 5 does not exist"):
        partition_fold(splits, 5, 2, out)
    with pytest.raises(ValueError, match="method must be one of"):
        partition_fold(splits, 0, 2, out, method="spectral")
    assert list(tmp_path.iterdir()) == []


def test_random_is_seeded_and_redrawn_until_every_partition_has_every_type(splits, parted, tmp_path):
    """With two nodes of 'category' and two of 'group', half or more of the random draws leave a
    partition without one; the draw that worked is recorded and the same seed repeats it."""
    meta = parted["random"][1]
    assert meta["random_seed"] is not None and meta["random_seed"] >= 0
    again = partition_fold(splits, 1, 2, tmp_path / "again", method="random", seed=0)
    assert again["random_seed"] == meta["random_seed"]
    a, b = np.load(parted["random"][0] / hd.ORIG_IDS_FILE), np.load(tmp_path / "again" / hd.ORIG_IDS_FILE)
    for key in a.files:
        np.testing.assert_array_equal(a[key], b[key])
    assert again["cut_edges"] > parted["metis"][1]["cut_edges"]  # METIS cuts fewer edges


def test_without_metis_auto_falls_back_to_random_and_metis_is_an_error(splits, tmp_path, monkeypatch):
    monkeypatch.setattr(hp, "metis_available", lambda: False)
    monkeypatch.setattr(hd, "metis_available", lambda: False)
    assert partition_fold(splits, 0, 2, tmp_path / "auto")["method"] == "random"
    with pytest.raises(PartitionError, match="this DGL build has no METIS"):
        partition_fold(splits, 0, 2, tmp_path / "metis", method="metis")
    r = CliRunner().invoke(main, ["partition", "--synthetic", "600", "--num-parts", "2", "--method", "metis",
                                  "--out", str(tmp_path / "cli")])
    assert r.exit_code == 2 and "this DGL build has no METIS" in r.output and not (tmp_path / "cli").exists()
    r = CliRunner().invoke(main, ["partition", "--synthetic", "600", "--num-parts", "2", "--out", str(tmp_path / "cli")])
    assert r.exit_code == 0, r.output
    assert "method: random (METIS is not available in this DGL build)" in r.output


def test_metis_is_available_in_the_pypi_wheel():
    assert hd.metis_available()
    assert list(hd.METHODS) == PARTITION_METHODS


# -- the command line ------------------------------------------------------------------------------

def cli(*args):
    return CliRunner().invoke(main, ["partition", *map(str, args)])


def test_cli_partitions_prints_the_method_and_refuses_a_used_folder(tmp_path):
    out = tmp_path / "parts"
    r = cli("--synthetic", 1500, "--seed", 2, "--fold", 2, "--num-parts", 2, "--threads", 1, "--out", out)
    assert r.exit_code == 0, r.output
    assert "method: metis (METIS is available in this DGL build)" in r.output
    assert "part 1: owns" in r.output and "edges cut" in r.output and "not in any partition" in r.output
    meta = check_partition(out, kfold_split(synthetic(num_users=100, num_items=150, num_interactions=1500, seed=2), k=5, seed=2),
                           fold=2)
    assert meta["source"] == {"synthetic": {"num_users": 100, "num_items": 150, "num_interactions": 1500, "seed": 2}}
    assert meta["dgl_config"] == "synthetic_fold2.json" and (out / "synthetic_fold2.json").is_file()
    r = cli("--synthetic", 1500, "--num-parts", 2, "--out", out)
    assert r.exit_code == 1 and r.output.count("\n") == 1, r.output
    assert "is not empty" in r.output and "choose a new or empty folder" in r.output
    r = cli("--synthetic", 1500, "--num-parts", 2, "--method", "random", "--out", tmp_path / "random")
    assert r.exit_code == 0 and "method: random (asked for)" in r.output


def test_cli_partitions_your_own_tables(tmp_path):
    import pandas as pd

    g = synthetic(num_users=60, num_items=80, num_interactions=900, seed=0)
    u, i = g.edges(etype="interacts")
    tables = tmp_path / "tables"
    tables.mkdir()
    pd.DataFrame({"user": u.numpy() + 7, "item": i.numpy() + 1000}).to_csv(tables / "interactions.csv", index=False)
    pd.DataFrame({"item": range(1000, 1080), "genre": np.arange(80) % 5}).to_csv(tables / "item_genre.csv", index=False)
    r = cli("--tables", tables, "--num-parts", 2, "--out", tmp_path / "parts")
    assert r.exit_code == 0, r.output
    meta = read_metadata(tmp_path / "parts")
    assert meta["source"] == {"tables": str(tables.resolve())} and meta["method"] == "metis"
    assert meta["train_graph"]["num_nodes"]["genre"] == 5


@pytest.mark.parametrize("args, message, code", [
    ([], "name the data to partition with one of --dataset, --tables or --synthetic", 2),
    (["--synthetic", 600, "--dataset", "lastfm"], "(got --dataset and --synthetic)", 2),
    (["--synthetic", 50], "50 is not in the range x>=100", 2),
    (["--synthetic", "many"], "'many' is not a valid integer", 2),
    (["--dataset", "movielens"], "'movielens' is not one of 'lastfm', 'ml-1m'", 2),
    (["--synthetic", 600, "--fold", 5], "fold 5 does not exist in a 5-fold split (folds 0..4)", 2),
    (["--synthetic", 600, "--fold", 2, "--k", 2], "fold 2 does not exist in a 2-fold split", 2),
    (["--synthetic", 600, "--fold", -1], "-1 is not in the range x>=0", 2),
    (["--synthetic", 600, "--k", 1], "1 is not in the range x>=2", 2),
    (["--synthetic", 600, "--val-ratio", 1], "not in the range 0<x<1", 2),
    (["--synthetic", 600, "--seed", -1], "-1 is not in the range", 2),
    (["--synthetic", 600, "--num-parts", 0], "0 is not in the range x>=1", 2),
    (["--synthetic", 600, "--method", "spectral"], "'spectral' is not one of 'auto', 'metis', 'random'", 2),
    (["--synthetic", 600, "--threads", 0], "0 is not in the range x>=1", 2),
    (["--synthetic", 600, "--num-parts", 5], "node type 'group' has 3 nodes, fewer than the 5 parts asked for", 1),
    (["--tables", "/nonexistent/tables"], "/nonexistent/tables: does not exist", 2),
])
def test_cli_bad_arguments(tmp_path, args, message, code):
    """One line naming the problem (after click's usage lines for a usage error), no traceback,
    and nothing written."""
    out = tmp_path / "out"
    full = [*args, *([] if "--num-parts" in args else ["--num-parts", 2]), "--out", out]
    r = cli(*full)
    assert r.exit_code == code, r.output
    assert message in r.output and "Traceback" not in r.output
    if code == 1:
        assert r.output.count("\n") == 1, r.output
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_cli_requires_num_parts_and_out(tmp_path):
    r = cli("--synthetic", 600, "--out", tmp_path / "x")
    assert r.exit_code == 2 and "Missing option '--num-parts'" in r.output
    r = cli("--synthetic", 600, "--num-parts", 2)
    assert r.exit_code == 2 and "Missing option '--out'" in r.output


@pytest.mark.realdata
def test_lastfm_into_two_parts(lastfm_dir, tmp_path):
    """The real Last.FM, fold 0, two METIS parts (a few seconds)."""
    t0 = time.perf_counter()
    r = CliRunner().invoke(main, ["partition", "--dataset", "lastfm", "--data-dir", str(lastfm_dir.parent),
                                  "--num-parts", "2", "--out", str(tmp_path / "parts")])
    seconds = time.perf_counter() - t0
    assert r.exit_code == 0, r.output
    if seconds > 20:
        pytest.skip(f"partitioning Last.FM took {seconds:.0f} s on this machine")
    assert "method: metis" in r.output
    meta = read_metadata(tmp_path / "parts")
    assert meta["train_graph"]["num_nodes"] == {"item": 17632, "tag": 11946, "user": 1892}
    held = load_heldout(tmp_path / "parts")
    assert len(held["val"][2]) + len(held["test"][2]) + meta["train_graph"]["num_edges"]["user:interacts:item"] == 92834
    held_eids = np.concatenate([held["val"][2], held["test"][2]])
    owned = 0
    for p in range(2):
        edges = partition_edges(tmp_path / "parts", p, inner_only=False)
        for et in (INTERACTS, INTERACTED_BY):
            assert not np.isin(edges[et][2], held_eids).any()
        owned += len(partition_edges(tmp_path / "parts", p)[INTERACTS][2])
    assert owned == meta["train_graph"]["num_edges"]["user:interacts:item"]


DIST_GRAPH_CHILD = """
import json, os, sys
os.environ["DGL_DIST_MODE"] = "standalone"
import dgl, torch
dgl.distributed.initialize("")
meta = json.load(open(os.path.join(sys.argv[1], "hetrec_partition.json")))
g = dgl.distributed.DistGraph(meta["graph_name"], part_config=os.path.join(sys.argv[1], meta["dgl_config"]))
et = ("user", "interacts", "item")
n = g.num_edges(et)
print(json.dumps({"ntypes": sorted(g.ntypes), "etypes": sorted(map(list, g.canonical_etypes)), "interacts": n,
                  "weight": g.edges[et].data["weight"][torch.arange(n)].tolist(),
                  "raw_id": g.nodes["user"].data["raw_id"][torch.arange(g.num_nodes("user"))].tolist()}))
"""


def test_a_one_part_folder_opens_as_a_dist_graph(splits, graph, tmp_path):
    """DGL's standalone mode (one partition, no servers) reads the folder as a DistGraph with the
    schema and the edge data; more partitions need DGL's launcher (not built yet)."""
    import subprocess
    import sys

    folder = tmp_path / "one"
    partition_fold(splits, 0, 1, folder, graph_name="one")
    env = dict(os.environ, DGLBACKEND="pytorch", OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", DIST_GRAPH_CHILD, str(folder)], env=env, capture_output=True, text=True,
                         timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    tg = splits[0].train_graph
    assert got["ntypes"] == sorted(tg.ntypes) and got["etypes"] == sorted(map(list, tg.canonical_etypes))
    assert got["interacts"] == tg.num_edges(INTERACTS)
    ids = np.load(folder / hd.ORIG_IDS_FILE)
    np.testing.assert_array_equal(got["weight"], graph.edges[INTERACTS].data["weight"].numpy()[ids["edge:user:interacts:item"]])
    np.testing.assert_array_equal(got["raw_id"], graph.nodes["user"].data["raw_id"].numpy()[ids["node:user"]])
