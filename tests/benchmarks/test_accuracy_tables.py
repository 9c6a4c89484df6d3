"""benchmarks/accuracy.py tabulates every finished cell on disk, whatever subset a run trained."""
import csv
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def accuracy(load_benchmark):
    return load_benchmark("accuracy", "bench_accuracy")


def write_cell(root, model, fold, rng):
    test = {f"{m}@{n}": float(rng.uniform(0.01, 0.5)) for n in (5, 10, 20) for m in ("P", "R", "HR", "NDCG")}
    d = root / "lastfm" / model / f"fold-{fold}"
    d.mkdir(parents=True)
    (d / "metrics.json").write_text(json.dumps({"test": test, "best_epoch": 1, "epochs": 3, "train_seconds": 10.0}))
    return test


def test_subset_run_keeps_every_finished_cell(accuracy, tmp_path):
    rng = np.random.default_rng(0)
    cells = {("hgt", f): write_cell(tmp_path, "hgt", f, rng) for f in range(5)}
    cells.update({("hgt-m", f): write_cell(tmp_path, "hgt-m", f, rng) for f in (0, 3)})
    cells.update({("mthgt-sampled", f): write_cell(tmp_path, "mthgt-sampled", f, rng) for f in (1, 2, 4)})
    # a run naming one model and one fold must still tabulate all the cells above
    accuracy.main(["--collect", "--ablation", "--models", "hgt-m", "--folds", "3", "--out", str(tmp_path)])
    with open(tmp_path / "lastfm" / "ablation.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert {(r["model"], int(r["fold"])) for r in rows} == set(cells)
    md = (tmp_path / "lastfm" / "ablation.md").read_text()
    for model, folds in [("HGT", 5), ("HGT-m", 2), ("MTHGT (sampled)", 3)]:
        line = next(ln for ln in md.splitlines() if ln.startswith(f"| {model} |"))
        assert line.rstrip(" |").endswith(str(folds))
    assert "| HGT-d |" not in md  # no finished cell, no row
    # the mean ± std printed for HGT-m NDCG@10 is that of its two folds
    vals = [cells[("hgt-m", f)]["NDCG@10"] for f in (0, 3)]
    line = next(ln for ln in md.splitlines() if ln.startswith("| HGT-m |"))
    ndcg10 = line.split("|")[1 + 4 + 4]  # columns: model, 4 metrics @5, then P/R/HR/NDCG @10
    assert ndcg10.strip() == f"{np.mean(vals):.4f} ± {np.std(vals, ddof=1):.4f}"


def test_table3_lists_layout_models_and_extra_ones(accuracy, tmp_path):
    rng = np.random.default_rng(1)
    write_cell(tmp_path, "mostpop", 0, rng)
    write_cell(tmp_path, "lightgcn", 0, rng)
    write_cell(tmp_path, "hgt", 0, rng)  # not a Table-3 model: listed only when asked for
    accuracy.main(["--collect", "--models", "lightgcn", "--out", str(tmp_path)])
    md = (tmp_path / "lastfm" / "accuracy.md").read_text()
    assert "| MostPop |" in md and "| LightGCN |" in md and "| HGT |" not in md
    accuracy.main(["--collect", "--models", "hgt", "--out", str(tmp_path)])
    md = (tmp_path / "lastfm" / "accuracy.md").read_text()
    assert "| MostPop |" in md and "| LightGCN |" in md and "| HGT |" in md


def test_paired_differences_match_numpy(accuracy, tmp_path):
    rng = np.random.default_rng(2)
    ref = {f: write_cell(tmp_path, "mthgt-sampled", f, rng) for f in range(5)}
    other = {f: write_cell(tmp_path, "hgt-d", f, rng) for f in (0, 1, 3)}
    accuracy.main(["--collect", "--ablation", "--out", str(tmp_path)])
    md = (tmp_path / "lastfm" / "ablation.md").read_text()
    line = next(ln for ln in md.splitlines() if ln.startswith("| MTHGT (sampled) − HGT-d |"))
    d = np.array([ref[f]["NDCG@10"] - other[f]["NDCG@10"] for f in (0, 1, 3)])  # common folds only
    cell = line.split("|")[3].strip()
    assert cell == f"{d.mean():+.4f} ± {d.std(ddof=1):.4f} ({int((d > 0).sum())}/3)"
    assert line.rstrip(" |").endswith("3")


def test_factor_table_pairs_the_variants_by_fold(accuracy, tmp_path):
    rng = np.random.default_rng(5)
    models = accuracy.MINIBATCH_ABLATION_MODELS  # uniform 1 task, dense 1 task, uniform 2, dense 2
    cells = {(m, f): write_cell(tmp_path, m, f, rng) for m in models for f in range(3)}
    del cells[(models[1], 2)]  # dense one-task cell of fold 2 missing
    import shutil

    shutil.rmtree(tmp_path / "lastfm" / models[1] / "fold-2")
    accuracy.main(["--collect", "--ablation", "minibatch", "--out", str(tmp_path)])
    md = (tmp_path / "lastfm" / "ablation-minibatch.md").read_text()
    for a, b, what, folds in [(0, 1, "sampler, one task", (0, 1)), (2, 3, "sampler, two tasks", (0, 1, 2)),
                              (2, 0, "second task, uniform", (0, 1, 2)), (3, 1, "second task, dense", (0, 1))]:
        label = f"| {accuracy.LABELS[models[a]]} − {accuracy.LABELS[models[b]]} ({what}) |"
        line = next(ln for ln in md.splitlines() if ln.startswith(label))
        d = np.array([cells[(models[a], f)]["NDCG@10"] - cells[(models[b], f)]["NDCG@10"] for f in folds])
        fields = [x.strip() for x in line.split("|")[2:-1]]
        assert fields[:3] == [f"{x:+.4f}" if f in folds else "–" for f, x in
                              zip(range(3), [d[folds.index(f)] if f in folds else 0 for f in range(3)])]
        assert fields[3] == f"{d.mean():+.4f} ± {d.std(ddof=1):.4f}"
        assert fields[4] == f"{int((d > 0).sum())}/{len(folds)}"
    assert (tmp_path / "lastfm" / "ablation-minibatch.csv").is_file()
    assert not (tmp_path / "lastfm" / "ablation.md").exists()  # the sampled ablation's table untouched


def test_stopping_correlation_is_a_rank_correlation(accuracy):
    rng = np.random.default_rng(3)
    epochs = rng.permutation(12) + 1  # distinct values: ranks are the values' order
    ndcg = rng.uniform(0, 1, 12)
    rows = [{"best_epoch": int(e), "NDCG@10": float(v)} for e, v in zip(epochs, ndcg)]
    rho, n = accuracy.stopping_correlation(rows)
    ra, rb = np.argsort(np.argsort(epochs)), np.argsort(np.argsort(ndcg))
    assert n == 12 and rho == pytest.approx(np.corrcoef(ra, rb)[0, 1])
    assert accuracy.stopping_correlation(rows[:2]) is None  # too few cells
    # perfectly monotone -> +1, reversed -> -1
    mono = [{"best_epoch": i, "NDCG@10": 0.1 * i} for i in range(1, 6)]
    assert accuracy.stopping_correlation(mono)[0] == pytest.approx(1.0)
    rev = [{"best_epoch": i, "NDCG@10": -0.1 * i} for i in range(1, 6)]
    assert accuracy.stopping_correlation(rev)[0] == pytest.approx(-1.0)


def test_compare_runs_pairs_common_folds(accuracy, tmp_path):
    spec = importlib.util.spec_from_file_location("bench_compare", ROOT / "benchmarks" / "compare_runs.py")
    mod = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    rng = np.random.default_rng(4)
    a = {f: write_cell(tmp_path / "a", "mthgt", f, rng) for f in (0, 1, 2, 4)}
    b = {f: write_cell(tmp_path / "b", "mthgt", f, rng) for f in (1, 2, 3, 4)}
    text = mod.compare(tmp_path / "a" / "lastfm" / "mthgt", tmp_path / "b" / "lastfm" / "mthgt")
    assert "folds [1, 2, 4]" in text
    d = np.array([a[f]["NDCG@10"] - b[f]["NDCG@10"] for f in (1, 2, 4)])
    line = next(ln for ln in text.splitlines() if ln.startswith("| A − B |"))
    assert line.split("|")[5].strip() == f"{d.mean():+.4f} ± {d.std(ddof=1):.4f} ({int((d > 0).sum())}/3)"
    with pytest.raises(SystemExit, match="no fold finished in both"):
        mod.compare(tmp_path / "a" / "lastfm" / "mthgt", tmp_path / "missing")


def test_gpu_check_script_compares_two_devices(tmp_path):
    """The GPU check, run here on cpu,cpu: it trains each model on both, reports agreement and
    exits 0; an unavailable device is exit 2 with one line."""
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"
    out = tmp_path / "gc.csv"
    r = subprocess.run([sys.executable, str(script), "--synthetic", "--devices", "cpu,cpu", "--models",
                        "bprmf,mthgt,hgt-m", "--max-batches", "2", "--out", str(out)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "all 3 models agree" in r.stdout
    rows = out.read_text().splitlines()
    assert len(rows) == 4 and rows[1].startswith("bprmf,cpu,cpu,")
    r = subprocess.run([sys.executable, str(script), "--synthetic", "--devices", "cpu,cuda:7", "--out", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "cuda:7" in r.stderr and "Traceback" not in r.stderr


def test_cells_with_metrics_are_not_trained_again(accuracy, tmp_path, monkeypatch):
    """A committed cell keeps its metrics but not its model.pt; the benchmark trains only the
    folds without metrics (resuming would rebuild a finished fold whose model is missing)."""
    import argparse

    rng = np.random.default_rng(0)
    write_cell(tmp_path, "bprmf", 0, rng)
    write_cell(tmp_path, "bprmf", 2, rng)
    write_cell(tmp_path, "ease", 0, rng)
    calls = []
    monkeypatch.setattr(accuracy, "run_experiment", lambda cfg, out, **kw: calls.append((cfg.model, cfg.folds)))
    args = argparse.Namespace(dataset="lastfm", folds=[0, 1, 2], k=5, seed=0, data_dir=None, no_verify=False,
                              max_batches=None, out=str(tmp_path), tuned=None, quick=False, epochs=None,
                              patience=None)
    accuracy.train_cells(args, ["bprmf", "ease"], dataset=None)
    assert calls == [("bprmf", [1]), ("ease", [1, 2])]
    args.folds = [0]
    calls.clear()
    accuracy.train_cells(args, ["bprmf", "ease"], dataset=None)
    assert calls == []
