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
``OUT/progress.jsonl`` (loss, seconds and resident memory every ``--log-every`` steps, and the
metrics every ``--eval-every`` steps), both atomically / appended line by line. One process;
``--interactions 3.3e7`` is a graph of about 10⁸ edges, which needs about 15 GiB.

A schedule longer than a session (``--epochs``) saves ``OUT/checkpoint.pt`` every
``--checkpoint-every`` steps (parameters, optimizer state, the random state and where in the
epoch it is; at refresh steps, so a resumed run takes the snapshot it would have taken anyway) and
the same command resumes from it: the graph and split are rebuilt from their seeds, the epoch's
finished batches are skipped, and the run gives the numbers of a run never stopped (tested). A
checkpoint is loaded with ``weights_only=True``; one written with other settings is refused by
name. ``e2e.json`` lists the processes the run took (``segments``) and deletes the checkpoint.

    python benchmarks/minibatch_e2e.py --interactions 1e5 --steps 50 --out /tmp/e2e   # a minute
    python benchmarks/minibatch_e2e.py --interactions 3.3e7 --steps 3000               # about an hour
    python benchmarks/minibatch_e2e.py --interactions 3.3e7 --epochs 1 --refresh 200 \
        --checkpoint-every 1000 --eval-every 5000 --log-every 100 --set hidden_size=64 \
        --out benchmarks/results/minibatch_e2e_epoch                                   # ~6 h, resumable
