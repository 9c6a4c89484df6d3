"""What the integrity checks (hetrec/_integrity.py) cost when a dataset is loaded and a run evaluated.

Loading: the cached graph is read (``MovieLens1M(root)`` with a warm cache); the checks are the
sha256 of the cache's ``.bin`` and the schema and digest of its ``.json``. Evaluating: ``hetrec
evaluate``'s work (``load_run``, ``load_fold_model``, the full-ranking test pass) on a run
trained here (BPR-MF, one short epoch, so the run folder is as a real run's: ``model.pt`` with
the embeddings of every user and item); the checks are the same cache checks, ``config.json``'s
schema and digest, ``model.pt``'s schema and tensor digest, and the fold's split fingerprint.
Each figure is the median of ``--repeats`` timings; each check is timed alone on the same files.

    python benchmarks/integrity_cost.py --dataset ml-1m --data-dir ../shared/data --threads 1
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("DGLBACKEND", "pytorch")

import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine  # noqa: E402

from hetrec import _integrity, _schemas  # noqa: E402
from hetrec.data import load_dataset  # noqa: E402
from hetrec.data.datasets import _file_sha256  # noqa: E402
from hetrec.train import TrainConfig  # noqa: E402
from hetrec.train import evaluate as evaluate_model  # noqa: E402
from hetrec.train.experiment import ExperimentConfig, fold_identity, run_experiment  # noqa: E402
from hetrec.train.runs import load_fold_model, load_run  # noqa: E402
from hetrec.train.trainer import split_fingerprint  # noqa: E402


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="ml-1m")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--run", default=None, help="Run folder to (re)use (default: a temporary one).")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    ds = load_dataset(args.dataset, root=args.data_dir)  # builds the cache when there is none
    stem = ds._cache_stem()
    info_path, bin_path = stem.with_suffix(".json"), stem.with_suffix(".bin")

    def cache_checks():
        doc = _integrity.parse_json(_integrity.read_file_text(info_path), info_path)
        _schemas.check(doc, _schemas.CACHE_INFO, info_path)
        _integrity.unseal(doc, info_path, ds._cache_identity())
        _file_sha256(bin_path)

    load_total = median_seconds(lambda: load_dataset(args.dataset, root=args.data_dir), args.repeats)
    load_checks = median_seconds(cache_checks, args.repeats)

    run_dir = Path(args.run or tempfile.mkdtemp(prefix="integrity-cost-")) / "run"
    if not (run_dir / "config.json").is_file():
        cfg = ExperimentConfig(dataset=args.dataset, model="bprmf", folds=[0], data_dir=args.data_dir,
                               train=TrainConfig(epochs=1, max_batches=20, num_threads=args.threads, progress=False))
        run_experiment(cfg, run_dir, dataset=ds, log=lambda m: None)
    model_path = run_dir / "fold-0" / "model.pt"

    def evaluate():
        cfg, data = load_run(run_dir)
        model, split = load_fold_model(run_dir, 0, cfg, data)
        evaluate_model(model, split.train + split.val, split.test, cfg.train.ns)

    cfg, data = load_run(run_dir)
    _, split = load_fold_model(run_dir, 0, cfg, data)

    def run_checks():
        cache_checks()
        ExperimentConfig.from_json((run_dir / "config.json").read_text(), run_dir / "config.json", file=True)
        _integrity.load_pt(model_path, _schemas.MODEL_FILE, fold_identity(cfg, 0))
        split_fingerprint(split)

    def model_read_only():  # torch.load alone: what reading model.pt costs without the checks
        _integrity.load_pt_raw(model_path)

    eval_total = median_seconds(evaluate, args.repeats)
    eval_checks = median_seconds(run_checks, args.repeats) - median_seconds(model_read_only, args.repeats)

    print(f"machine: {machine()}")
    print(f"{args.dataset}: cache {bin_path.stat().st_size / 2**20:.1f} MiB; model.pt "
          f"{model_path.stat().st_size / 2**20:.1f} MiB; median of {args.repeats}")
    print(f"load (cached graph):  {load_total * 1e3:8.1f} ms, of which checks {load_checks * 1e3:7.1f} ms "
          f"({100 * load_checks / load_total:.1f} %)")
    print(f"evaluate (1 fold):    {eval_total * 1e3:8.1f} ms, of which checks {eval_checks * 1e3:7.1f} ms "
          f"({100 * eval_checks / eval_total:.1f} %)")


if __name__ == "__main__":
    main()
