"""GPU check: every model trained for a few batches on the CPU and on a GPU from the same seed;
losses and validation metrics must agree, and step, epoch and evaluation times are printed.

Run on a CUDA machine, unchanged (after ``pip install -e .`` and DGL's CUDA wheel, README):

    python benchmarks/gpu_check.py --data-dir ../shared/data               # Last.FM fold 0, every model
    python benchmarks/gpu_check.py --synthetic                             # no data files needed
    python benchmarks/gpu_check.py --devices cpu,cpu --synthetic --models bprmf   # the check itself, CPU only

Agreement (stated tolerances): the mean training loss of the epoch within ``--loss-rtol``
(relative, default 1e-3: float32 sums in another order, cuSPARSE / cuBLAS reductions) and every
validation metric within ``--metric-atol`` (absolute, default 0.01: near-ties in the ranking may
swap). Exit status 1 when any model disagrees, 2 when the second device is unavailable.
Writes ``benchmarks/results/gpu_check.csv``.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("DGLBACKEND", "pytorch")

import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_csv_atomically  # noqa: E402

from hetrec.data import kfold_split, load_dataset, synthetic  # noqa: E402
from hetrec.models import MODELS, create_model, training_settings  # noqa: E402
from hetrec.train import TrainConfig, Trainer, resolve_device  # noqa: E402

DEFAULT_MODELS = ["mostpop", "itemknn", "bprmf", "lightgcn", "lightgcn-softmax", "ngcf", "hin2vec", "pinsage",
                  "mthgt", "mthgt-minibatch", "mthgt-dm-mb", "hgt", "hgt-d", "hgt-m", "mthgt-sampled"]


def run_one(name, split, device, args) -> dict:
    settings = training_settings(name)
    cfg = TrainConfig(seed=args.seed, progress=False, max_batches=args.max_batches,
                      **{**settings, "epochs": 1, "patience": 1})
    model = create_model(name)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    result = Trainer(cfg, log=lambda m: None, device=device).fit(model, split, evaluate_test=False)
    wall = time.perf_counter() - t0
    h = result.history[0] if result.history else {}
    return {"loss": h.get("loss"), "val": result.val, "step_s": h.get("step_seconds_median", 0.0),
            "epoch_s": h.get("train_seconds", 0.0), "eval_s": h.get("eval_seconds", wall), "batches": h.get("batches", 0)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--dataset", default="lastfm", choices=["lastfm", "ml-1m"])
    p.add_argument("--synthetic", action="store_true", help="a synthetic graph instead of a dataset")
    p.add_argument("--models", default=",".join(DEFAULT_MODELS))
    p.add_argument("--devices", default="cpu,cuda", help="the two devices compared")
    p.add_argument("--max-batches", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    p.add_argument("--loss-rtol", type=float, default=1e-3)
    p.add_argument("--metric-atol", type=float, default=0.01)
    p.add_argument("--out", default="benchmarks/results/gpu_check.csv")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        devices = [resolve_device(d) for d in args.devices.split(",")]
    except ValueError as err:
        print(f"gpu_check: {err}", file=sys.stderr)
        return 2
    if args.synthetic:
        g = synthetic(num_users=500, num_items=800, num_interactions=20000, num_tags=50, seed=args.seed)
    else:
        g = load_dataset(args.dataset, root=args.data_dir).graph
    split = kfold_split(g, k=5, seed=args.seed)[0]
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in names if m not in MODELS]
    if unknown:
        print(f"gpu_check: unknown models {unknown}", file=sys.stderr)
        return 2
    print(f"machine: {machine()}; devices {', '.join(map(str, devices))}"
          + (f" ({torch.cuda.get_device_name(devices[1])})" if devices[1].type == "cuda" else ""))
    print(f"data: {'synthetic' if args.synthetic else args.dataset} fold 0, {args.max_batches} batches per model\n")
    print(f"| model | loss {devices[0]} | loss {devices[1]} | max |Δ metric| | step s {devices[0]} | step s {devices[1]} "
          f"| epoch s {devices[0]} | epoch s {devices[1]} | eval s {devices[0]} | eval s {devices[1]} | agree |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    rows, failed = [], []
    for name in names:
        a, b = (run_one(name, split, d, args) for d in devices)
        dm = max(abs(a["val"][k] - b["val"][k]) for k in a["val"] if k != "num_users")
        loss_ok = a["loss"] is None or abs(a["loss"] - b["loss"]) <= args.loss_rtol * max(abs(a["loss"]), 1e-12)
        ok = loss_ok and dm <= args.metric_atol
        if not ok:
            failed.append(name)
        fmt = (lambda x: "–" if x is None else f"{x:.6f}")
        print(f"| {name} | {fmt(a['loss'])} | {fmt(b['loss'])} | {dm:.4f} | {a['step_s']:.4f} | {b['step_s']:.4f} | "
              f"{a['epoch_s']:.2f} | {b['epoch_s']:.2f} | {a['eval_s']:.2f} | {b['eval_s']:.2f} | {'yes' if ok else 'NO'} |",
              flush=True)
        rows.append({"model": name, "device_a": str(devices[0]), "device_b": str(devices[1]), "loss_a": a["loss"],
                     "loss_b": b["loss"], "max_metric_diff": dm, "step_s_a": a["step_s"], "step_s_b": b["step_s"],
                     "epoch_s_a": a["epoch_s"], "epoch_s_b": b["epoch_s"], "eval_s_a": a["eval_s"],
                     "eval_s_b": b["eval_s"], "agree": ok, "machine": machine()})
    write_csv_atomically(rows, args.out)
    if failed:
        print(f"\nDISAGREE: {', '.join(failed)}", file=sys.stderr)
        return 1
    print(f"\nall {len(names)} models agree (loss rtol {args.loss_rtol}, metric atol {args.metric_atol})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
