"""Distributed BPR-MF over 127.0.0.1 (:func:`hetrec.distributed.train_bprmf_distributed`): wall time
of an epoch and of the whole run, the loss and the test NDCG@10, with 1 partition (1 server, 1
trainer) and 2 partitions (2 servers, 2 trainers) of the same synthetic fold.

    python benchmarks/dist_train.py                          # 20,000 interactions, 10 epochs
    python benchmarks/dist_train.py --interactions 2000 --epochs 20

The graph is ``hetrec.data.synthetic`` (interactions/15 users, interactions/10 items, popularity
exponent 0.5, seed 1), fold 0 of a 5-fold split (seed 0), partitioned at random. "run s" covers
starting the processes (each imports torch and DGL), DGL's connections, training, reading the
tables back and the evaluation. Each process runs one torch thread. Writes ``benchmarks/results/dist_train.csv`` and prints a
Markdown table.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_csv_atomically  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--interactions", type=int, default=20000)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--lr", type=float, default=0.002)
    p.add_argument("--setups", default="1x1,2x2", help="partitions x trainers, comma-separated")
    p.add_argument("--out", default="benchmarks/results/dist_train.csv")
    args = p.parse_args(argv)
    os.environ.setdefault("DGLBACKEND", "pytorch")
    import numpy as np

    from hetrec.data import kfold_split, synthetic
    from hetrec.distributed import DistBPRConfig, partition_fold, train_bprmf_distributed
    from hetrec.eval import topn_metrics

    n = args.interactions
    g = synthetic(num_users=n // 15, num_items=n // 10, num_interactions=n, exponent=0.5, seed=1)
    splits = kfold_split(g, k=5, seed=0)
    config = DistBPRConfig(embedding_size=64, batch_size=args.batch_size, lr=args.lr, epochs=args.epochs)
    split = splits[0]
    popularity = np.asarray(split.train.sum(0)).ravel().astype(np.float32)
    most_pop = topn_metrics(scores=np.tile(popularity, (split.train.shape[0], 1)), exclude=[split.train, split.val],
                            test=split.test, ns=(10,))["NDCG@10"]
    rows = []
    for setup in args.setups.split(","):
        parts, trainers = (int(x) for x in setup.split("x"))
        with tempfile.TemporaryDirectory() as tmp:
            partition_fold(splits, 0, parts, Path(tmp) / "parts", method="random", seed=0)
            r = train_bprmf_distributed(Path(tmp) / "parts", num_trainers=trainers, config=config, timeout_s=600)
        row = {"interactions": n, "train_interactions": splits[0].train.nnz, "partitions": parts,
               "trainers": trainers, "epochs": args.epochs, "batch_size": args.batch_size,
               "steps_per_epoch": r["steps_per_epoch"],
               "epoch_s_median": round(float(np.median(r["epoch_seconds"])), 3), "run_s": round(r["seconds"], 1),
               "loss_first": round(r["loss"][0], 4), "loss_last": round(r["loss"][-1], 4),
               "test_ndcg10": round(r["test"]["NDCG@10"], 4),
               "mostpop_ndcg10": round(most_pop, 4), "machine": machine()}
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
    write_csv_atomically(rows, args.out)
    print(f"machine: {machine()}\n")
    print("| partitions (servers) | trainers | steps / epoch | epoch s (median) | run s | loss first → last "
          "| test NDCG@10 | MostPop NDCG@10 |")
    print("|---:|---:|---:|---:|---:|---|---:|---:|")
    for r in rows:
        print(f"| {r['partitions']} | {r['trainers']} | {r['steps_per_epoch']} | {r['epoch_s_median']} | {r['run_s']} | "
              f"{r['loss_first']} → {r['loss_last']} | {r['test_ndcg10']} | {r['mostpop_ndcg10']} |")


if __name__ == "__main__":
    main()