"""
from __future__ import annotations

import argparse
import dataclasses
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


def _set(text: str):
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    try:
        return key.strip(), json.loads(value)
    except json.JSONDecodeError:
        return key.strip(), value


# what a resumed run must share with the run that wrote the checkpoint (the rest is bookkeeping)
RUN_SETTINGS = ("interactions", "steps", "epochs", "batch", "pool", "fanout", "refresh", "lr", "eval_users",
                "eval_every", "checkpoint_every", "seed", "set")


def _check_settings(args) -> None:
    if args.checkpoint_every and args.checkpoint_every % args.refresh:
        sys.exit(f"--checkpoint-every {args.checkpoint_every} must be a multiple of --refresh {args.refresh} "
                 "(a resumed run starts with a fresh snapshot, which it takes at those steps anyway)")
    if args.eval_every and (not args.checkpoint_every or args.eval_every % args.checkpoint_every):
        sys.exit(f"--eval-every {args.eval_every} must be a multiple of --checkpoint-every "
                 f"{args.checkpoint_every} (evaluations are taken at checkpoint steps)")


def _save_checkpoint(path: Path, state: dict) -> None:
    import torch

    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _load_checkpoint(path: Path, settings: dict) -> dict:
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 -- any unreadable file is the same error to the user
        sys.exit(f"{path}: not a checkpoint this script wrote ({type(err).__name__}: {err}); delete it to start over")
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        sys.exit(f"{path}: not a checkpoint this script wrote (no format {CHECKPOINT_FORMAT!r}); delete it to "
                 "start over")
    saved = json.loads(state["settings"])
    changed = [f"{k}: {saved.get(k)!r} -> {settings.get(k)!r}" for k in RUN_SETTINGS if saved.get(k) != settings.get(k)]
    if changed:
        sys.exit(f"{path} was written with other settings ({'; '.join(changed)}): rerun with the same "
                 "settings to resume, or use another --out")
    return state


CHECKPOINT_FORMAT = "hetrec-minibatch-e2e/1"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--interactions", type=float, default=3.3e7)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--epochs", type=float, default=None,
                   help="train this many epochs of the fold's training interactions instead of --steps")
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--pool", type=int, default=4096)
    p.add_argument("--fanout", type=int, default=2)
    p.add_argument("--refresh", type=int, default=1000, help="snapshot refresh every N steps")
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--set", type=_set, action="append", default=[], metavar="KEY=VALUE",
                   help="a model setting over mthgt-minibatch's registry settings (repeatable)")
    p.add_argument("--eval-users", type=int, default=2000)
    p.add_argument("--eval-every", type=int, default=0,
                   help="also evaluate every N steps (a multiple of --checkpoint-every), into progress.jsonl")
    p.add_argument("--checkpoint-every", type=int, default=0,
                   help="save OUT/checkpoint.pt every N steps (a multiple of --refresh); the same command "
                        "resumes from it, with the same numbers as a run never stopped")
    p.add_argument("--stop-after", type=float, default=None, metavar="SECONDS",
                   help="end this process at the first checkpoint after this many seconds (rerun to resume)")
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "minibatch_e2e"))
    args = p.parse_args(argv)
    _check_settings(args)
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
    settings = vars(args) | {"out": None, "threads": None, "log_every": None, "stop_after": None}
    settings = json.loads(json.dumps(settings | {"set": sorted(settings["set"])}))  # as the checkpoint holds it
    ckpt_path = out / "checkpoint.pt"
    state = _load_checkpoint(ckpt_path, settings) if ckpt_path.exists() else None
    progress = out / "progress.jsonl"
    if state is None:
        progress.write_text("")
    else:  # lines logged after the checkpoint are logged again by the resumed run
        kept = [line for line in progress.read_text().splitlines()
                if line and json.loads(line)["step"] <= state["step"]]
        atomic_write_text(progress, "".join(line + "\n" for line in kept))
    torch.set_num_threads(args.threads)
    process_start = time.perf_counter()
    t0 = time.perf_counter()
    g = graph_of(args.interactions)
    graph_s = time.perf_counter() - t0
    item_cluster = g.nodes[ITEM].data["category"].numpy()
    user_cluster = g.nodes[USER].data["cluster"].numpy()
    sizes = dict(interactions=int(g.num_edges(("user", "interacts", "item"))), edges=int(g.num_edges()),
                 nodes=int(g.num_nodes()), users=int(g.num_nodes(USER)), items=int(g.num_nodes(ITEM)))
    t = time.perf_counter()
    split = kfold_split(g, k=5, seed=0)[0]
    del g
    split_s = time.perf_counter() - t
    print(f"{sizes['edges']:,} edges, {sizes['users']:,} users, {sizes['items']:,} items; "
          f"graph {graph_s:.0f} s, split {split_s:.0f} s, {rss_mib():.0f} MiB", flush=True)
    steps_per_epoch = -(-split.train.nnz // args.batch)
    steps = args.steps if args.epochs is None else int(round(args.epochs * steps_per_epoch))

    rng = np.random.default_rng(args.seed)
    with_test = np.flatnonzero(np.diff(split.test.indptr) > 0)
    users = np.sort(rng.choice(with_test, size=min(args.eval_users, len(with_test)), replace=False))

    gen = seed_everything(args.seed, args.threads)
    overrides = dict(args.set)
    model = create_model("mthgt-minibatch", **({"sparse_embeddings": True, "batch_size": args.batch,
                                               "negative_pool": args.pool, "history_fanout": args.fanout,
                                               "history_refresh": args.refresh} | overrides))
    t = time.perf_counter()
    model.setup(split)
    setup_s = time.perf_counter() - t
    opt = make_optimizer(model, lr=args.lr)
    segment = {"machine": machine(), "graph_s": graph_s, "split_s": split_s, "setup_s": setup_s}

    if state is None:
        row = {"settings": vars(args) | {"out": None}, "machine": segment["machine"], **sizes,
               "graph_s": graph_s, "split_s": split_s, "setup_s": setup_s, "steps_per_epoch": steps_per_epoch,
               "model_config": json.loads(json.dumps(dataclasses.asdict(model.config), default=str))}
        pop = torch.as_tensor(np.asarray(split.train.sum(axis=0)).ravel(), dtype=torch.float32)
        t = time.perf_counter()
        row["mostpop"] = evaluate(lambda ids: pop.expand(len(ids), -1), split, users, item_cluster, user_cluster)
        print("MostPop", row["mostpop"], f"{time.perf_counter() - t:.0f} s", flush=True)
        model.eval()
        t = time.perf_counter()
        model.prepare_scoring()
        row["untrained"] = evaluate(model.scores, split, users, item_cluster, user_cluster)
        row["eval_s"] = time.perf_counter() - t
        model.invalidate_scoring()
        print("untrained", row["untrained"], f"{row['eval_s']:.0f} s", flush=True)
        start, epoch_step, train_s = 0, 0, 0.0
        epoch_gen = gen.get_state()
        losses, step_times, refresh_times, segments = [], [], [], []
    else:
        row = json.loads(state["row"])
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        start, epoch_step, train_s = state["step"], state["epoch_step"], state["train_s"]
        epoch_gen = state["epoch_gen"]
        losses, step_times, refresh_times = (state[k].tolist() for k in ("losses", "step_times", "refresh_times"))
        segments = json.loads(state["segments"])
        print(f"resumed at step {start:,} of {steps:,} ({epoch_step:,} into its epoch)", flush=True)
    segment["from_step"] = start

    model.train()
    gen.set_state(epoch_gen)
    batches = iter(model.train_batches(gen))
    for _ in range(epoch_step):  # the epoch's batches already trained (cheap: the sampling is in the loss)
        next(batches)
    segment_start = time.perf_counter()

    def checkpoint(step):
        seg = segment | {"to_step": step, "train_s": time.perf_counter() - segment_start,
                         "process_s": time.perf_counter() - process_start, "peak_mib": status_kib("VmHWM") / 1024}
        _save_checkpoint(ckpt_path, {
            "format": CHECKPOINT_FORMAT, "settings": json.dumps(settings), "row": json.dumps(row), "step": step,
            "epoch_step": epoch_step, "epoch_gen": epoch_gen, "train_s": train_s + seg["train_s"],
            "model": model.state_dict(), "optimizer": opt.state_dict(), "torch_rng": torch.get_rng_state(),
            "losses": torch.tensor(losses, dtype=torch.float64),
            "step_times": torch.tensor(step_times, dtype=torch.float64),
            "refresh_times": torch.tensor(refresh_times, dtype=torch.float64),
            "segments": json.dumps(segments + [seg])})

    for step in range(start, steps):
        try:
            batch = next(batches)
        except StopIteration:
            epoch_gen, epoch_step = gen.get_state(), 0
            batches = iter(model.train_batches(gen))
            batch = next(batches)
        epoch_step += 1
        t = time.perf_counter()
        out_ = model.loss(batch)
        opt.zero_grad(set_to_none=True)
        out_.loss.backward()
        opt.step()
        elapsed = time.perf_counter() - t
        refreshed = step % args.refresh == 0  # the model refreshes at step 0 and every --refresh steps
        (refresh_times if refreshed else step_times).append(elapsed)
        losses.append(float(out_.loss))
        done = step + 1
        if done % args.log_every == 0 or done == steps:
            line = {"step": done, "loss": float(np.mean(losses[-args.log_every:])),
                    "s": train_s + time.perf_counter() - segment_start, "rss_mib": rss_mib(),
                    "step_nodes": out_.logs.get("step_nodes")}
            with progress.open("a") as f:
                f.write(json.dumps(line) + "\n")
            print(line, flush=True)
        if args.eval_every and done % args.eval_every == 0 and done < steps:
            model.eval()
            t = time.perf_counter()
            model.prepare_scoring()
            got = evaluate(model.scores, split, users, item_cluster, user_cluster)
            model.invalidate_scoring()
            model.train()
            segment_start += time.perf_counter() - t  # evaluation is not training time
            with progress.open("a") as f:
                f.write(json.dumps({"step": done, "eval": got, "eval_s": time.perf_counter() - t}) + "\n")
            print("step", done, got, flush=True)
        if args.checkpoint_every and done % args.checkpoint_every == 0 and done < steps:
            t = time.perf_counter()
            checkpoint(done)
            segment_start += time.perf_counter() - t  # nor is writing the checkpoint
            if args.stop_after is not None and time.perf_counter() - process_start >= args.stop_after:
                print(f"stopped at step {done:,} of {steps:,}: {ckpt_path} holds it; rerun the same command "
                      "to resume", flush=True)
                return
    segments.append(segment | {"to_step": steps, "train_s": time.perf_counter() - segment_start,
                               "peak_mib": status_kib("VmHWM") / 1024})
    row["train_s"] = train_s + segments[-1]["train_s"]
    row["segments"] = segments
    row["steps"] = steps
    row["epoch_fraction"] = steps * args.batch / split.train.nnz
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
    segments[-1]["process_s"] = time.perf_counter() - process_start
    # peak and wall time of every process the run took (a resumed run's segments; time a stopped
    # process spent after its last checkpoint is not counted: the resumed run repeats that work)
    row["peak_mib"] = max(seg["peak_mib"] for seg in segments)
    row["total_s"] = sum(seg["process_s"] for seg in segments)
    atomic_write_text(out / "e2e.json", json.dumps(row, indent=1) + "\n")
    if ckpt_path.exists():
        ckpt_path.unlink()
    print(json.dumps(row, indent=1))


if __name__ == "__main__":
    main()
