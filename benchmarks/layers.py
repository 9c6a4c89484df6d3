"""Forward+backward time of hetrec.nn.HGTLayer against dgl.nn.HGTConv on the same work.

Both layers get the same random heterograph (HGTConv runs on ``dgl.to_homogeneous`` of it,
with ``presorted`` off and on), hidden size 64, 4 heads, dropout 0.2, training mode. Runs are
interleaved round-robin so that load from other processes hits every layer alike; the table
reports the median per layer and the ratio HGTConv / HGTLayer from the same run (> 1 means
HGTLayer is faster).

    python benchmarks/layers.py            # 2 threads, 7 repeats per layer and graph
    python benchmarks/layers.py --quick    # 3 repeats, for a smoke check

Prints a Markdown table and writes ``benchmarks/results/layers.csv``.
"""
import argparse
import os
import statistics
import time

import dgl
import torch
from _common import machine, write_csv_atomically  # noqa: E402
from dgl.nn import HGTConv

from hetrec.nn import HGTLayer

HIDDEN, HEADS = 64, 4

# name -> (nodes per type, relations as (src, name, dst), edges per relation)
GRAPHS = {
    "2 types, 4 relations (issue spec)": (
        {"a": 10_000, "b": 10_000},
        [("a", "ab", "b"), ("b", "ba", "a"), ("a", "aa", "a"), ("b", "bb", "b")],
        100_000,
    ),
    "3 types, 6 relations": (
        {"user": 8_000, "item": 8_000, "tag": 4_000},
        [("user", "interacts", "item"), ("item", "interacted_by", "user"),
         ("user", "friend", "user"), ("item", "tagged", "tag"),
         ("tag", "tags", "item"), ("user", "uses", "tag")],
        400_000 // 6,
    ),
    "Last.FM-like subgraph: 3 types, 10 relations": (
        {"user": 950, "item": 1_000, "tag": 400},
        [("user", "interacts", "item"), ("item", "interacted_by", "user"),
         ("user", "friend", "user"), ("item", "tagged", "tag"), ("tag", "tags", "item"),
         ("user", "uses", "tag"), ("tag", "used_by", "user"), ("user", "tag_item", "item"),
         ("item", "item_user", "user"), ("tag", "cooccurs", "tag")],
        11_700,
    ),
}


def random_heterograph(num_nodes, relations, edges_per_relation, seed=0):
    gen = torch.Generator().manual_seed(seed)
    data = {
        (s, r, d): (
            torch.randint(0, num_nodes[s], (edges_per_relation,), generator=gen),
            torch.randint(0, num_nodes[d], (edges_per_relation,), generator=gen),
        )
        for s, r, d in relations
    }
    return dgl.heterograph(data, num_nodes_dict=num_nodes)


def make_runners(g, seed=0):
    """One closure per layer, each doing one forward and one backward on the same graph."""
    torch.manual_seed(seed)
    feats = {t: torch.randn(g.num_nodes(t), HIDDEN) for t in g.ntypes}
    ours = HGTLayer(HIDDEN, HIDDEN, g.ntypes, g.canonical_etypes, num_heads=HEADS).train()

    hg = dgl.to_homogeneous(g)  # nodes and edges sorted by type
    x = torch.cat([feats[t] for t in g.ntypes])
    ntype, etype = hg.ndata[dgl.NTYPE], hg.edata[dgl.ETYPE]
    conv = HGTConv(HIDDEN, HIDDEN // HEADS, HEADS, len(g.ntypes), len(g.canonical_etypes)).train()

    def run_ours():
        out = ours(g, feats)
        sum(y.sum() for y in out.values()).backward()

    def run_conv(presorted):
        def run():
            conv(hg, x, ntype, etype, presorted=presorted).sum().backward()
        return run

    return {
        "hetrec HGTLayer": run_ours,
        "dgl HGTConv (presorted=False)": run_conv(False),
        "dgl HGTConv (presorted=True)": run_conv(True),
    }


def time_interleaved(runners, repeats):
    times = {name: [] for name in runners}
    for run in runners.values():  # warm-up: allocations, lazy graph formats
        run()
    for _ in range(repeats):
        for name, run in runners.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats instead of 7")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "layers.csv"))
    args = parser.parse_args()
    repeats = args.repeats or (3 if args.quick else 7)
    torch.set_num_threads(args.threads)

    machine_text = machine()
    print(f"Machine: {machine_text}")
    print(f"hidden {HIDDEN}, {HEADS} heads, forward+backward, median of {repeats} interleaved runs\n")
    rows = []
    for graph_name, (num_nodes, relations, per_rel) in GRAPHS.items():
        g = random_heterograph(num_nodes, relations, per_rel)
        medians = time_interleaved(make_runners(g), repeats)
        ours = medians["hetrec HGTLayer"]
        for layer, seconds in medians.items():
            rows.append({
                "graph": graph_name,
                "nodes": g.num_nodes(),
                "edges": g.num_edges(),
                "node_types": len(g.ntypes),
                "relations": len(g.canonical_etypes),
                "layer": layer,
                "median_ms": round(seconds * 1e3, 1),
                "ratio_to_hetrec": round(seconds / ours, 2),
                "repeats": repeats,
                "threads": args.threads,
                "machine": machine_text,
            })

    print("| graph | nodes | edges | layer | median fwd+bwd (ms) | time / HGTLayer time |")
    print("|---|---:|---:|---|---:|---:|")
    for r in rows:
        print(f"| {r['graph']} | {r['nodes']:,} | {r['edges']:,} | {r['layer']} | "
              f"{r['median_ms']:.1f} | {r['ratio_to_hetrec']:.2f} |")
    write_csv_atomically(rows, args.out)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
