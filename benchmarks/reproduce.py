"""Re-train the first epochs of committed accuracy cells and compare them with their logs, exactly.

A cell (``<run>/fold-<f>``) records every epoch's losses and validation metrics in ``log.jsonl``
(committed cells: in their benchmark's ``logs.tar.xz``, read by ``benchmarks/_logs.py``).
This script re-runs the cell's own ``config.json`` (same data, split, seed and settings) for the
first ``--epochs`` epochs into a temporary folder and compares, epoch by epoch, every logged number
except timings, with ``==``. Closed-form models (MostPop, item-kNN) have no log: their validation
and test metrics are compared instead. A refactor that claims "same numbers" is checked this way.

    python benchmarks/reproduce.py benchmarks/results/accuracy/lastfm/mthgt --fold 0 --epochs 2
    python benchmarks/reproduce.py benchmarks/results/accuracy/lastfm/* --fold 0 --epochs 1

Prints one line per run: "identical (N epochs)" or the first number that differs, both values.
Exit status 1 when any run differs.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("DGLBACKEND", "pytorch")

import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _logs import read_log  # noqa: E402

from hetrec.train.experiment import ExperimentConfig, load_data, run_experiment  # noqa: E402

TIMINGS = {"train_seconds", "step_seconds_median", "sampling_share", "eval_seconds", "batches_per_second"}


def first_difference(old, new, path=""):
    """The first ``(path, old, new)`` where two logged values differ, or ``None``."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            if key in TIMINGS:
                continue
            if key not in old or key not in new:
                return (f"{path}{key}", old.get(key, "(missing)"), new.get(key, "(missing)"))
            diff = first_difference(old[key], new[key], f"{path}{key}.")
            if diff:
                return diff
        return None
    return None if old == new else (path.rstrip("."), old, new)


def check(run: Path, fold: int, epochs: int, data_dir, threads: int) -> tuple:
    cfg = ExperimentConfig.from_json((run / "config.json").read_text(), run / "config.json")
    cell = run / f"fold-{fold}"
    committed = read_log(cell)  # the cell's log.jsonl, or its member of the benchmark's logs.tar.xz
    n = min(epochs, len(committed)) if committed else epochs
    train = replace(cfg.train, epochs=n, num_threads=threads)
    cfg = replace(cfg, folds=[fold], train=train, **({"data_dir": data_dir} if data_dir else {}))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        run_experiment(cfg, out, dataset=load_data(cfg), log=lambda m: None)
        if committed is None:  # closed form: the final metrics
            old = json.loads((cell / "metrics.json").read_text())
            new = json.loads((out / f"fold-{fold}" / "metrics.json").read_text())
            diff = first_difference({k: old[k] for k in ("val", "test")}, {k: new[k] for k in ("val", "test")})
            return diff, 0
        fresh = [json.loads(line) for line in (out / f"fold-{fold}" / "log.jsonl").read_text().splitlines() if line]
    for i, (a, b) in enumerate(zip(committed[:n], fresh)):
        diff = first_difference(a, b, f"epoch {i + 1}: ")
        if diff:
            ndcg = (a.get("val", {}).get("NDCG@10"), b.get("val", {}).get("NDCG@10"))
            return (*diff, ndcg), n
    return None, n


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("runs", nargs="+", type=Path, help="run folders holding config.json and fold-<f>/")
    p.add_argument("--fold", type=int, default=0)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--data-dir", default=os.environ.get("HETREC_DATA"))
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    bad = 0
    for run in args.runs:
        if not (run / "config.json").is_file() or not (run / f"fold-{args.fold}" / "metrics.json").is_file():
            continue
        diff, n = check(run, args.fold, args.epochs, args.data_dir, args.threads)
        if diff:
            bad += 1
            where, old, new = diff[:3]
            rel = (f" (relative {abs(new - old) / max(abs(old), 1e-30):.1e})"
                   if isinstance(old, float) and isinstance(new, float) else "")
            ndcg = f"; that epoch's val NDCG@10 committed {diff[3][0]}, now {diff[3][1]}" if len(diff) > 3 else ""
            print(f"{run}: differs at {where}: committed {old!r}, now {new!r}{rel}{ndcg}", flush=True)
        else:
            print(f"{run}: identical ({n} epochs)" if n else f"{run}: identical (closed form)", flush=True)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
