"""How much of EASE's accuracy a rank-r score matrix can keep (issue #24: why MTHGT trails EASE on ML-1M).

Every model that scores by an inner product of d-wide user and item vectors (MTHGT, LightGCN,
BPR-MF, XSimGCL, ...) gives a users x items score matrix of rank at most d. EASE's scores
``S = X B`` have the rank of its item-item matrix ``B`` (about the number of items). This probe
fits EASE on one fold's training part and ranks the held-out part (validation by default) with

* ``ease-svd-r``: the best rank-r approximation of EASE's own score matrix (truncated SVD of
  ``S``): what a d = r inner-product model would reach if it reproduced EASE's scores as well as
  any rank-r matrix can;
* ``puresvd-r``: PureSVD (Cremonesi et al., RecSys 2010), the classic rank-r closed form: the
  training matrix projected on its top-r right singular vectors, ``X V_r V_rᵀ``;

next to EASE itself. It is evidence, not a proof: a rank-r model trained for ranking need not
approximate EASE's scores to rank as well. Writes ``OUT/<dataset>-<split>-fold<F>.csv``.

    python benchmarks/rank_probe.py --dataset ml-1m --data-dir ../shared/data
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("DGLBACKEND", "pytorch")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FIELDS = ["dataset", "split", "fold", "model", "rank", "NDCG@10", "R@10", "share_of_ease"]


def ease_reg(dataset: str, tuned: Path) -> float:
    """EASE's λ: the study's best (``tuned/<dataset>/ease/best.json``), else the registry's."""
    best = tuned / dataset / "ease" / "best.json"
    if best.exists():
        return float(json.loads(best.read_text())["model_overrides"]["reg_weight"])
    from hetrec.models.ease import EASEConfig

    return float(EASEConfig().reg_weight)


def probe(split, reg: float, ranks, target: str = "validation") -> list[dict]:
    """Rows of NDCG@10 / R@10 for EASE, its rank-r truncations and PureSVD at each rank."""
    import torch

    from hetrec.eval import topn_metrics
    from hetrec.models import create_model

    ease = create_model("ease", reg_weight=reg)
    ease.setup(split)
    users = torch.arange(split.train.shape[0])
    with torch.no_grad():
        s = ease.scores(users).double()
    exclude = [split.train] if target == "validation" else [split.train, split.val]
    held = split.val if target == "validation" else split.test

    def metrics(scores) -> dict:
        m = topn_metrics(scores=scores.float(), exclude=exclude, test=held, ns=(10,))
        return {"NDCG@10": m["NDCG@10"], "R@10": m["R@10"]}

    rows = [{"model": "ease", "rank": min(s.shape), **metrics(s)}]
    u, sig, vt = torch.linalg.svd(s, full_matrices=False)
    x = torch.as_tensor(np.asarray(split.train.todense()), dtype=torch.float64)
    x[x != 0] = 1.0
    _, _, vx = torch.linalg.svd(x, full_matrices=False)
    for r in ranks:
        r = min(r, len(sig))
        rows.append({"model": "ease-svd", "rank": r, **metrics((u[:, :r] * sig[:r]) @ vt[:r])})
        rows.append({"model": "puresvd", "rank": r, **metrics(x @ vx[:r].T @ vx[:r])})
    for row in rows:
        row["share_of_ease"] = row["NDCG@10"] / rows[0]["NDCG@10"]
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", choices=["lastfm", "ml-1m"], default="ml-1m")
    p.add_argument("--data-dir", default=os.environ.get("HETREC_DATA"))
    p.add_argument("--fold", type=int, default=0)
    p.add_argument("--split", choices=["validation", "test"], default="validation")
    p.add_argument("--ranks", type=int, nargs="+", default=[32, 64, 128, 256, 512, 1024])
    p.add_argument("--tuned", default=str(ROOT / "benchmarks" / "results" / "tuning"))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "rank_probe"))
    args = p.parse_args(argv)
    import torch

    from hetrec._io import atomic_write_text
    from hetrec.data import kfold_split, load_dataset

    torch.set_num_threads(args.threads)
    t = time.perf_counter()
    graph = load_dataset(args.dataset, root=args.data_dir).graph
    split = kfold_split(graph, k=5, seed=0, val_ratio=0.1)[args.fold]
    reg = ease_reg(args.dataset, Path(args.tuned))
    rows = [{"dataset": args.dataset, "split": args.split, "fold": args.fold, **r}
            for r in probe(split, reg, args.ranks, args.split)]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{args.dataset}-{args.split}-fold{args.fold}.csv"
    lines = [",".join(FIELDS)] + [",".join(str(r[f]) for f in FIELDS) for r in rows]
    atomic_write_text(path, "\n".join(lines) + "\n")
    print(f"{args.dataset}, fold {args.fold}, {args.split}; EASE λ = {reg:.4g}; {machine()}; "
          f"{time.perf_counter() - t:.0f} s")
    print("| model | rank | NDCG@10 | R@10 | of EASE's NDCG@10 |\n|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['rank']} | {r['NDCG@10']:.4f} | {r['R@10']:.4f} | {r['share_of_ease']:.1%} |")
    print(f"written: {path}")


if __name__ == "__main__":
    main()
