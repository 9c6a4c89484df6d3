"""What ``max_in_edges`` does to dense subgraphs on real and synthetic graphs: edges kept, nodes
whose in-edges are cut, and sampling time, for each cap.

    python benchmarks/max_in_edges.py --data-dir ../shared/data            # Last.FM, ML-1M, synthetic 1e5..1e7
    python benchmarks/max_in_edges.py --sizes 1e5 1e6                      # other synthetic sizes

Batches as in benchmarks/sampler.py (1,024 training interactions of fold 0, endpoints as seeds,
the interactions and their reverses excluded), ``DenseSubgraphSampler(2, 128)``. Writes a Markdown
table to stdout and benchmarks/results/max_in_edges.csv. The numbers decide the default of
``max_in_edges`` (docs/scale.md).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("DGLBACKEND", "pytorch")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_csv_atomically  # noqa: E402
from scale import graph_of, measure_sampler, sampler_batches  # noqa: E402

from hetrec.data import kfold_split, load_dataset  # noqa: E402
from hetrec.sampling import DenseSubgraphSampler  # noqa: E402

CAPS = [None, 128, 64, 32, 16]


def graphs(args):
    if args.data_dir:
        for name in ("lastfm", "ml-1m"):
            yield name, load_dataset(name, root=args.data_dir).graph
    for n in args.sizes:
        yield f"synthetic {n:.0e}", graph_of(n)


def study(name, g, batches, repeats):
    train = kfold_split(g, k=5, seed=0)[0].train_graph
    work = sampler_batches(train, batches, seed=1)
    rows, full, degrees = [], None, []
    for cap in CAPS:
        sampler = DenseSubgraphSampler(2, 128, max_in_edges=cap, generator=torch.Generator().manual_seed(0))

        def in_degrees(sub, cap=cap):  # in-degrees per relation of the exact subgraphs
            if cap is None:
                degrees.append((np.concatenate([sub.in_degrees(etype=e).numpy() for e in sub.canonical_etypes]),
                                sub.num_nodes()))

        ms, mean_edges, _, _ = measure_sampler(train, work, cap, repeats, sampler=sampler, on_subgraph=in_degrees)
        # (node, relation) pairs of the exact subgraphs whose in-edges the cap cuts, per node
        capped_nodes = [int((d > cap).sum()) / n for d, n in degrees] if cap is not None else []
        full = mean_edges if cap is None else full
        rows.append({"graph": name, "graph_edges": train.num_edges(), "max_in_edges": cap or "none",
                     "ms_per_subgraph": ms, "subgraph_edges": mean_edges,
                     "edges_kept": mean_edges / full,
                     "node_relations_capped": float(np.mean(capped_nodes)) if capped_nodes else 0.0})
        print(f"{name} cap {cap}: {rows[-1]}", file=sys.stderr, flush=True)
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", default=os.environ.get("HETREC_DATA"))
    p.add_argument("--sizes", type=float, nargs="*", default=[1e5, 1e6, 1e7])
    p.add_argument("--batches", type=int, default=4)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "max_in_edges.csv"))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    for name, g in graphs(args):
        rows += study(name, g, args.batches, args.repeats)
        del g
    print(f"Machine: {machine()}\n")
    print("| graph | graph edges | max_in_edges | ms/subgraph | subgraph edges | edges kept | (node, relation) pairs cut per node |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['graph']} | {r['graph_edges']:,} | {r['max_in_edges']} | {r['ms_per_subgraph']:.1f} | "
              f"{r['subgraph_edges']:,.0f} | {100 * r['edges_kept']:.1f}% | {r['node_relations_capped']:.3f} |")
    write_csv_atomically([{**r, "machine": machine()} for r in rows], args.out)


if __name__ == "__main__":
    main()
