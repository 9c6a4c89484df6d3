"""Distributed BPR-MF, LightGCN and MTHGT over 127.0.0.1 (:func:`hetrec.distributed.train_distributed`):
wall time of an epoch's training, of a validation, and of the whole run, the loss and the test
NDCG@10, with 1 partition (1 server, 1 trainer) and 2 partitions (2 servers, 2 trainers) of the
same synthetic fold, next to the same model trained by hetrec's single-machine ``Trainer``.

    python benchmarks/dist_train.py                          # 20,000 interactions, 10 epochs
    python benchmarks/dist_train.py --interactions 2000 --epochs 20 --models lightgcn
    python benchmarks/dist_train.py --models mthgt-sampled,hgt --lr 0.005 --out benchmarks/results/dist_train_mthgt.csv

A model name of :data:`hetrec.distributed.mthgt.PRESETS` (``mthgt-sampled``, ``hgt``, ``hgt-d``,
``hgt-m``) trains ``model="mthgt"`` with that preset, its ``hidden_size`` set to d and its
``batch_size`` to ``--batch-size`` (interactions per step); every other setting is the preset's.

The graph is ``hetrec.data.synthetic`` (interactions/15 users, interactions/10 items, popularity
exponent 0.5, seed 1), fold 0 of a 5-fold split (seed 0), partitioned at random. Every epoch is
validated and none is stopped early (patience = epochs); the test NDCG@10 is the best validation
epoch's, as for the single-machine ``Trainer`` run with the same epochs, lr, batch size and d
(patience = epochs). "run s" covers starting the processes (each imports torch and DGL), DGL's
connections, training, validations, and the test. Each process runs one torch thread. Writes
``benchmarks/results/dist_train.csv`` and prints a Markdown table.
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


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--interactions", type=int, default=20000)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--lr", type=float, default=0.002)
    p.add_argument("--num-layers", type=int, default=3, help="LightGCN's K")
    p.add_argument("--models", default="bprmf,lightgcn",
                   help="comma-separated: bprmf, lightgcn, or an MTHGT preset (mthgt-sampled, hgt, hgt-d, hgt-m)")
    p.add_argument("--setups", default="1x1,2x2", help="partitions x trainers, comma-separated")
    p.add_argument("--out", default="benchmarks/results/dist_train.csv")
    args = p.parse_args(argv)
    os.environ.setdefault("DGLBACKEND", "pytorch")
    import numpy as np
    import torch

    from hetrec.data import kfold_split, synthetic
    from hetrec.distributed import DIST_MODELS, DistMTHGTConfig, partition_fold, train_distributed
    from hetrec.distributed.mthgt import PRESETS
    from hetrec.eval import topn_metrics
    from hetrec.models import create_model
    from hetrec.train import TrainConfig, Trainer

    torch.set_num_threads(1)
    n = args.interactions
    g = synthetic(num_users=n // 15, num_items=n // 10, num_interactions=n, exponent=0.5, seed=1)
    splits = kfold_split(g, k=5, seed=0)
    split = splits[0]
    popularity = np.asarray(split.train.sum(0)).ravel().astype(np.float32)
    most_pop = topn_metrics(scores=np.tile(popularity, (split.train.shape[0], 1)), exclude=[split.train, split.val],
                            test=split.test, ns=(10,))["NDCG@10"]
    rows = []
    for model in args.models.split(","):
        layers = {"num_layers": args.num_layers} if model == "lightgcn" else {}
        if model in PRESETS:  # MTHGT: the preset's settings, d and the batch size set
            overrides = {"hidden_size": 64, "batch_size": args.batch_size}
            config = DistMTHGTConfig(preset=model, overrides=overrides, lr=args.lr, epochs=args.epochs,
                                     patience=args.epochs)
            layers = {"num_layers": config.model_config().num_layers}
            one = create_model(model, **overrides)
        else:
            config = DIST_MODELS[model](embedding_size=64, batch_size=args.batch_size, lr=args.lr, epochs=args.epochs,
                                        patience=args.epochs, **layers)
            one = create_model(model, embedding_size=64, batch_size=args.batch_size, **layers)
        one.setup(split)
        t0 = time.perf_counter()
        fit = Trainer(TrainConfig(epochs=args.epochs, lr=args.lr, patience=args.epochs, seed=0, num_threads=1,
                                  progress=False), log=lambda m: None).fit(one, split)
        one_s = time.perf_counter() - t0
        for setup in args.setups.split(","):
            parts, trainers = (int(x) for x in setup.split("x"))
            with tempfile.TemporaryDirectory() as tmp:
                partition_fold(splits, 0, parts, Path(tmp) / "parts", method="random", seed=0)
                r = train_distributed(Path(tmp) / "parts", config.model, num_trainers=trainers, config=config,
                                      timeout_s=1800)
            row = {"model": model, "interactions": n, "train_interactions": split.train.nnz, "partitions": parts,
                   "trainers": trainers, "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
                   "num_layers": layers.get("num_layers", ""), "steps_per_epoch": r["steps_per_epoch"],
                   "epoch_s_median": round(float(np.median(r["epoch_seconds"])), 3),
                   "eval_s_median": round(float(np.median([h["eval_seconds"] for h in r["history"]])), 3),
                   "run_s": round(r["seconds"], 1), "loss_first": round(r["loss"][0], 4),
                   "loss_last": round(r["loss"][-1], 4), "best_epoch": r["best_epoch"],
                   "test_ndcg10": round(r["test"]["NDCG@10"], 4),
                   "one_machine_ndcg10": round(fit.test["NDCG@10"], 4), "one_machine_best_epoch": fit.best_epoch,
                   "one_machine_s": round(one_s, 1), "mostpop_ndcg10": round(most_pop, 4), "machine": machine()}
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
    write_csv_atomically(rows, args.out)
    print(f"machine: {machine()}\n")
    print("| model | partitions (servers) | trainers | steps / epoch | epoch s (median) | validation s (median) "
          "| run s | loss first → last | best epoch | test NDCG@10 | one machine: NDCG@10 (best epoch, run s) "
          "| MostPop NDCG@10 |")
    print("|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---|---:|")
    for r in rows:
        print(f"| {r['model']} | {r['partitions']} | {r['trainers']} | {r['steps_per_epoch']} | {r['epoch_s_median']} "
              f"| {r['eval_s_median']} | {r['run_s']} | {r['loss_first']} → {r['loss_last']} | {r['best_epoch']} "
              f"| {r['test_ndcg10']} | {r['one_machine_ndcg10']} ({r['one_machine_best_epoch']}, {r['one_machine_s']}) "
              f"| {r['mostpop_ndcg10']} |")


if __name__ == "__main__":
    main()
