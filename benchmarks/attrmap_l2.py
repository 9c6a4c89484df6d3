"""How the attribute map's ridge weight λ (MTHGT ``cold_map_l2``, docs/coldstart.md) was chosen:
k-fold cross-validated squared error of the map on the warm nodes of a nested validation cell,
for a grid of λ — a regression criterion, no ranking number.

The cell is ``benchmarks/coldstart.py --validation``'s ``mthgt`` (or ``mthgt-coldmean``) cell of
the dataset and setting (its ``model.pt``, kept by the benchmark, not committed); the map's
targets are the trained representations of the nodes of the cold type that have training
interactions, its features those of :func:`hetrec.models.attrmap.attribute_features`.

    python benchmarks/attrmap_l2.py --dataset lastfm --data-dir ../shared/data
    python benchmarks/attrmap_l2.py --dataset ml-1m --data-dir ../shared/data --degree 2

Prints one line per λ: the relative squared error (sum over held-out nodes of ‖ẑ − z‖², divided
by that of predicting the training mean).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("DGLBACKEND", "pytorch")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from hetrec._integrity import load_pt  # noqa: E402
from hetrec._schemas import MODEL_FILE  # noqa: E402
from hetrec.data import INTERACTS, USER, cold_start_split, load_dataset  # noqa: E402
from hetrec.models import create_model  # noqa: E402
from hetrec.models.attrmap import attribute_features, ridge_fit  # noqa: E402

ROOT = Path(__file__).resolve().parent / "results" / "coldstart"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default="lastfm")
    p.add_argument("--data-dir", default=os.environ.get("HETREC_DATA"))
    p.add_argument("--setting", default="cold-items", choices=["cold-items", "cold-users"])
    p.add_argument("--degree", type=int, default=1, choices=[1, 2])
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--l2", type=float, nargs="+", default=[1, 3, 10, 30, 100])
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    cells = [ROOT / args.dataset / "validation" / m / args.setting / "fold-0" for m in ("mthgt", "mthgt-coldmean")]
    cell = next((c for c in cells if (c / "model.pt").is_file()), None)
    if cell is None:
        sys.exit(f"error: no validation cell with model.pt among {', '.join(map(str, cells))}; run "
                 f"benchmarks/coldstart.py --dataset {args.dataset} --validation --folds 0 --models mthgt first")
    graph = load_dataset(args.dataset, root=args.data_dir).graph
    split = cold_start_split(cold_start_split(graph, args.setting, k=5, seed=0)[0].train_graph, args.setting,
                             k=5, seed=0)[0]
    saved, _ = load_pt(cell / "model.pt", MODEL_FILE)
    model = create_model("mthgt")
    model.setup(split)
    model.load_state_dict(saved["model"])
    model.eval()
    g = split.train_graph
    ntype = next(iter(split.cold_nodes))
    reps = model.inductive_embeddings(g, split.cold_nodes)[ntype].double().numpy()
    src, dst = g.edges(etype=INTERACTS)
    count = np.bincount((src if ntype == USER else dst).numpy(), minlength=g.num_nodes(ntype))
    warm = np.flatnonzero((count > 0) & ~np.isin(np.arange(g.num_nodes(ntype)), split.cold))
    x, _, _ = attribute_features(g, ntype, args.degree, pair_rows=warm)
    parts = np.array_split(np.random.default_rng(args.seed).permutation(warm), args.folds)
    print(f"{args.dataset} {args.setting}: {len(warm)} warm {ntype}s, {x.shape[1]} features (degree {args.degree}), "
          f"cell {cell}")
    for l2 in args.l2:
        err = base = 0.0
        for k, held in enumerate(parts):
            fit = np.concatenate([q for j, q in enumerate(parts) if j != k])
            pred = np.asarray(x[held] @ ridge_fit(x[fit], reps[fit], l2))
            err += float(((pred - reps[held]) ** 2).sum())
            base += float(((reps[held] - reps[fit].mean(0)) ** 2).sum())
        print(f"lambda {l2:g}: relative squared error {err / base:.4f}", flush=True)


if __name__ == "__main__":
    main()
