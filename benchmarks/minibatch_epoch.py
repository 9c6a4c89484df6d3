"""One training epoch of full-graph and mini-batch MTHGT on a dataset's fold 0, step by step.

Prints, per model, the epoch's summed step time (forward, backward, optimizer; batches built
beforehand), its first step (the mini-batch mode refreshes its snapshot there), the median step
and the last loss, so the two modes' epoch cost can be compared on one machine in one process:

    python benchmarks/minibatch_epoch.py --data-dir ../shared/data --dataset lastfm --threads 1
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("DGLBACKEND", "pytorch")

import torch  # noqa: E402

from hetrec.data import kfold_split, load_dataset  # noqa: E402
from hetrec.models import create_model  # noqa: E402
from hetrec.train import seed_everything  # noqa: E402
from hetrec.train.optim import make_optimizer  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", default=None)
    p.add_argument("--dataset", default="lastfm", choices=["lastfm", "ml-1m"])
    p.add_argument("--models", default="mthgt-minibatch,mthgt")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    split = kfold_split(load_dataset(args.dataset, root=args.data_dir).graph, k=5, seed=0, val_ratio=0.1)[0]
    print(f"{args.dataset} fold 0, {args.threads} thread(s)")
    for name in args.models.split(","):
        torch.manual_seed(0)
        model = create_model(name)
        model.setup(split)
        model.train()
        opt = make_optimizer(model, lr=1e-2)
        batches = list(model.train_batches(seed_everything(0, 1)))
        times = []
        for batch in batches:
            t = time.perf_counter()
            out = model.loss(batch)
            opt.zero_grad(set_to_none=True)
            out.loss.backward()
            opt.step()
            times.append(time.perf_counter() - t)
        print(f"{name}: epoch {sum(times):.2f} s over {len(times)} steps, first {times[0]:.3f} s, "
              f"median {sorted(times)[len(times) // 2]:.3f} s, last loss {out.loss.item():.5f}")


if __name__ == "__main__":
    main()
