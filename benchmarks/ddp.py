"""Data-parallel training against one process on the same cores: epoch time of
``--nproc 2 --threads 1`` and ``--nproc 1 --threads 2`` (Last.FM fold 0 by default).

    python benchmarks/ddp.py --data-dir ../shared/data                         # lightgcn and mthgt, 2 epochs
    python benchmarks/ddp.py --data-dir ../shared/data --models bprmf --epochs 3

Each setting is one ``hetrec train`` in a fresh process and a temporary run folder; the table
reports the median training seconds per epoch from its ``log.jsonl`` (the first epoch
included: the runs are short) and the validation NDCG@10 after the last epoch. Run it on an
otherwise idle machine. Writes ``benchmarks/results/ddp.csv``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_csv_atomically  # noqa: E402

SETTINGS = [("1 process x 2 threads", 1, 2), ("2 processes x 1 thread", 2, 1)]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--dataset", default="lastfm", choices=["lastfm", "ml-1m"])
    p.add_argument("--models", default="lightgcn,mthgt")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--out", default="benchmarks/results/ddp.csv")
    args = p.parse_args(argv)
    rows = []
    for model in args.models.split(","):
        for label, nproc, threads in SETTINGS:
            with tempfile.TemporaryDirectory() as tmp:
                cmd = [sys.executable, "-m", "hetrec.cli", "train", "--dataset", args.dataset, "--model", model,
                       "--epochs", str(args.epochs), "--patience", str(args.epochs + 1), "--threads", str(threads),
                       "--nproc", str(nproc), "--out", os.path.join(tmp, "run")]
                if args.data_dir:
                    cmd += ["--data-dir", args.data_dir]
                subprocess.run(cmd, check=True, capture_output=True, text=True)
                log = [json.loads(x) for x in Path(tmp, "run", "fold-0", "log.jsonl").read_text().splitlines()]
            rows.append({"model": model, "setting": label, "nproc": nproc, "threads": threads,
                         "epoch_s_median": round(statistics.median(r["train_seconds"] for r in log), 2),
                         "step_s_median": round(statistics.median(r["step_seconds_median"] for r in log), 4),
                         "batches_per_rank": log[0]["batches"], "val_NDCG@10": round(log[-1]["val"]["NDCG@10"], 4),
                         "machine": machine()})
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    write_csv_atomically(rows, args.out)
    print(f"machine: {machine()}; {args.dataset} fold 0, {args.epochs} epochs\n")
    print("| model | setting | epoch s (median) | step s (median) | batches per rank | val NDCG@10 |")
    print("|---|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['setting']} | {r['epoch_s_median']} | {r['step_s_median']} | "
              f"{r['batches_per_rank']} | {r['val_NDCG@10']} |")


if __name__ == "__main__":
    main()
