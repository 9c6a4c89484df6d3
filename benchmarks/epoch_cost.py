"""What one epoch, one evaluation and one fold cost per model: the budget of an accuracy table.

For each model: ``setup`` on fold 0, one full training epoch under the model's recommended
settings (``hetrec.models.TRAINING``), one full-ranking validation pass. The per-fold estimate
multiplies the epoch (plus evaluation) by an expected epoch count (``--epochs-from``: the median
epochs the models ran on another dataset's finished accuracy cells, else the settings' budget).

    python benchmarks/epoch_cost.py --dataset ml-1m --data-dir ../shared/data --threads 1
    python benchmarks/epoch_cost.py --dataset ml-1m --models mthgt,lightgcn --threads 1

Rows are appended to ``OUT/<dataset>.csv`` (one per model and run; rerun a model to replace it)
and the table is printed.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("DGLBACKEND", "pytorch")

import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_csv_atomically  # noqa: E402
from _logs import read_log  # noqa: E402

from hetrec.data import kfold_split, load_dataset  # noqa: E402
from hetrec.models import create_model, training_settings  # noqa: E402
from hetrec.train import TrainConfig, Trainer  # noqa: E402

MODELS = ["mostpop", "itemknn", "bprmf", "lightgcn", "lightgcn-softmax", "ngcf", "hin2vec", "pinsage",
          "mthgt", "hgt", "hgt-d", "hgt-m", "mthgt-sampled"]


def expected_epochs(model: str, root: Path | None, settings: dict) -> float:
    """Median epochs run by ``model``'s finished cells under ``root`` (or its epoch budget)."""
    runs = []
    if root is not None:
        for metrics in sorted((root / model).glob("fold-*/metrics.json")):
            log = read_log(metrics.parent)  # the file, or the benchmark's logs.tar.xz
            if log is not None:
                runs.append(len(log))
    return float(statistics.median(runs)) if runs else float(settings.get("epochs", 0))


def measure(model_name: str, split, args) -> dict:
    settings = training_settings(model_name)
    cfg = TrainConfig(seed=0, progress=False, **{**settings, "epochs": 1, "patience": 1})
    model = create_model(model_name)
    t0 = time.perf_counter()
    model.setup(split)
    setup_s = time.perf_counter() - t0
    trainer = Trainer(cfg, log=lambda m: None)
    t0 = time.perf_counter()
    result = trainer.fit(model, split, evaluate_test=False)
    wall = time.perf_counter() - t0
    row = {"model": model_name, "setup_s": round(setup_s, 2)}
    if result.history:
        rec = result.history[0]
        row.update(batches=rec["batches"], epoch_s=round(rec["train_seconds"], 2),
                   step_s_median=round(rec["step_seconds_median"], 4),
                   sampling_share=round(rec["sampling_share"], 3), eval_s=round(rec["eval_seconds"], 2))
    else:  # not trainable: fit is setup + one evaluation
        row.update(batches=0, epoch_s=0.0, step_s_median=0.0, sampling_share=0.0, eval_s=round(wall, 2))
    epochs = expected_epochs(model_name, Path(args.epochs_from) if args.epochs_from else None, settings)
    row["expected_epochs"] = epochs
    row["fold_s_estimate"] = round(setup_s + epochs * (row["epoch_s"] + row["eval_s"]) + row["eval_s"], 0)
    row["val_NDCG@10_after_1_epoch"] = round(result.val["NDCG@10"], 4)
    return row


def read_rows(path: Path) -> list:
    import csv

    return list(csv.DictReader(path.open())) if path.is_file() else []


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="ml-1m", choices=["lastfm", "ml-1m"])
    p.add_argument("--data-dir", default=None)
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--epochs-from", default="benchmarks/results/accuracy/lastfm",
                   help="finished accuracy cells whose median epoch count estimates a fold ('' for the budget)")
    p.add_argument("--out", default="benchmarks/results/epoch_cost")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    ds = load_dataset(args.dataset, root=args.data_dir)
    split = kfold_split(ds.graph, k=5, seed=0)[0]
    path = Path(args.out) / f"{args.dataset}.csv"
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        print(f"== {name}", file=sys.stderr, flush=True)
        row = measure(name, split, args)
        row["machine"] = machine()
        # re-read just before writing: runs over other models may have added rows meanwhile
        rows = [r for r in read_rows(path) if r["model"] != name] + [row]
        write_csv_atomically(rows, path)
        print(json.dumps(row), flush=True)
    rows = read_rows(path)
    order = {m: i for i, m in enumerate(MODELS)}
    rows.sort(key=lambda r: order.get(r["model"], len(order)))
    print("| model | batches | epoch s | step s | eval s | setup s | epochs (expected) | fold s (estimate) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['batches']} | {r['epoch_s']} | {r['step_s_median']} | {r['eval_s']} | "
              f"{r['setup_s']} | {r['expected_epochs']} | {r['fold_s_estimate']} |")


if __name__ == "__main__":
    main()
