"""How MTHGT's mini-batch mode (``training="minibatch"``) grows with the graph, at a fixed batch.

For each size of the synthetic graphs of ``benchmarks/scale.py`` (one process per size, so each
peak is its own) it builds the graph and fold 0's training graph, sets up the mini-batch MTHGT
(the ``mthgt-minibatch`` preset with ``sparse_embeddings`` — lazy Adam on the rows a step uses —
and a fixed batch: ``--batch`` interactions, ``--pool`` negative items), and measures

* the snapshot refresh (one exact inference pass over the whole graph, once per epoch): seconds
  and peak memory above what was resident before it;
* a training step (batch, forward, backward, optimizer; no refresh): median seconds and the
  median peak memory above what was resident before the step, with the step's nodes (``F_0``);
* the memory the mode keeps between steps (CSR, normalisation, snapshot), and the cell's peak.

Then it fits ``cost ∝ edges^b`` over every size and over the three largest, and writes
``OUT/minibatch_scale.{csv,md}``. Cells resume from ``OUT/cells/<interactions>.json``.

    python benchmarks/minibatch_scale.py --sizes 3e4 1e5 3e5 1e6          # a few minutes
    python benchmarks/minibatch_scale.py                                    # up to 3e7 interactions (~1e8 edges)
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
from _common import PeakRSS, machine, run_cells, status_kib, write_csv_atomically  # noqa: E402
from scale import exponent, graph_of  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SIZES = [3e4, 1e5, 3e5, 1e6, 3e6, 1e7, 3e7]
MEASURES = {
    "refresh_s": "snapshot refresh (once per epoch), s",
    "refresh_mib": "snapshot refresh, MiB",
    "kept_mib": "kept between steps (CSR, norms, snapshot), MiB",
    "step_s": "training step, s",
    "step_mib": "training step, MiB",
    "step_nodes": "nodes a step computes (F_0)",
    "peak_mib": "peak memory of the cell, MiB",
}


def fanout_of(args):
    return args.fanout[0] if len(args.fanout) == 1 else list(args.fanout)


def run_cell(interactions: float, args) -> dict:
    import torch

    from hetrec.data import kfold_split
    from hetrec.models import create_model
    from hetrec.train import seed_everything
    from hetrec.train.optim import make_optimizer

    torch.set_num_threads(args.threads)
    base = status_kib("VmRSS") / 1024
    g = graph_of(interactions)
    row = {"interactions": int(interactions), "edges": int(g.num_edges()), "nodes": int(g.num_nodes())}
    split = kfold_split(g, k=5, seed=0)[0]
    del g
    model = create_model("mthgt-minibatch", sparse_embeddings=True, batch_size=args.batch,
                         negative_pool=args.pool, history_fanout=fanout_of(args))
    model.setup(split)
    opt = make_optimizer(model, lr=1e-2)
    gen = seed_everything(0, 1)
    batches = iter(model.train_batches(gen))
    before = status_kib("VmRSS") / 1024
    with PeakRSS() as peak:
        t = time.perf_counter()
        model.history(refresh=True)
        row["refresh_s"] = time.perf_counter() - t
    row["refresh_mib"] = peak.mib
    row["kept_mib"] = status_kib("VmRSS") / 1024 - before
    times, mibs, nodes = [], [], []
    for i in range(args.warmup + args.steps):
        batch = next(batches)._replace(first=False)  # no refresh inside the measured steps
        with PeakRSS() as peak:
            t = time.perf_counter()
            out = model.loss(batch)
            opt.zero_grad(set_to_none=True)
            out.loss.backward()
            opt.step()
            elapsed = time.perf_counter() - t
        if i >= args.warmup:
            times.append(elapsed)
            mibs.append(peak.mib)
            nodes.append(out.logs["step_nodes"])
    row["step_s"] = float(np.median(times))
    row["step_mib"] = float(np.median(mibs)) if None not in mibs else None
    row["step_nodes"] = float(np.median(nodes))
    row["peak_mib"] = status_kib("VmHWM") / 1024 - base
    row["settings"] = dict(batch=args.batch, pool=args.pool, fanout=fanout_of(args), threads=args.threads)
    row["machine"] = machine()
    return row


def report(rows, out: Path) -> str:
    rows = sorted(rows, key=lambda r: r["edges"])
    write_csv_atomically(rows, out / "minibatch_scale.csv")
    head = "| measure | " + " | ".join(f"{r['edges']:.2g}" for r in rows) + " | b (all) | b (top 3) |"
    lines = [head, "|---|" + "---:|" * (len(rows) + 2)]
    lines.append("| interactions | " + " | ".join(f"{r['interactions']:.0e}" for r in rows) + " | | |")
    for key, label in MEASURES.items():
        b_all, _ = exponent(rows, key)
        b_top, _ = exponent(rows[-3:], key)
        cells = " | ".join("n/a" if r.get(key) is None else f"{r[key]:.3g}" for r in rows)
        fmt = lambda b: "–" if b is None else f"{b:.2f}"  # noqa: E731
        lines.append(f"| {label} | {cells} | {fmt(b_all)} | {fmt(b_top)} |")
    text = "\n".join(lines) + "\n"
    from hetrec._io import atomic_write_text

    atomic_write_text(out / "minibatch_scale.md", text)
    return text


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=float, nargs="*", help="interaction counts (default: all sizes)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--pool", type=int, default=4096)
    p.add_argument("--fanout", type=int, nargs="+", default=[8],
                   help="in-edges drawn per node: one number, or one per layer (layer 1 first)")
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--timeout", type=float, default=3600, help="seconds per size")
    p.add_argument("--collect", action="store_true", help="only tabulate the finished cells")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "minibatch_scale"))
    p.add_argument("--cell", type=float, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    out = Path(args.out)
    if args.cell:
        print(json.dumps(run_cell(args.cell, args)))
        return
    cell_args = [x for k in ("threads", "batch", "pool", "steps", "warmup") for x in (f"--{k}", str(getattr(args, k)))]
    cell_args += ["--fanout", *map(str, args.fanout)]
    rows = run_cells(__file__, [] if args.collect else (args.sizes or SIZES), out / "cells", cell_args, args.timeout,
                     lambda r: f"{r['edges']:,} edges: step {r['step_s']:.3f} s, refresh {r['refresh_s']:.1f} s")
    if not rows:
        sys.exit("no finished cells")
    print(report(rows, out))


if __name__ == "__main__":
    main()
