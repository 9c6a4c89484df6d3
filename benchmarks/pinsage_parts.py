"""What the graph layers of user–item PinSage add: each trained ``pinsage-ui`` cell scored with its
whole representation and with each part of it (docs/baselines_pinsage_hin2vec.md).

``pinsage-ui`` concatenates its layers, :math:`e_v = h^{(0)}_v \\| h^{(1)}_v \\| \\dots \\| h^{(K)}_v`,
so a score is a sum over layers, :math:`\\hat y_{ui} = \\sum_k h^{(k)\\top}_u h^{(k)}_i`: the ID
embeddings' inner product (a matrix factorisation) plus one term per convolution layer. Scoring a
trained model with one part at a time says where its ranking comes from. The cells are read, never
trained: a fold without ``model.pt`` is skipped. Validation and test are scored as the trainer
does (training items excluded; for test, training and validation items).

    python benchmarks/pinsage_parts.py --dataset lastfm --data-dir ../shared/data
    python benchmarks/pinsage_parts.py --dataset ml-1m --cells benchmarks/results/accuracy/ml-1m/pinsage-ui

Prints one Markdown table (NDCG@10 and R@10 of each part, per fold and their mean) and writes it to
``<cells>/parts.md``.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("DGLBACKEND", "pytorch")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from _common import machine  # noqa: E402

from hetrec.data import DataError  # noqa: E402
from hetrec.data.files import atomic_write_bytes  # noqa: E402
from hetrec.eval import topn_metrics  # noqa: E402

HERE = Path(__file__).resolve().parent


def parts(user: torch.Tensor, item: torch.Tensor, width: int, num_layers: int) -> dict:
    """``{name: (user part, item part)}``: the whole representation, the layer-0 (ID) block, the
    convolution layers' blocks together, and each layer's block alone."""
    out = {"all layers": (user, item), "layer 0 (ID embeddings)": (user[:, :width], item[:, :width]),
           "layers 1..K": (user[:, width:], item[:, width:])}
    for k in range(1, num_layers + 1):
        out[f"layer {k}"] = (user[:, k * width:(k + 1) * width], item[:, k * width:(k + 1) * width])
    return out


def score_parts(model, split, ns=(10,)) -> dict:
    """``{part: {"val": metrics, "test": metrics}}`` of a trained concatenating ``pinsage-ui``."""
    if model.config.combine != "concat":
        raise ValueError(f"pinsage_parts needs combine='concat', the model has {model.config.combine!r}")
    model.eval()
    with torch.no_grad():
        user, item = model.embeddings()
    out = {}
    for name, (u, i) in parts(user, item, model.config.embedding_size, model.config.num_layers).items():
        out[name] = {"val": topn_metrics(u, i, exclude=split.train, test=split.val, ns=ns),
                     "test": topn_metrics(u, i, exclude=[split.train, split.val], test=split.test, ns=ns)}
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default="lastfm")
    p.add_argument("--data-dir", default=os.environ.get("HETREC_DATA"))
    p.add_argument("--cells", type=Path, default=None,
                   help="the pinsage-ui cells (default benchmarks/results/accuracy/<dataset>/pinsage-ui)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    if args.data_dir:
        os.environ["HETREC_DATA"] = args.data_dir
    torch.set_num_threads(args.threads)
    cells = args.cells or HERE / "results" / "accuracy" / args.dataset / "pinsage-ui"
    from hetrec.train.runs import load_fold_model, load_run, trained_folds

    try:
        cfg, dataset = load_run(cells, args.data_dir)
    except (DataError, OSError) as err:
        sys.exit(f"error: {err}")
    if cfg.model != "pinsage-ui":
        sys.exit(f"error: {cells} holds {cfg.model!r} cells, not pinsage-ui")
    folds = trained_folds(cells, cfg.k)
    if not folds:
        sys.exit(f"error: no fold of {cells} has a model.pt")
    rows = {}
    for fold in folds:
        model, split = load_fold_model(cells, fold, cfg, dataset)
        rows[fold] = score_parts(model, split)
        print(f"fold {fold}: " + ", ".join(f"{k} {v['test']['NDCG@10']:.4f}" for k, v in rows[fold].items()),
              file=sys.stderr, flush=True)
    names = list(rows[folds[0]])
    try:
        shown = Path(cells).resolve().relative_to(HERE.parent)
    except ValueError:
        shown = cells
    lines = [f"# What pinsage-ui's layers add ({args.dataset})", "",
             f"Cells: `{shown}`, folds {', '.join(map(str, folds))}; each trained model scored with one part "
             f"of its concatenated representation at a time (`python benchmarks/pinsage_parts.py --dataset "
             f"{args.dataset}`). Machine: {machine()}", "",
             "| part | val NDCG@10 | test NDCG@10 | test R@10 | " + " | ".join(f"test NDCG@10 fold {f}" for f in folds) + " |",
             "|---|---:|---:|---:|" + "---:|" * len(folds)]
    for name in names:
        val = np.mean([rows[f][name]["val"]["NDCG@10"] for f in folds])
        nd = [rows[f][name]["test"]["NDCG@10"] for f in folds]
        rc = np.mean([rows[f][name]["test"]["R@10"] for f in folds])
        lines.append(f"| {name} | {val:.4f} | {np.mean(nd):.4f} | {rc:.4f} | " + " | ".join(f"{x:.4f}" for x in nd) + " |")
    text = "\n".join(lines) + "\n"
    atomic_write_bytes(cells / "parts.md", text.encode())
    print(text)


if __name__ == "__main__":
    main()
