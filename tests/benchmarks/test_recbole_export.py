"""benchmarks/recbole_check.py's export half: the RecBole atomic files are exactly the fold (no RecBole needed)."""
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from hetrec.data import kfold_split, synthetic

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def recbole_check():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        spec = importlib.util.spec_from_file_location("bench_recbole_check", ROOT / "benchmarks" / "recbole_check.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        yield mod
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


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
