"""MTHGT's mini-batch mode trained end to end on a synthetic graph too big for full-graph training.

The graph is ``benchmarks/scale.py``'s synthetic graph (``hetrec.data.synthetic``): users prefer
one of 4 item clusters (80 % of a user's interactions come from it), so a trained model can be
checked against the planted truth. The script builds the graph and fold 0 of the standard 5-fold
split, sets up ``mthgt-minibatch`` (sparse embeddings, a fixed batch and negative pool,
``history_fanout`` in-edges per node and layer, a snapshot refresh every ``--refresh`` steps),
trains ``--steps`` steps and evaluates, before and after training, on ``--eval-users`` test
users drawn with the seed:

* **planted truth**: the share of each user's top-10 (training items excluded) that lies in the
  user's preferred cluster — ``affinity`` (0.8) is what the generator planted; popularity alone
  gets about the cluster's share of popular items (about 1/4);
* **held-out interactions**: NDCG@10 / R@10 by full ranking over every item, against MostPop.

It writes ``OUT/e2e.json`` (settings, graph size, times, peak memory, metrics) and
``OUT/progress.jsonl`` (loss, seconds and resident memory every ``--log-every`` steps), both
atomically / appended line by line. One process; ``--interactions 3.3e7`` is a graph of about
10⁸ edges, which needs about 15 GiB.

    python benchmarks/minibatch_e2e.py --interactions 1e5 --steps 50 --out /tmp/e2e   # a minute
    python benchmarks/minibatch_e2e.py --interactions 3.3e7 --steps 3000               # about an hour
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("DGLBACKEND", "pytorch")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, status_kib  # noqa: E402
from scale import graph_of  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def rss_mib() -> float:
    return status_kib("VmRSS") / 1024


def evaluate(score_rows, split, users, item_cluster, user_cluster, chunk=256) -> dict:
    """Planted-cluster share of the top-10 and held-out NDCG/R@10 of ``users``.

    ``score_rows(ids)`` returns a ``(len(ids), items)`` float tensor.
    """
    import scipy.sparse as sp
    import torch

    from hetrec.eval import topn_metrics

    exclude = (split.train + split.val).tocsr()
    shares = []
    for lo in range(0, len(users), chunk):
        ids = users[lo:lo + chunk]
        s = score_rows(torch.as_tensor(ids)).clone()
        block = exclude[ids]
        rows = np.repeat(np.arange(len(ids)), np.diff(block.indptr))
        s[torch.as_tensor(rows), torch.as_tensor(block.indices, dtype=torch.long)] = -torch.inf
        top = torch.topk(s, 10, dim=1).indices.numpy()
        shares.append((item_cluster[top] == user_cluster[ids][:, None]).mean(axis=1))
    # held-out interactions of these users only
    keep = sp.diags(np.isin(np.arange(split.test.shape[0]), users).astype(np.float32))
    test = (keep @ split.test).tocsr()
    test.eliminate_zeros()
    m = topn_metrics(score_fn=score_rows, exclude=[split.train, split.val], test=test, ns=(10,),
                     chunk_size=chunk)
    return {"cluster_share@10": float(np.concatenate(shares).mean()), "NDCG@10": m["NDCG@10"],
            "R@10": m["R@10"], "users": m["num_users"]}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--interactions", type=float, default=3.3e7)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--pool", type=int, default=4096)
    p.add_argument("--fanout", type=int, default=2)
    p.add_argument("--refresh", type=int, default=1000, help="snapshot refresh every N steps")
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--eval-users", type=int, default=2000)
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "minibatch_e2e"))
    args = p.parse_args(argv)
    import torch

    from hetrec._io import atomic_write_text
    from hetrec.data import ITEM, USER, kfold_split
    from hetrec.models import create_model
    from hetrec.train import seed_everything
    from hetrec.train.optim import make_optimizer

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if (out / "e2e.json").exists():
        sys.exit(f"{out / 'e2e.json'} exists: one run per folder")
    progress = out / "progress.jsonl"
    progress.write_text("")
    torch.set_num_threads(args.threads)
    row = {"settings": vars(args) | {"out": None}, "machine": machine()}
    t0 = time.perf_counter()
    g = graph_of(args.interactions)
    row.update(interactions=int(g.num_edges(("user", "interacts", "item"))), edges=int(g.num_edges()),
               nodes=int(g.num_nodes()), users=int(g.num_nodes(USER)), items=int(g.num_nodes(ITEM)))
    item_cluster = g.nodes[ITEM].data["category"].numpy()
    user_cluster = g.nodes[USER].data["cluster"].numpy()
    row["graph_s"] = time.perf_counter() - t0
    t = time.perf_counter()
    split = kfold_split(g, k=5, seed=0)[0]
    del g
    row["split_s"] = time.perf_counter() - t
    print(f"{row['edges']:,} edges, {row['users']:,} users, {row['items']:,} items; "
          f"graph {row['graph_s']:.0f} s, split {row['split_s']:.0f} s, {rss_mib():.0f} MiB", flush=True)

    rng = np.random.default_rng(args.seed)
    with_test = np.flatnonzero(np.diff(split.test.indptr) > 0)
    users = np.sort(rng.choice(with_test, size=min(args.eval_users, len(with_test)), replace=False))
    pop = torch.as_tensor(np.asarray(split.train.sum(axis=0)).ravel(), dtype=torch.float32)
    t = time.perf_counter()
    row["mostpop"] = evaluate(lambda ids: pop.expand(len(ids), -1), split, users, item_cluster, user_cluster)
    print("MostPop", row["mostpop"], f"{time.perf_counter() - t:.0f} s", flush=True)

    gen = seed_everything(args.seed, args.threads)
    model = create_model("mthgt-minibatch", sparse_embeddings=True, batch_size=args.batch,
                         negative_pool=args.pool, history_fanout=args.fanout,
                         history_refresh=args.refresh)
    t = time.perf_counter()
    model.setup(split)
    row["setup_s"] = time.perf_counter() - t
    model.eval()
    t = time.perf_counter()
    model.prepare_scoring()
    row["untrained"] = evaluate(model.scores, split, users, item_cluster, user_cluster)
    row["eval_s"] = time.perf_counter() - t
    model.invalidate_scoring()
    print("untrained", row["untrained"], f"{row['eval_s']:.0f} s", flush=True)

    opt = make_optimizer(model, lr=args.lr)
    model.train()
    batches = iter(model.train_batches(gen))
    step_times, refresh_times, losses = [], [], []
    train_start = time.perf_counter()
    for step in range(args.steps):
        try:
            batch = next(batches)
        except StopIteration:
            batches = iter(model.train_batches(gen))
            batch = next(batches)
        t = time.perf_counter()
        out_ = model.loss(batch)
        opt.zero_grad(set_to_none=True)
        out_.loss.backward()
        opt.step()
        elapsed = time.perf_counter() - t
        refreshed = step % args.refresh == 0  # the model refreshes at step 0 and every --refresh steps
        (refresh_times if refreshed else step_times).append(elapsed)
        losses.append(float(out_.loss))
        if (step + 1) % args.log_every == 0 or step + 1 == args.steps:
            line = {"step": step + 1, "loss": float(np.mean(losses[-args.log_every:])),
                    "s": time.perf_counter() - train_start, "rss_mib": rss_mib(),
                    "step_nodes": out_.logs.get("step_nodes")}
            with progress.open("a") as f:
                f.write(json.dumps(line) + "\n")
            print(line, flush=True)
    row["train_s"] = time.perf_counter() - train_start
    row["steps"] = args.steps
    row["epoch_fraction"] = args.steps * args.batch / split.train.nnz
    row["step_s_median"] = float(np.median(step_times)) if step_times else None
    row["steps_with_refresh"] = len(refresh_times)
    row["step_with_refresh_s_median"] = float(np.median(refresh_times)) if refresh_times else None
    row["loss_first_last"] = [float(np.mean(losses[:args.log_every])), float(np.mean(losses[-args.log_every:]))]
    model.eval()
    t = time.perf_counter()
    model.prepare_scoring()
    row["trained"] = evaluate(model.scores, split, users, item_cluster, user_cluster)
    row["final_eval_s"] = time.perf_counter() - t
    print("trained", row["trained"], flush=True)
    row["peak_mib"] = status_kib("VmHWM") / 1024
    row["total_s"] = time.perf_counter() - t0
    atomic_write_text(out / "e2e.json", json.dumps(row, indent=1) + "\n")
    print(json.dumps(row, indent=1))


if __name__ == "__main__":
    main()
