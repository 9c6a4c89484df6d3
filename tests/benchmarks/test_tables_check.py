"""benchmarks/tables_check.py's report: each model's means are over the folds it has finished, and
MTHGT's paired difference to a model uses only the folds both have finished."""
import json

import numpy as np
import pytest


@pytest.fixture(scope="module")
def tables_check(load_benchmark):
    return load_benchmark("tables_check", "tables_check")


def _cell(out, model, fold, ndcg):
    path = out / model / f"fold-{fold}" / "metrics.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"test": {"NDCG@10": ndcg, "R@10": ndcg / 2, "num_users": 10}}))


def test_report_pairs_folds_and_averages_each_models_own(tables_check, tmp_path):
    mthgt = {0: 0.30, 1: 0.32, 2: 0.34}
    ease = {0: 0.31, 1: 0.30, 3: 0.50}  # fold 3 has no MTHGT cell: left out of the pairing
    for f, v in mthgt.items():
        _cell(tmp_path, "mthgt", f, v)
    for f, v in ease.items():
        _cell(tmp_path, "ease", f, v)
    (tmp_path / "ml1m-first600-tables").mkdir()  # the tables folder is not a model
    text = tables_check.report(tmp_path)
    rows = {line.split(" | ")[0].strip("| "): line for line in text.splitlines() if line.startswith("| ")}
    # means over each model's own folds
    assert f"{np.mean(list(ease.values())) / 1:.4f}" in rows["ease (3 folds)"]
    assert f"{np.mean(list(mthgt.values())):.4f}" in rows["mthgt (3 folds)"]
    # paired over folds 0 and 1 only: differences -0.01 and +0.02
    diff = [-0.01, 0.02]
    cells = [c.strip() for c in rows["ease"].strip("|").split("|")]
    assert cells[1:5] == ["0.3100", "0.3000", "–", "0.5000"]
    assert cells[5] == f"{np.mean(diff):+.4f} ± {np.std(diff, ddof=1):.4f}"
    assert cells[6] == "1/2"
    assert "ml1m-first600-tables" not in text
