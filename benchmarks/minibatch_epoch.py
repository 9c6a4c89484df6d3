"""One training epoch of full-graph and mini-batch MTHGT on a dataset's fold 0, step by step.

Prints, per model, the epoch's summed step time (forward, backward, optimizer; batches built
beforehand), its first step (the mini-batch mode refreshes its snapshot there), the median step
and the last loss, so the two modes' epoch cost can be compared on one machine in one process:

    python benchmarks/minibatch_epoch.py --data-dir ../shared/data --dataset lastfm --threads 1

``--set KEY=VALUE`` (repeatable; JSON values) overrides a setting of every model, e.g. the tuned
``num_layers=4 hidden_size=128``; ``--set history_fanout=16`` is ignored by full-graph models;
``--epochs N`` times N epochs (their steps summed, each epoch's first step included), ``--lr`` the
optimizer's learning rate.
"""
from __future__ import annotations

import argparse
import json
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
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--lr", type=float, default=1e-2)
    args = p.parse_args(argv)
    sets = {}
    for item in args.set:
        if "=" not in item:
            p.error(f"--set expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        try:
            sets[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            sets[key.strip()] = value
    torch.set_num_threads(args.threads)
    split = kfold_split(load_dataset(args.dataset, root=args.data_dir).graph, k=5, seed=0, val_ratio=0.1)[0]
    print(f"{args.dataset} fold 0, {args.threads} thread(s)")
    for name in args.models.split(","):
        torch.manual_seed(0)
        overrides = {k: v for k, v in sets.items()
                     if not (k.startswith("history_") and "minibatch" not in name and not name.endswith("-mb"))}
        model = create_model(name, **overrides)
        model.setup(split)
        model.train()
        opt = make_optimizer(model, lr=args.lr)
        times = []
        for epoch in range(args.epochs):
            batches = list(model.train_batches(seed_everything(0, epoch + 1)))
            for batch in batches:
                t = time.perf_counter()
                out = model.loss(batch)
                opt.zero_grad(set_to_none=True)
                out.loss.backward()
                opt.step()
                times.append(time.perf_counter() - t)
        print(f"{name}: {sum(times) / args.epochs:.2f} s per epoch ({args.epochs} epoch(s), {len(times)} steps), "
              f"first {times[0]:.3f} s, median {sorted(times)[len(times) // 2]:.3f} s, "
              f"last loss {out.loss.item():.5f}", flush=True)


if __name__ == "__main__":
    main()
