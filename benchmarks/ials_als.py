"""iALS solved by alternating least squares: the reference for hetrec's ``ials`` (issue #24).

Rendle et al., "Revisiting the Performance of iALS on Item Recommendation Benchmarks" (RecSys
2022): user and item vectors :math:`w_u, h_i \\in R^d` minimise

    Σ_(u,i)∈S (w_u·h_i − 1)² + α Σ_u Σ_i (w_u·h_i)² + λ Σ_u (|I_u| + α|I|) ‖w_u‖² + λ Σ_i (|U_i| + α|U|) ‖h_i‖²

(the frequency-scaled L2 of the paper, ν = 1). Each half-step solves, per user,
``(α HᵀH + H_Iᵀ H_I + λ (|I_u| + α|I|) I) w_u = H_Iᵀ 1`` (and the same for items): one d x d
system per row, looped over rows here as the reference it is (the cost is that of forming
``H_Iᵀ H_I``, nnz · d², the same as a batched form). hetrec's ``ials`` model trains the same
objective by Adam on mini-batches (:func:`hetrec.nn.losses.ials_loss`); this script is how the
objective was first checked on ML-1M (docs/baselines.md, "iALS"). Prints validation NDCG@10 /
R@10 of fold F every second iteration.

    python benchmarks/ials_als.py --dataset ml-1m --dim 128 --alpha 0.3 --reg 0.01 --iters 10
"""
from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("DGLBACKEND", "pytorch")

import numpy as np  # noqa: E402


def half_step(rows, other, alpha: float, reg: float):
    """Solve every row of the CSR ``rows`` (binary) against the fixed factor ``other``."""
    import torch

    n_other, d = other.shape
    gram = alpha * other.T @ other
    eye = torch.eye(d, dtype=other.dtype)
    out = torch.zeros(rows.shape[0], d, dtype=other.dtype)
    for r in range(rows.shape[0]):
        idx = torch.from_numpy(rows.indices[rows.indptr[r]:rows.indptr[r + 1]]).long()
        v = other[idx]
        a = gram + v.T @ v + reg * (len(idx) + alpha * n_other) * eye
        out[r] = torch.linalg.solve(a, v.sum(0))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", choices=["lastfm", "ml-1m"], default="ml-1m")
    p.add_argument("--data-dir", default=os.environ.get("HETREC_DATA"))
    p.add_argument("--fold", type=int, default=0)
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--alpha", type=float, default=0.3)
    p.add_argument("--reg", type=float, default=0.01)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    import torch

    from hetrec.data import kfold_split, load_dataset
    from hetrec.eval import topn_metrics

    torch.set_num_threads(args.threads)
    split = kfold_split(load_dataset(args.dataset, root=args.data_dir).graph, k=5, seed=0, val_ratio=0.1)[args.fold]
    x = split.train.tocsr().astype(np.float64)
    x.sum_duplicates()
    x.data[:] = 1.0
    xt = x.T.tocsr()
    gen = torch.Generator().manual_seed(args.seed)
    scale = 0.1 / args.dim ** 0.5
    w = torch.randn(x.shape[0], args.dim, generator=gen, dtype=torch.float64) * scale
    h = torch.randn(x.shape[1], args.dim, generator=gen, dtype=torch.float64) * scale
    t = time.perf_counter()
    for it in range(1, args.iters + 1):
        w = half_step(x, h, args.alpha, args.reg)
        h = half_step(xt, w, args.alpha, args.reg)
        if it % 2 == 0 or it == args.iters:
            m = topn_metrics(w.float(), h.float(), exclude=[split.train], test=split.val, ns=(10,))
            print(json.dumps({"iter": it, "dim": args.dim, "alpha": args.alpha, "reg": args.reg,
                              "val NDCG@10": round(m["NDCG@10"], 4), "val R@10": round(m["R@10"], 4),
                              "s": round(time.perf_counter() - t)}), flush=True)


if __name__ == "__main__":
    main()
