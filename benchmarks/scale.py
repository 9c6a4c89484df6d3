"""How cost grows with the graph: synthetic hetrec graphs from ~10⁵ to ~10⁸ edges.

For each size (one "cell", run in its own process so that its peak memory is its own) it
measures

* build: generating the graph (``hetrec.data.synthetic``) and the first fold's training graph
  (``kfold_split``); the resident memory the graph adds and the cell's peak, both above the
  interpreter's with torch and DGL loaded;
* sampling: ``DenseSubgraphSampler(2, 128)`` on batches of 1,024 training interactions (their
  endpoints as seeds, the interactions and their reverses excluded, as
  ``as_edge_prediction_sampler`` does), without and with ``max_in_edges``: subgraphs per
  second, nodes and edges per subgraph, peak memory of a batch;
* training: the sampled MTHGT preset (``mthgt-sampled``: dense subgraphs, HGT layers, MMoE,
  uncertainty weighting; batch of 2,048 interactions) with and without ``max_in_edges``, and with
  ``max_in_edges`` plus ``sparse_embeddings`` (lazy Adam on the rows a batch uses): the median
  step (sampling, forward, backward, optimizer) and the peak memory of a step;
* evaluation: full-graph inference (``prepare_scoring``) and full ranking (scores of 1,024 users
  against every item, top 20). Full-graph inference holds a hidden vector per edge and layer, so
  it is skipped above ``--max-infer-edges`` (the table says so).

Then it fits each measurement against the number of edges, ``cost ∝ edges^b``, by least squares
on the logs, and writes ``OUT/scale.csv`` (one row per size), ``OUT/scale.md`` (table and
exponents) and ``OUT/scale.png`` when matplotlib is installed. Cells are kept in
``OUT/cells/<interactions>.json``: a finished cell is read back, so the benchmark resumes.

    python benchmarks/scale.py --quick                  # 3e4 .. 1e6 interactions, a few minutes
    python benchmarks/scale.py                          # 3e4 .. 3e7 interactions (~1e8 edges)
    python benchmarks/scale.py --collect                # tables from the finished cells only
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("DGLBACKEND", "pytorch")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import PeakRSS, machine, run_cells, status_kib, write_csv_atomically  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SIZES = [3e4, 1e5, 3e5, 1e6, 3e6, 1e7, 3e7]  # interactions; a graph has ~3.2x as many edges
QUICK_SIZES = [3e4, 1e5, 3e5, 1e6]
IN_EDGES = 32  # the max_in_edges compared with the exact node-induced subgraph (MTHGT's "auto" on big graphs)
MEASURES = {  # column -> label; the exponent is fitted for each
    "build_s": "graph build, s",
    "split_s": "first fold split, s",
    "rss_graph_mib": "graph in memory, MiB",
    "peak_mib": "peak memory of the cell, MiB",
    "sample_ms": "sampling, ms/subgraph",
    "sub_edges": "subgraph edges",
    "sample_batch_mib": "sampling, MiB/batch",
    "sample_ms_capped": f"sampling (max_in_edges {IN_EDGES}), ms/subgraph",
    "sub_edges_capped": f"subgraph edges (max_in_edges {IN_EDGES})",
    "step_s": "training step, s",
    "step_mib": "training step, MiB",
    "step_s_capped": f"training step (max_in_edges {IN_EDGES}), s",
    "step_mib_capped": f"training step (max_in_edges {IN_EDGES}), MiB",
    "step_s_sparse": f"training step (max_in_edges {IN_EDGES}, sparse embeddings), s",
    "step_mib_sparse": f"training step (max_in_edges {IN_EDGES}, sparse embeddings), MiB",
    "infer_s": "full-graph inference, s",
    "rank_s": "full ranking of 1,024 users, s",
}


def graph_of(interactions: int):
    from hetrec.data import synthetic

    n = int(interactions)
    return synthetic(num_users=max(n // 20, 10), num_items=max(n // 50, 10), num_interactions=n,
                     num_tags=max(50, n // 2000), seed=0)


def sampler_batches(g, num, seed):
    """Seeds and exclusions of ``num`` batches of 1,024 training interactions."""
    import torch

    from hetrec.data import INTERACTS, reverse_etypes

    rev = reverse_etypes(g)[INTERACTS]
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(num):
        eids = torch.randint(g.num_edges(INTERACTS), (1024,), generator=gen).unique()
        u, i = g.find_edges(eids, etype=INTERACTS)
        out.append(({"user": torch.unique(u), "item": torch.unique(i)}, {INTERACTS: eids, rev: eids}))
    return out


def measure_sampler(g, work, max_in_edges, repeats, sampler=None, on_subgraph=None):
    """Median ms per subgraph, mean edges and nodes per subgraph, peak MiB of sampling, for
    ``DenseSubgraphSampler(2, 128, max_in_edges=...)`` (or ``sampler``) over ``repeats`` passes of
    ``work``; ``on_subgraph(sub)`` sees every subgraph (outside the timing)."""
    from hetrec.sampling import DenseSubgraphSampler

    sampler = sampler or DenseSubgraphSampler(2, 128, max_in_edges=max_in_edges)
    sampler.sample(g, *work[0])  # builds the per-graph arrays
    times, edges, nodes = [], [], []
    with PeakRSS() as peak:
        for _ in range(repeats):
            for seeds, exclude in work:
                t = time.perf_counter()
                _, _, sub = sampler.sample(g, seeds, exclude)
                times.append(time.perf_counter() - t)
                edges.append(sub.num_edges())
                nodes.append(sub.num_nodes())
                if on_subgraph is not None:
                    on_subgraph(sub)
    return 1000 * float(np.median(times)), float(np.mean(edges)), float(np.mean(nodes)), peak.mib


def measure_steps(split, max_in_edges, steps, warmup=2, **settings):

    from hetrec.models import create_model
    from hetrec.train import seed_everything

    gen = seed_everything(0, 1)
    from hetrec.train.optim import make_optimizer

    model = create_model("mthgt-sampled", max_in_edges=max_in_edges, **settings)
    model.setup(split)
    opt = make_optimizer(model, lr=5e-3)  # the trainer's: lazy Adam for sparse embedding tables
    batches = iter(model.train_batches(gen))
    times, mibs = [], []
    for i in range(warmup + steps):
        with PeakRSS() as peak:
            t = time.perf_counter()
            out = model.loss(next(batches))
            opt.zero_grad(set_to_none=True)
            out.loss.backward()
            opt.step()
            elapsed = time.perf_counter() - t
        if i >= warmup:
            times.append(elapsed)
            mibs.append(peak.mib)
    return model, float(np.median(times)), (float(np.median(mibs)) if None not in mibs else None)


def run_cell(interactions: float, args) -> dict:
    """Every measurement of one size, in this process."""
    import torch

    from hetrec.data import INTERACTS, kfold_split

    torch.set_num_threads(args.threads)
    row = {"interactions": int(interactions)}
    base = status_kib("VmRSS") / 1024  # the interpreter with torch and DGL loaded
    t = time.perf_counter()
    g = graph_of(interactions)
    row["build_s"] = time.perf_counter() - t
    row["edges"] = int(g.num_edges())
    row["nodes"] = int(g.num_nodes())
    row["rss_base_mib"] = base
    row["rss_graph_mib"] = status_kib("VmRSS") / 1024 - base
    t = time.perf_counter()
    split = kfold_split(g, k=5, seed=0)[0]
    row["split_s"] = time.perf_counter() - t
    train = split.train_graph
    del g
    work = sampler_batches(train, args.batches, seed=1)
    row["sample_ms"], row["sub_edges"], row["sub_nodes"], row["sample_batch_mib"] = measure_sampler(
        train, work, None, args.repeats)
    row["sample_ms_capped"], row["sub_edges_capped"], _, row["sample_batch_mib_capped"] = measure_sampler(
        train, work, IN_EDGES, args.repeats)
    _, row["step_s_capped"], row["step_mib_capped"] = measure_steps(split, IN_EDGES, args.steps)
    _, row["step_s_sparse"], row["step_mib_sparse"] = measure_steps(split, IN_EDGES, args.steps,
                                                                    sparse_embeddings=True)
    model, row["step_s"], row["step_mib"] = measure_steps(split, None, args.steps)
    model.eval()
    if row["edges"] <= args.max_infer_edges:
        with torch.no_grad():
            t = time.perf_counter()
            model.prepare_scoring()
            row["infer_s"] = time.perf_counter() - t
            users = torch.arange(min(1024, train.num_nodes("user")))
            t = time.perf_counter()
            torch.topk(model.scores(users), 20, dim=1)
            row["rank_s"] = time.perf_counter() - t
    else:
        row["infer_s"] = row["rank_s"] = None
        row["note"] = f"full-graph inference skipped above {args.max_infer_edges:.0e} edges"
    row["train_interactions"] = int(train.num_edges(INTERACTS))
    row["peak_mib"] = status_kib("VmHWM") / 1024 - base
    row["machine"] = machine()
    return row


def exponent(rows, key):
    """Least-squares slope of log(value) on log(edges), and the number of sizes used (None
    below three sizes)."""
    pts = [(r["edges"], r[key]) for r in rows if r.get(key) not in (None, "") and float(r[key]) > 0]
    if len(pts) < 3 or len({p[0] for p in pts}) < 3:
        return None, len(pts)
    x, y = np.log([p[0] for p in pts]), np.log([float(p[1]) for p in pts])
    return float(np.polyfit(x, y, 1)[0]), len(pts)


def fmt(v, spec=".3g"):
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def report(rows, out: Path) -> str:
    rows = sorted(rows, key=lambda r: r["edges"])
    cols = list(MEASURES)
    lines = [f"Machine: {rows[0]['machine'] if rows else machine()}", "",
             "| edges | " + " | ".join(MEASURES[c] for c in cols) + " |",
             "|---:|" + "---:|" * len(cols)]
    for r in rows:
        lines.append(f"| {r['edges']:,} | " + " | ".join(fmt(r.get(c)) for c in cols) + " |")
    lines += ["", "Growth exponent b in cost ∝ edges^b (least squares on the logs), over every size and over",
              "the three largest (where a bounded cost has reached its bound, b there is near 0):", "",
              "| measure | b, all sizes | sizes | b, three largest |", "|---|---:|---:|---:|"]
    fits = {}
    for c in cols:
        b, n = exponent(rows, c)
        top, _ = exponent([r for r in rows if r.get(c) not in (None, "")][-3:], c)
        fits[c] = b
        lines.append(f"| {MEASURES[c]} | {fmt(b, '.2f')} | {n} | {fmt(top, '.2f')} |")
    notes = sorted({r["note"] for r in rows if r.get("note")})
    if notes:
        lines += [""] + [f"- {n}" for n in notes]
    text = "\n".join(lines) + "\n"
    out.mkdir(parents=True, exist_ok=True)
    write_csv_atomically(rows, out / "scale.csv")
    from hetrec._io import atomic_write_text

    atomic_write_text(out / "scale.md", text)
    plot(rows, fits, out / "scale.png")
    return text


def plot(rows, fits, path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib not installed: no scale.png; pip install matplotlib)", file=sys.stderr)
        return False
    panels = [("build & memory (above the interpreter's)", ["build_s", "split_s", "rss_graph_mib", "peak_mib"]),
              ("per batch (fixed batch)", ["sample_ms", "sample_ms_capped", "step_s", "step_s_capped",
                                           "step_s_sparse", "step_mib", "step_mib_sparse", "sub_edges",
                                           "sub_edges_capped"]),
              ("evaluation", ["infer_s", "rank_s"])]
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.5))
    for ax, (title, keys) in zip(axes, panels):
        for k in keys:
            pts = [(r["edges"], float(r[k])) for r in rows if r.get(k) not in (None, "")]
            if not pts:
                continue
            x, y = zip(*pts)
            label = MEASURES[k] + (f" (b={fits[k]:.2f})" if fits.get(k) is not None else "")
            ax.loglog(x, y, marker="o", label=label)
        ax.set_title(title)
        ax.set_xlabel("graph edges")
        ax.legend(fontsize=7)
        ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    os.replace(tmp, path)
    return True


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help=f"sizes {QUICK_SIZES} only, fewer repeats")
    p.add_argument("--sizes", type=float, nargs="*", help="interaction counts (default: all sizes)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batches", type=int, default=6, help="sampler batches per size")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--steps", type=int, default=6, help="measured training steps per size and setting")
    p.add_argument("--max-infer-edges", type=float, default=2e7)
    p.add_argument("--timeout", type=float, default=3600, help="seconds per size")
    p.add_argument("--collect", action="store_true", help="only tabulate the finished cells")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "scale"))
    p.add_argument("--cell", type=float, help=argparse.SUPPRESS)  # internal: run one size here
    args = p.parse_args(argv)
    out = Path(args.out)
    if args.cell:
        print(json.dumps(run_cell(args.cell, args)))
        return
    sizes = args.sizes or (QUICK_SIZES if args.quick else SIZES)
    if args.quick:
        args.batches, args.repeats, args.steps = 4, 1, 4
    cell_args = ["--threads", str(args.threads), "--batches", str(args.batches), "--repeats", str(args.repeats),
                 "--steps", str(args.steps), "--max-infer-edges", str(args.max_infer_edges)]
    rows = run_cells(__file__, [] if args.collect else sizes, out / "cells", cell_args, args.timeout,
                     lambda r: f"{r['edges']:,} edges: build {r['build_s']:.1f} s, step {r['step_s']:.2f} s")
    if not rows:
        sys.exit("no finished cells")
    print(report(rows, out))


if __name__ == "__main__":
    main()
