"""Training-step time with ``hetrec.nn.losses.dot_scores`` as it is (DGL's fused SDDMM for k
negatives per query) against the gather-and-batched-matmul it replaced, in one process, on the
same batches, alternated ``--repeats`` times (so machine drift hits both alike):

    python benchmarks/dot_scores_ab.py --data-dir ../shared/data --dataset lastfm --models mthgt,mthgt-minibatch

Prints, per model and implementation, the seconds of one epoch's steps after the first (forward,
backward, optimizer) for each repeat.
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("DGLBACKEND", "pytorch")

import torch  # noqa: E402

import hetrec.models._bpr as bpr  # noqa: E402
import hetrec.models.mthgt as mthgt  # noqa: E402
from hetrec.data import kfold_split, load_dataset  # noqa: E402
from hetrec.models import create_model  # noqa: E402
from hetrec.nn.losses import dot_scores  # noqa: E402
from hetrec.train import seed_everything  # noqa: E402
from hetrec.train.optim import make_optimizer  # noqa: E402


def gather_bmm(queries, table, index):
    """The implementation before the SDDMM: gather ``(B, k, d)`` rows, then a batched matmul."""
    if index.dim() == 1:
        return (queries * table[index]).sum(-1)
    return torch.bmm(table[index], queries.unsqueeze(-1)).squeeze(-1)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", default=None)
    p.add_argument("--dataset", default="lastfm", choices=["lastfm", "ml-1m"])
    p.add_argument("--models", default="mthgt,mthgt-minibatch")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    split = kfold_split(load_dataset(args.dataset, root=args.data_dir).graph, k=5, seed=0, val_ratio=0.1)[0]
    for name in args.models.split(","):
        torch.manual_seed(0)
        model = create_model(name)
        model.setup(split)
        model.train()
        opt = make_optimizer(model, lr=1e-2)
        batches = list(model.train_batches(seed_everything(0, args.threads)))
        times = {"sddmm": [], "gather+bmm": []}
        for _ in range(args.repeats):
            for impl_name, impl in (("gather+bmm", gather_bmm), ("sddmm", dot_scores)):
                mthgt.dot_scores = bpr.dot_scores = impl
                t = time.perf_counter()
                for b in batches[1:]:
                    out = model.loss(b)
                    opt.zero_grad(set_to_none=True)
                    out.loss.backward()
                    opt.step()
                times[impl_name].append(time.perf_counter() - t)
        mthgt.dot_scores = bpr.dot_scores = dot_scores
        for impl_name, ts in times.items():
            print(f"{name} {impl_name}: " + " ".join(f"{x:.2f}" for x in ts) + f" s for {len(batches) - 1} steps")


if __name__ == "__main__":
    main()
