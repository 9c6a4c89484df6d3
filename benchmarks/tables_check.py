"""Does the default MTHGT beat MostPop and item-kNN on data it was not tuned on, loaded with
``from_tables``? (docs/mthgt.md)

Builds a tables folder (``interactions.csv``, ``user_gender.csv``, ``user_age.csv``,
``user_occupation.csv``, ``item_genre.csv``, ``items.csv``) from the first ``--users`` users of
the verified MovieLens-1M files — a dataset shaped like MovieLens-100k (about 100k ratings of
~600 users with demographic attributes and genres) — then trains each model on the folds of
``--folds`` with its recommended settings through the same ``run_experiment`` as ``hetrec train
--tables``. Every default of MTHGT was chosen on Last.FM and ML-1M; nothing is tuned here.

    python benchmarks/tables_check.py --data-dir ../shared/data --threads 1 --folds 0,1,2,3,4

The report (``tables_check.md``) holds every finished cell on disk: each model's test means over
the folds it has finished, then each fold's NDCG@10 and MTHGT's paired difference to each model
(one fold of 600 users is noisy: five folds are the comparison to trust).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("DGLBACKEND", "pytorch")

import numpy as np
import pandas as pd
import torch
from _common import machine

from hetrec.data import MovieLens1M
from hetrec.data.files import atomic_write_bytes
from hetrec.eval import format_metrics_table
from hetrec.models import training_settings
from hetrec.train import TrainConfig
from hetrec.train.experiment import ExperimentConfig, run_experiment

MODELS = ["mostpop", "itemknn", "rp3beta", "ease", "gfcf", "multvae", "lightgcn", "lightgcn-softmax", "mthgt", "mthgt-cl"]


def build_tables(data_dir, num_users: int, folder: Path) -> Path:
    """The tables folder from the verified ML-1M files (users 1..num_users)."""
    ds = MovieLens1M(root=data_dir)  # verified: a mismatch is an error
    g = ds.graph
    u, i = g.edges(etype="interacts")
    raw_u = g.nodes["user"].data["raw_id"][u].numpy()
    raw_i = g.nodes["item"].data["raw_id"][i].numpy()
    keep = raw_u <= num_users
    inter = pd.DataFrame({"user": raw_u[keep], "item": raw_i[keep],
                          "rating": g.edges["interacts"].data["rating"][torch.from_numpy(keep)].numpy()})
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(folder / "interactions.csv", inter.to_csv(index=False).encode())
    for attr in ("gender", "age", "occupation"):
        s, d = g.edges(etype=("user", f"has_{attr}", attr))
        df = pd.DataFrame({"user": g.nodes["user"].data["raw_id"][s].numpy(), attr: d.numpy()})
        df = df[df.user <= num_users]
        atomic_write_bytes(folder / f"user_{attr}.csv", df.to_csv(index=False).encode())
    s, d = g.edges(etype=("item", "has_genre", "genre"))
    df = pd.DataFrame({"item": g.nodes["item"].data["raw_id"][s].numpy(), "genre": d.numpy()})
    df = df[df.item.isin(set(inter.item))]
    atomic_write_bytes(folder / "item_genre.csv", df.to_csv(index=False).encode())
    return folder


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--users", type=int, default=600)
    p.add_argument("--fold", type=int, default=None, help="one fold (the same as --folds F)")
    p.add_argument("--folds", default="0", help="comma-separated folds of the 5-fold split")
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "tables-check"))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    folds = [args.fold] if args.fold is not None else [int(f) for f in args.folds.split(",")]
    tables = build_tables(args.data_dir, args.users, out / f"ml1m-first{args.users}-tables")
    for name in args.models.split(","):
        tcfg = TrainConfig(seed=0, progress=False, num_threads=args.threads, **training_settings(name))
        cfg = ExperimentConfig(dataset="tables", model=name, folds=folds, tables=str(tables), train=tcfg)
        run_experiment(cfg, out / name, resume=True,
                       log=lambda m, n=name: print(f"   {n} {m}", file=sys.stderr, flush=True))
    n = len(pd.read_csv(tables / "interactions.csv"))
    text = (f"MovieLens-1M users 1..{args.users} as a tables folder ({n:,} ratings), test\n\n"
            f"machine: {machine()}\ncommand: python benchmarks/tables_check.py "
            f"{' '.join(sys.argv[1:] if argv is None else argv)}\n\n" + report(out) + "\n")
    atomic_write_bytes(out / "tables_check.md", text.encode())
    print(text)


def finished_cells(out: Path) -> dict:
    """``{model: {fold: test metrics}}`` of every finished cell under ``out``."""
    order = MODELS + sorted(p.name for p in out.iterdir() if p.is_dir() and p.name not in MODELS)
    cells = {}
    for name in order:
        for path in sorted((out / name).glob("fold-*/metrics.json")):
            cells.setdefault(name, {})[int(path.parent.name.split("-")[1])] = json.loads(path.read_text())["test"]
    return cells


def report(out: Path, reference: str = "mthgt", metric: str = "NDCG@10") -> str:
    """Markdown: each model's test means over the folds it has finished, each fold's ``metric``
    per model, and ``reference``'s paired difference to each model over the folds both have
    finished (mean ± sample std, and in how many of them ``reference`` is ahead)."""
    cells = finished_cells(out)
    means = {f"{name} ({len(c)} fold{'s' if len(c) > 1 else ''})":
             {k: float(np.mean([m[k] for m in c.values()])) for k in next(iter(c.values())) if k != "num_users"}
             for name, c in cells.items()}
    folds = sorted(set().union(*(set(c) for c in cells.values()))) if cells else []
    lines = ["Test means over the folds each model has finished:", "",
             format_metrics_table(means) if means else "(no finished cell)", "",
             f"{metric} per fold, and {reference}'s paired difference over the folds both have finished "
             f"(mean ± sample std; folds where {reference} is ahead):", "",
             "| model | " + " | ".join(f"fold {f}" for f in folds) + f" | {reference} − model | ahead |",
             "|---|" + "---:|" * len(folds) + "---:|---:|"]
    ref = cells.get(reference, {})
    for name, c in cells.items():
        row = [f"{c[f][metric]:.4f}" if f in c else "–" for f in folds]
        diff = [ref[f][metric] - c[f][metric] for f in folds if f in ref and f in c]
        paired, ahead = "", ""
        if name != reference and diff:
            sd = f" ± {np.std(diff, ddof=1):.4f}" if len(diff) > 1 else ""
            paired, ahead = f"{np.mean(diff):+.4f}{sd}", f"{sum(d > 0 for d in diff)}/{len(diff)}"
        lines.append(f"| {name} | " + " | ".join(row) + f" | {paired} | {ahead} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
