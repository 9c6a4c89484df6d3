"""Where a training step's time goes: sampling, projection, HGT layers, MMoE, losses, backward,
optimizer. Module times come from forward hooks on the model's own modules, so the benchmark runs
the real ``model.loss``; "losses & glue" is the forward time outside those modules (link-prediction
edge selection, scoring, loss terms).

    python benchmarks/train_step.py --data-dir ../shared/data                 # MTHGT on Last.FM
    python benchmarks/train_step.py --data-dir ../shared/data --model hgt-d --threads 1

Prints a Markdown table (median over the measured steps) and writes
benchmarks/results/train_step.csv. Budget (issue): step <= 0.5 s, epoch <= 40 s on 2 cores.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("DGLBACKEND", "pytorch")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_csv_atomically  # noqa: E402

from hetrec.data import kfold_split, load_dataset  # noqa: E402
from hetrec.models import create_model  # noqa: E402
from hetrec.train import seed_everything  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="lastfm")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--model", default="mthgt")
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--out", default="benchmarks/results/train_step.csv")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    overrides = {}
    for kv in args.sets:
        k, v = kv.split("=", 1)
        overrides[k] = int(v) if v.lstrip("-").isdigit() else v
    ds = load_dataset(args.dataset, root=args.data_dir)
    split = kfold_split(ds.graph, k=5, seed=0)[0]
    seed_everything(0)
    model = create_model(args.model, **overrides)
    model.setup(split)
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)

    spans = defaultdict(float)
    groups = {"projection": [model.proj], "HGT layers": [layer for stack in model.gnns for layer in stack]}
    if model.config.multitask:
        groups["MMoE"] = [model.mmoe]
        groups["uncertainty weighting"] = [model.weighting]
    for label, modules in groups.items():
        for m in modules:
            m.register_forward_pre_hook(lambda mod, inp, label=label: spans.__setitem__("_t0", time.perf_counter()))
            m.register_forward_hook(lambda mod, inp, out, label=label:
                                    spans.__setitem__(label, spans[label] + time.perf_counter() - spans["_t0"]))

    batches = iter(model.train_batches(seed_everything(0, 1)))
    rows, sizes = [], []
    for step in range(args.warmup + args.steps):
        spans.clear()
        t0 = time.perf_counter()
        batch = next(batches)
        t1 = time.perf_counter()
        out = model.loss(batch)
        t2 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        t3 = time.perf_counter()
        opt.step()
        t4 = time.perf_counter()
        if step < args.warmup:
            continue
        modules = {k: v for k, v in spans.items() if k != "_t0"}
        row = {"sampling": t1 - t0, **modules, "losses & glue": (t2 - t1) - sum(modules.values()),
               "backward": t3 - t2, "optimizer": t4 - t3, "step total": t4 - t0}
        rows.append(row)
        sub = batch[-1]
        sizes.append((sub.num_nodes(), sub.num_edges()))
    keys = list(rows[0])
    med = {k: float(np.median([r[k] for r in rows])) for k in keys}
    n_batches = -(-split.train.nnz // model.config.batch_size)
    lines = [f"{args.dataset} / {args.model} {overrides or ''}, median of {args.steps} steps after {args.warmup} warm-up",
             f"machine: {machine()}", "",
             "| part | seconds | share of step |", "|---|---:|---:|"]
    for k in keys:
        lines.append(f"| {k} | {med[k]:.3f} | {100 * med[k] / med['step total']:.0f}% |")
    nodes, edges = np.median(np.array(sizes), axis=0)
    lines += ["", f"subgraph: median {nodes:,.0f} nodes, {edges:,.0f} edges; {n_batches} batches per epoch "
              f"-> estimated epoch {n_batches * med['step total']:.0f} s (+ evaluation)"]
    text = "\n".join(lines)
    print(text)
    write_csv_atomically([{"step": i, **r} for i, r in enumerate(rows)], args.out)


if __name__ == "__main__":
    main()
