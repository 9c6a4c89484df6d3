"""Serving throughput (docs/serving.md): top-k for every user of a trained run, written to a
file, against the floor of the bare score matmul + ``torch.topk``; exact vs FAISS approximate
top-k (users per second, recall@k of the approximate lists against the exact ones).

Train the runs first (fold 0 of ML-1M; BPR-MF for the embedding rows, EASE for an item-item model):

    hetrec train --dataset ml-1m --model bprmf --fold 0 --epochs 30 --threads 1 --out /tmp/serve-bench/ml1m-bprmf
    hetrec train --dataset ml-1m --model ease --fold 0 --threads 1 --out /tmp/serve-bench/ml1m-ease
    python benchmarks/serving.py --run /tmp/serve-bench/ml1m-bprmf --run /tmp/serve-bench/ml1m-ease

Rows, all for every user of the run's dataset and one torch / FAISS thread (median of
``--repeats`` after a warm-up):

* ``floor``: the model's scores of all users (``U @ I.T`` for an embedding model; EASE's
  ``X @ B``) and ``torch.topk``, nothing else: no masking, no ids, no file;
* ``recommend`` / ``recommend+csv`` / ``recommend+parquet``: :meth:`hetrec.serve.ServedRun.recommend`
  (chunked scores, seen items masked, top-k, raw ids and names), alone and with the file written
  (the target: at most 2x the floor);
* ``cli``: the whole ``hetrec recommend --all-users --output`` process, start and data load included;
* ``faiss-flat`` / ``faiss-hnsw``: search of every user's vector in an exact ``IndexFlatIP`` and
  an ``IndexHNSWFlat`` (inner product) of the item vectors, no masking; recall@k of each against
  the exact top-k of ``U @ I.T`` (the target: HNSW recall@10 >= 0.95). Index build time apart.

Writes ``benchmarks/results/serving/serving.csv`` and ``serving.md``.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _common import machine, write_csv_atomically  # noqa: E402

import hetrec
from hetrec.serve import build_faiss_index, write_table

REPO = Path(__file__).resolve().parents[1]


def median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def floor_fn(served, k):
    """The bare scores of every user and torch.topk."""
    model = served.model
    users = torch.arange(len(served.user_ids))
    if served.has_embeddings():
        u, i = (torch.from_numpy(a) for a in served.embeddings())
        return lambda: torch.topk(u @ i.T, k, dim=1)
    if model.name == "ease":
        x = torch.from_numpy(model.train_matrix[:, model.active_items].toarray())
        return lambda: torch.topk(x @ model.weights, k, dim=1)
    return lambda: torch.topk(model.scores(users), k, dim=1)


def recall(approx: np.ndarray, exact: np.ndarray) -> float:
    k = exact.shape[1]
    hits = (approx[:, :, None] == exact[:, None, :]).any(2).sum(1)
    return float(hits.mean() / k)


def bench_run(run_dir, k, repeats, tmp, hnsw_m, ef_search):
    rows = []
    start = time.perf_counter()
    served = hetrec.load_run(run_dir)
    load_s = time.perf_counter() - start
    n = len(served.user_ids)
    name = served.config.model
    base = dict(dataset=served.config.dataset, model=name, users=n, items=len(served.item_ids), k=k)

    def row(what, seconds, floor=None, **extra):
        r = {**base, "what": what, "seconds": round(seconds, 4), "users_per_s": round(n / seconds),
             "x_floor": round(seconds / floor, 2) if floor else "", **extra}
        rows.append(r)
        print(f"{name:8s} {what:40s} {seconds:8.3f} s  {n / seconds:10,.0f} users/s"
              + (f"  {seconds / floor:5.2f}x floor" if floor else "")
              + "".join(f"  {key} {v}" for key, v in extra.items()), flush=True)

    row("load run", load_s)
    floor = median_seconds(floor_fn(served, k), repeats)
    row("floor (scores+topk)", floor, floor)
    row("recommend", median_seconds(lambda: served.recommend(None, k), repeats), floor)
    for ext in ("csv", "parquet"):
        path = Path(tmp) / f"{name}.{ext}"
        row(f"recommend+{ext}", median_seconds(lambda p=path: write_table(served.recommend(None, k), p), repeats), floor)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "hetrec.cli", "recommend", "--run", str(run_dir), "--all-users", "-k", str(k),
           "--threads", "1", "--output", str(Path(tmp) / f"{name}-cli.csv")]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, capture_output=True)
    row("cli (process, load incl.)", time.perf_counter() - start, floor)

    if served.has_embeddings():
        try:
            import faiss
        except ImportError:
            print("faiss not installed: no ANN rows (pip install faiss-cpu)")
            return rows
        faiss.omp_set_num_threads(1)
        users, items = served.embeddings()
        exact = torch.topk(torch.from_numpy(users) @ torch.from_numpy(items).T, k, dim=1).indices.numpy()
        for kind, efs in [("flat", None)] + [("hnsw", e) for e in ef_search]:
            start = time.perf_counter()
            index = build_faiss_index(items, kind, hnsw_m=hnsw_m, ef_search=efs or 16)
            build = time.perf_counter() - start
            seconds = median_seconds(lambda ix=index: ix.search(users, k), repeats)
            _, got = index.search(users, k)
            extra = {"recall_at_k": round(recall(got, exact), 4), "index_build_s": round(build, 3)}
            row(f"faiss-{kind} search" + (f" (M {hnsw_m}, efSearch {efs})" if efs else ""), seconds, floor, **extra)
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", action="append", required=True, help="a trained run folder (repeatable)")
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--hnsw-m", type=int, default=32)
    p.add_argument("--ef-search", default="16,32,128", help="HNSW efSearch values, comma-separated")
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "serving"))
    args = p.parse_args()
    torch.set_num_threads(1)
    where = machine()
    print(where)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for run_dir in args.run:
            rows += bench_run(run_dir, args.k, args.repeats, tmp, args.hnsw_m,
                              [int(e) for e in args.ef_search.split(",")])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_csv_atomically(rows, out / "serving.csv")
    lines = [f"# Serving throughput (benchmarks/serving.py, k = {args.k}, median of {args.repeats})", "",
             f"Machine: {where}.", "",
             "| dataset | model | what | seconds | users/s | × floor | recall@k | index build s |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['dataset']} | {r['model']} | {r['what']} | {r['seconds']:.3f} | {r['users_per_s']:,} | "
                     f"{r['x_floor']} | {r.get('recall_at_k', '')} | {r.get('index_build_s', '')} |")
    lines += ["", "Command: `python benchmarks/serving.py " + " ".join(f"--run {r}" for r in args.run) + "`", ""]
    from hetrec._io import atomic_write_text

    atomic_write_text(out / "serving.md", "\n".join(lines))
    print(f"wrote {out / 'serving.csv'} and {out / 'serving.md'}")


if __name__ == "__main__":
    main()
