"""Wall time of hetrec.eval.topn_metrics (full ranking, N = 5, 10, 20) at real dataset sizes.

Two shapes: MovieLens-1M (6,040 users x 3,883 items, 1,000,209 interactions) and Last.FM 2K
(1,892 users x 17,632 items, 92,834 interactions). Interactions are random with those counts,
split like one fold of docs/index.md "Splits" (20 % test, 8 % validation, 72 % train; train and validation
excluded). Two kinds of scores:

* ``embeddings``: random user and item embeddings of size 64 (inner products, the usual case);
* ``popularity``: every user gets the same item-popularity scores (MostPop), which tie a lot
  and exercise the tie-breaking path.

    python benchmarks/ranking.py            # 2 threads, median of 7 runs
    python benchmarks/ranking.py --quick    # median of 3

Prints a Markdown table and writes ``benchmarks/results/ranking.csv``.
"""
import argparse
import os
import statistics
import time

import numpy as np
import scipy.sparse as sp
import torch
from _common import machine, write_csv_atomically  # noqa: E402

from hetrec.eval import topn_metrics

DIM = 64
SHAPES = {
    "MovieLens-1M size": (6_040, 3_883, 1_000_209),
    "Last.FM 2K size": (1_892, 17_632, 92_834),
}


def random_fold(num_users, num_items, num_interactions, seed=0):
    """Random distinct (user, item) pairs dealt into train / validation / test matrices."""
    rng = np.random.default_rng(seed)
    keys = np.unique(rng.integers(0, num_users * num_items, size=int(num_interactions * 1.1)))
    keys = rng.permutation(keys)[:num_interactions]
    part = rng.random(len(keys))

    def matrix(mask):
        k = keys[mask]
        return sp.csr_matrix((np.ones(len(k), dtype=np.float32), (k // num_items, k % num_items)),
                             shape=(num_users, num_items))

    return matrix(part >= 0.28), matrix((part >= 0.2) & (part < 0.28)), matrix(part < 0.2)


def median_seconds(run, repeats):
    run()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 repeats instead of 7")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--chunk-size", type=int, default=1024)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "ranking.csv"))
    args = parser.parse_args()
    repeats = args.repeats or (3 if args.quick else 7)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    machine_text = machine()
    print(f"Machine: {machine_text}")
    print(f"topn_metrics, N = 5, 10, 20, chunk_size {args.chunk_size}, median of {repeats} runs\n")
    rows = []
    for shape_name, (nu, ni, nnz) in SHAPES.items():
        train, val, test = random_fold(nu, ni, nnz)
        user_emb, item_emb = torch.randn(nu, DIM), torch.randn(ni, DIM)
        popularity = torch.from_numpy(np.asarray(train.sum(0)).ravel()).float()
        runs = {
            f"embeddings (dim {DIM})": lambda u=user_emb, i=item_emb, ex=[train, val], t=test:
                topn_metrics(u, i, ex, t, chunk_size=args.chunk_size),
            "popularity (ties)": lambda p=popularity, ex=[train, val], t=test: topn_metrics(
                score_fn=lambda ids: p.expand(len(ids), -1), exclude=ex, test=t,
                chunk_size=args.chunk_size),
        }
        for scores_name, run in runs.items():
            seconds = median_seconds(run, repeats)
            rows.append({
                "shape": shape_name, "users": nu, "items": ni, "excluded": train.nnz + val.nnz,
                "test": test.nnz, "scores": scores_name, "median_s": round(seconds, 3),
                "repeats": repeats, "threads": args.threads, "chunk_size": args.chunk_size,
                "machine": machine_text,
            })

    print("| shape | users × items | excluded | test | scores | median time (s) |")
    print("|---|---:|---:|---:|---|---:|")
    for r in rows:
        print(f"| {r['shape']} | {r['users']:,} × {r['items']:,} | {r['excluded']:,} | {r['test']:,} | "
              f"{r['scores']} | {r['median_s']:.3f} |")
    write_csv_atomically(rows, args.out)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
