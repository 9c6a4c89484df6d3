"""A fingerprint of training, to show that a refactoring changed no number.

For every registered model (and, for MTHGT's presets, its full-graph, multi-task and sampled
in-batch variants), a few batches are trained through :class:`hetrec.train.Trainer` with a
fixed seed, and the script prints a digest of every batch with its loss and logs, each epoch's
record (timings left out), the test metrics, a sha256 of the final parameters, digests of the
first data-parallel shards of two ranks, and digests of torch's global generator and the epoch
generator after two batches. Two trees that train the same give byte-identical output::

    git worktree add /tmp/ref HEAD                 # the code before the change
    PYTHONPATH=/tmp/ref python benchmarks/refactor_check.py > before.txt
    python benchmarks/refactor_check.py > after.txt
    cmp before.txt after.txt                       # and again with --data lastfm

``--data synthetic`` (default; ~30 s on one core) trains 2 epochs of 3 batches on a small planted
graph; ``--data lastfm`` 1 epoch of 2 batches on Last.FM fold 0 (``$HETREC_DATA`` or
``--data-dir``). Comparisons are only meaningful with the same torch/DGL versions and threads.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys

os.environ.setdefault("DGLBACKEND", "pytorch")

import torch  # noqa: E402

import hetrec  # noqa: E402
from hetrec.data import kfold_split, load_dataset, synthetic  # noqa: E402
from hetrec.models import MODELS, create_model  # noqa: E402
from hetrec.train import TrainConfig, Trainer, seed_everything  # noqa: E402

SEED = 7
MTHGT_SMALL = dict(batch_size=128, width=16, hidden_size=16, num_heads=2, num_layers=2, lp_edges_per_relation=64)


def _digest_into(h, obj) -> None:
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.numpy().tobytes() if t.numel() else b"")
    elif hasattr(obj, "canonical_etypes"):  # a DGL graph or block: sizes, edges, ids and features
        h.update(b"G")
        for t in obj.srctypes if obj.is_block else obj.ntypes:
            h.update(f"n{t}:{obj.num_src_nodes(t)}".encode())
            for k in sorted(obj.srcnodes[t].data):
                h.update(k.encode())
                _digest_into(h, obj.srcnodes[t].data[k])
        if obj.is_block:
            for t in obj.dsttypes:
                h.update(f"d{t}:{obj.num_dst_nodes(t)}".encode())
        for et in obj.canonical_etypes:
            h.update("|".join(et).encode())
            for part in obj.edges(etype=et, order="eid"):
                _digest_into(h, part)
            for k in sorted(obj.edges[et].data):
                h.update(k.encode())
                _digest_into(h, obj.edges[et].data[k])
    elif isinstance(obj, dict):
        for k in obj:  # insertion order is part of the batch
            h.update(repr(k).encode())
            _digest_into(h, obj[k])
    elif isinstance(obj, (list, tuple)):
        h.update(f"L{len(obj)}".encode())
        for v in obj:
            _digest_into(h, v)
    elif hasattr(obj, "__dataclass_fields__"):
        for k in obj.__dataclass_fields__:
            h.update(k.encode())
            _digest_into(h, getattr(obj, k))
    else:
        h.update(repr(obj).encode())


def digest(obj, n: int = 16) -> str:
    h = hashlib.sha256()
    _digest_into(h, obj)
    return h.hexdigest()[:n]


def fingerprint(name: str, split, overrides: dict, epochs: int, max_batches: int, out) -> None:
    model = create_model(name, **overrides)
    steps = []
    loss = model.loss

    def recorded_loss(batch):
        o = loss(batch)
        steps.append(f"batch {digest(batch)} loss {o.loss.item()!r} logs {sorted(o.logs.items())!r}")
        return o

    model.loss = recorded_loss
    cfg = TrainConfig(epochs=epochs, patience=epochs, max_batches=max_batches, progress=False, seed=SEED)
    res = Trainer(cfg, log=lambda m: None).fit(model, split)
    out(f"== {name} {overrides}")
    for s in steps:
        out("  " + s)
    for r in res.history:
        out("  epoch " + repr({k: v for k, v in sorted(r.items()) if "seconds" not in k and k != "sampling_share"}))
    out(f"  best {res.best_epoch} test {sorted((res.test or {}).items())!r}")
    out(f"  state {digest(model.state_dict(), 64)}")
    if model.trainable:  # the first shards of two data-parallel ranks (no process group needed)
        for rank in range(2):
            parts = []
            try:
                for i, b in enumerate(model.distributed_batches(seed_everything(SEED, 1), rank, 2)):
                    parts.append(digest(b))
                    if i == 2:
                        break
            except ValueError as err:
                parts.append(f"error: {err}")
            out(f"  ddp rank {rank}: {' '.join(parts)}")
    gen = seed_everything(SEED, 1)
    batches = iter(model.train_batches(gen))
    for _ in range(2):
        next(batches, None)
    out(f"  after 2 batches: torch {digest(torch.random.get_rng_state())} generator {digest(gen.get_state())}")


def variants(name: str, data: str) -> list:
    if data == "lastfm":
        return [dict(batch_size=1024)] if MODELS[name][1] == "MTHGT" else [{}]
    if MODELS[name][1] == "MTHGT":
        return [dict(MTHGT_SMALL), dict(MTHGT_SMALL, multitask=True, num_negatives=3),
                dict(MTHGT_SMALL, training="sampled", negatives="in-batch", multitask=True)]
    if name == "pinsage":
        return [dict(batch_size=32)]
    if name in ("mostpop", "itemknn"):
        return [{}]
    return [dict(batch_size=128)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="synthetic", choices=["synthetic", "lastfm"])
    p.add_argument("--data-dir", default=None, help="Folder holding hetrec2011-lastfm-2k/ (default: $HETREC_DATA).")
    p.add_argument("--models", default=",".join(MODELS), help="Comma-separated registry names (default: all).")
    args = p.parse_args()
    torch.set_num_threads(1)
    print(f"# hetrec from {os.path.dirname(hetrec.__file__)}", file=sys.stderr)
    if args.data == "synthetic":
        g = synthetic(num_users=80, num_items=100, num_interactions=1600, num_tags=12, seed=2)
        epochs, max_batches = 2, 3
    else:
        g = load_dataset("lastfm", root=args.data_dir).graph
        epochs, max_batches = 1, 2
    split = kfold_split(g, k=5, seed=0)[0]
    for name in args.models.split(","):
        for overrides in variants(name, args.data):
            fingerprint(name, split, overrides, epochs, max_batches, print)
            sys.stdout.flush()


if __name__ == "__main__":
    main()
