"""Which relations does a trained model rely on? Re-rank its validation (or test) users with
groups of relations removed from the graph used for inference, without retraining.

    python benchmarks/relation_ablation.py --run benchmarks/results/accuracy/lastfm/mthgt --fold 0

Works for models whose embeddings come from message passing on ``model.graph`` (MTHGT and its
ablations). Each relation is removed together with its reverse. Prints a Markdown table.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("DGLBACKEND", "pytorch")

import dgl  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine  # noqa: E402

from hetrec.data import reverse_etypes  # noqa: E402
from hetrec.train import evaluate  # noqa: E402
from hetrec.train.experiment import load_fold_model  # noqa: E402


def without(g, etypes):
    for et in etypes:
        g = dgl.remove_edges(g, torch.arange(g.num_edges(et)), etype=et)
    return g


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, help="a run folder (hetrec train --out, or a benchmark cell's parent)")
    p.add_argument("--fold", type=int, default=0)
    p.add_argument("--split", choices=["val", "test"], default="val")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    model, split = load_fold_model(args.run, args.fold)
    if not hasattr(model, "graph"):
        raise SystemExit(f"{model.name} does not embed by message passing on a graph")
    full = model.graph
    rev = reverse_etypes(full)
    groups, seen = [], set()
    for et in full.canonical_etypes:
        if et not in seen:
            seen |= {et, rev[et]}
            groups.append(sorted({et, rev[et]}))
    exclude, target = (split.train, split.val) if args.split == "val" else (split.train + split.val, split.test)
    rows = [("full training graph", full)] + [(f"without {' / '.join(e[1] for e in grp)}", without(full, grp))
                                             for grp in groups]
    rows.append(("no edges at all", without(full, full.canonical_etypes)))
    print(f"{args.run} fold {args.fold}, {args.split} users; machine: {machine()}\n")
    print("| inference graph | R@10 | NDCG@10 |\n|---|---:|---:|")
    for label, g in rows:
        model.graph = g
        m = evaluate(model, exclude, target)
        print(f"| {label} | {m['R@10']:.4f} | {m['NDCG@10']:.4f} |")
    model.graph = full


if __name__ == "__main__":
    main()
