"""Dataset loading cost: wall time and peak memory of the first (uncached: parse, verify, build,
write the cache) and of later (cached) loads, each in a fresh process.

    python benchmarks/load.py --data-dir ../shared/data                    # both datasets, 3 cached loads each
    python benchmarks/load.py --data-dir ../shared/data --datasets ml-1m

Each measurement runs ``python -c 'load the dataset'`` in a new process with its own empty (first
load) or filled (later loads) cache folder and reports the child's wall time and peak resident
memory (``ru_maxrss``), so imports are included and nothing is shared between measurements.
Writes ``benchmarks/results/load.csv`` and prints a Markdown table.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_csv_atomically  # noqa: E402

CHILD = """
import json, resource, sys, time
t0 = time.perf_counter()
import torch
torch.set_num_threads(1)
t1 = time.perf_counter()
from hetrec.data import load_dataset
ds = load_dataset(sys.argv[1], root=sys.argv[2] or None)
t2 = time.perf_counter()
g = ds.graph
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "edges": int(g.num_edges()), "verified": ds.verified,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def measure(dataset: str, data_dir: str, cache: Path) -> dict:
    env = dict(os.environ, HETREC_CACHE=str(cache), OMP_NUM_THREADS="1", DGLBACKEND="pytorch")
    out = subprocess.run([sys.executable, "-c", CHILD, dataset, data_dir or ""], env=env, check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--datasets", default="lastfm,ml-1m")
    p.add_argument("--repeats", type=int, default=3, help="cached loads per dataset")
    p.add_argument("--out", default="benchmarks/results/load.csv")
    args = p.parse_args(argv)
    rows = []
    for name in args.datasets.split(","):
        with tempfile.TemporaryDirectory() as cache:
            for i in range(args.repeats + 1):
                r = measure(name, args.data_dir, Path(cache))
                rows.append({"dataset": name, "load": "first (uncached)" if i == 0 else f"cached #{i}",
                             "load_s": round(r["load_s"], 2), "import_s": round(r["import_s"], 2),
                             "peak_rss_mib": round(r["peak_rss_mib"]), "edges": r["edges"],
                             "verified": r["verified"], "machine": machine()})
                print(json.dumps(rows[-1]), file=sys.stderr)
    write_csv_atomically(rows, args.out)
    print(f"machine: {machine()}\n")
    print("| dataset | load | load s | peak RSS MiB (whole process) | edges |")
    print("|---|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['dataset']} | {r['load']} | {r['load_s']} | {r['peak_rss_mib']} | {r['edges']:,} |")


if __name__ == "__main__":
    main()
