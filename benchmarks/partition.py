"""Partitioning cost: wall time, folder size, edge cut and balance of ``hetrec partition`` on the
real datasets (fold 0 of the 5-fold split, seed 0), into 2 and 4 parts, with METIS and random.

    python benchmarks/partition.py --data-dir ../shared/data                  # both datasets
    python benchmarks/partition.py --data-dir ../shared/data --datasets lastfm --parts 2,4,8

Each cell runs :func:`hetrec.distributed.partition_fold` into a fresh temporary folder (deleted
afterwards); the time covers building the fold's training graph, DGL's partitioning, the id
maps, the held-out file, the checksums and the writes, not loading the dataset. A partitioning
that DGL 2.1 cannot do is a row with the reason. Writes ``benchmarks/results/partition.csv`` and
prints a Markdown table.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_csv_atomically  # noqa: E402


def measure(splits, num_parts: int, method: str) -> dict:
    from hetrec.distributed import PartitionError, partition_fold

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        try:
            meta = partition_fold(splits, 0, num_parts, Path(tmp) / "parts", method=method)
        except PartitionError as err:
            return {"status": f"refused: {str(err).split(':')[0]}"}
        seconds = time.perf_counter() - t0
    owned = [sum(p["edges"].values()) for p in meta["parts"]]
    return {"status": "ok", "method_used": meta["method"], "seconds": round(seconds, 2),
            "mib": round(meta["bytes"] / 2**20, 1), "edges": meta["edges"],
            "cut_share": round(meta["cut_edges"] / meta["edges"], 3),
            "max_owned_edges_over_mean": round(max(owned) / (sum(owned) / len(owned)), 2),
            "random_seed": meta["random_seed"]}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--datasets", default="lastfm,ml-1m")
    p.add_argument("--parts", default="2,4")
    p.add_argument("--methods", default="metis,random")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument("--out", default="benchmarks/results/partition.csv")
    args = p.parse_args(argv)
    os.environ.setdefault("DGLBACKEND", "pytorch")
    import torch

    from hetrec.data import kfold_split, load_dataset

    torch.set_num_threads(args.threads)
    rows = []
    for name in args.datasets.split(","):
        ds = load_dataset(name, root=args.data_dir)
        splits = kfold_split(ds.graph, k=5, seed=0)
        for parts in (int(x) for x in args.parts.split(",")):
            for method in args.methods.split(","):
                row = {"dataset": name, "parts": parts, "method": method, **measure(splits, parts, method),
                       "machine": machine()}
                rows.append(row)
                print(json.dumps(row), file=sys.stderr)
    write_csv_atomically(rows, args.out)
    print(f"machine: {machine()}\n")
    print("| dataset | parts | method | time s | folder MiB | edges cut | most owned edges / mean |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for r in rows:
        if r["status"] != "ok":
            print(f"| {r['dataset']} | {r['parts']} | {r['method']} | {r['status']} | | | |")
            continue
        print(f"| {r['dataset']} | {r['parts']} | {r['method']} | {r['seconds']} | {r['mib']} | "
              f"{100 * r['cut_share']:.1f} % | {r['max_owned_edges_over_mean']} |")


if __name__ == "__main__":
    main()
