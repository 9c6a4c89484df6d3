"""Does the default MTHGT beat MostPop and item-kNN on data it was not tuned on, loaded with
``from_tables``? (docs/mthgt.md)

Builds a tables folder (``interactions.csv``, ``user_gender.csv``, ``user_age.csv``,
``user_occupation.csv``, ``item_genre.csv``, ``items.csv``) from the first ``--users`` users of
the verified MovieLens-1M files — a dataset shaped like MovieLens-100k (about 100k ratings of
~600 users with demographic attributes and genres) — then trains each model on fold ``--fold``
with its recommended settings through the same ``run_experiment`` as ``hetrec train --tables``.
Every setting of MTHGT was chosen on Last.FM; nothing is tuned here.

    python benchmarks/tables_check.py --data-dir ../shared/data --threads 1
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("DGLBACKEND", "pytorch")

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
    p.add_argument("--fold", type=int, default=0)
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "tables-check"))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    tables = build_tables(args.data_dir, args.users, out / f"ml1m-first{args.users}-tables")
    trained = args.models.split(",")
    for name in trained:
        tcfg = TrainConfig(seed=0, progress=False, num_threads=args.threads, **training_settings(name))
        cfg = ExperimentConfig(dataset="tables", model=name, folds=[args.fold], tables=str(tables), train=tcfg)
        run_experiment(cfg, out / name, resume=True,
                       log=lambda m, n=name: print(f"   {n} {m}", file=sys.stderr, flush=True))
    # the table holds every finished cell of this fold on disk, whichever models this run trained
    order = MODELS + sorted(p.name for p in out.iterdir() if p.is_dir() and p.name not in MODELS)
    results = {}
    for name in order:
        path = out / name / f"fold-{args.fold}" / "metrics.json"
        if path.is_file():
            results[name] = json.loads(path.read_text())["test"]
    n = len(pd.read_csv(tables / "interactions.csv"))
    text = (f"MovieLens-1M users 1..{args.users} as a tables folder ({n:,} ratings), fold {args.fold}, test\n\n"
            f"machine: {machine()}\ncommand: python benchmarks/tables_check.py "
            f"{' '.join(sys.argv[1:] if argv is None else argv)}\n\n" + format_metrics_table(results) + "\n")
    atomic_write_bytes(out / "tables_check.md", text.encode())
    print(text)


if __name__ == "__main__":
    main()
