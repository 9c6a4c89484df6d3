"""benchmarks/recbole_check.py's export half: the RecBole atomic files are exactly the fold (no RecBole needed)."""
import json
from pathlib import Path

import numpy as np
import pytest

from hetrec.data import kfold_split, synthetic

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def recbole_check(load_benchmark):
    return load_benchmark("recbole_check", "bench_recbole_check")


def read_pairs(path):
    lines = path.read_text().splitlines()
    body = np.array([line.split("\t") for line in lines[1:]], dtype=np.int64).reshape(-1, 2)
    return lines[0], {(int(u), int(i)) for u, i in body}, len(body)


def matrix_pairs(m):
    coo = m.tocoo()
    return set(zip(coo.row.tolist(), coo.col.tolist()))


def test_files_partition_the_fold(recbole_check, tmp_path):
    g = synthetic(num_users=30, num_items=40, num_interactions=400, seed=0)
    split = kfold_split(g, k=5, seed=0, val_ratio=0.1)[2]
    name = recbole_check.dataset_name("synthetic", 2)
    files = recbole_check.export_fold(split, name, tmp_path)

    parts = {}
    for part, matrix in (("train", split.train), ("valid", split.val), ("test", split.test)):
        header, pairs, rows = read_pairs(tmp_path / name / f"{name}.{part}.inter")
        assert header == "user_id:token\titem_id:token"
        assert rows == len(pairs) == matrix.nnz  # no duplicate line
        assert pairs == matrix_pairs(matrix)
        parts[part] = pairs
    assert not parts["train"] & parts["valid"] and not parts["train"] & parts["test"] and not parts["valid"] & parts["test"]
    src, dst = g.edges(etype="interacts")
    assert parts["train"] | parts["valid"] | parts["test"] == set(zip(src.tolist(), dst.tolist()))

    items = (tmp_path / name / f"{name}.item").read_text().splitlines()
    assert items == ["item_id:token"] + [str(i) for i in range(40)]
    config = dict(line.split(": ", 1) for line in files["config"].read_text().splitlines())
    assert json.loads(config["benchmark_filename"]) == ["train", "valid", "test"]
    assert json.loads(config["eval_args"])["mode"] == "full"
    assert json.loads(config["data_path"]) == str(tmp_path)


def test_seeds_table_pairs_each_seed(recbole_check, tmp_path, monkeypatch):
    """The seeds stage pairs RecBole's and hetrec's numbers seed by seed: seed 0 reads the accuracy
    benchmark's cell, another seed the cell this script trained into its seed folder."""
    monkeypatch.setattr(recbole_check, "ROOT", tmp_path)
    out = tmp_path / "out"
    want = {0: (0.30, 0.20, 0.10, 0.05), 1: (0.34, 0.30, 0.12, 0.11), 2: (0.31, 0.20, 0.10, 0.07)}
    for seed, (rb_ndcg, hr_ndcg, rb_r, hr_r) in want.items():
        folder = recbole_check.result_folder(out, "toy", 0, seed)
        folder.mkdir(parents=True)
        status = "stopped" if seed == 2 else "ok"  # a stopped RecBole run is left out
        (folder / "BPR.json").write_text(json.dumps({"model": "BPR", "hetrec_model": "bprmf", "status": status,
                                                     "recbole": {"test": {"ndcg@10": rb_ndcg, "recall@10": rb_r}, "best_valid": 0.1}}))
        cell = recbole_check.hetrec_cell_path(out, "toy", "bprmf", 0, seed)
        cell.parent.mkdir(parents=True)
        cell.write_text(json.dumps({"test": {"NDCG@10": hr_ndcg, "R@10": hr_r}, "val": {"NDCG@10": 0.1 + seed / 100}}))
    assert recbole_check.hetrec_cell_path(out, "toy", "bprmf", 0, 0).is_relative_to(tmp_path / "benchmarks" / "results" / "accuracy")
    assert recbole_check.result_folder(out, "toy", 0, 1).name == "toy-fold0-seed1"

    class Args:
        dataset, fold, seeds = "toy", 0, [0, 1, 2]
    Args.out = out
    rows = recbole_check.seed_rows(Args)
    assert [(r["seed"], r["recbole_NDCG@10"], r["hetrec_NDCG@10"]) for r in rows] == [(0, 0.30, 0.20), (1, 0.34, 0.30)]
    line = next(x for x in recbole_check.seeds_table(rows, Args).splitlines() if x.startswith("| BPR |"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[2] == "2"  # seeds in the means
    assert cells[3] == "0.3200 ± 0.0283" and cells[4] == "0.2500 ± 0.0707"
    assert cells[5] == "-0.0700 ± 0.0300"  # paired: (-0.10, -0.04), mean ± s.e.
    assert cells[8] == "-0.0300 ± 0.0200"  # R@10: (-0.05, -0.01)
    assert cells[9] == "0.1000 ± 0.0000" and cells[10] == "0.1050 ± 0.0071"  # validation, seeds 0 and 1
