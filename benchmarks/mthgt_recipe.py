"""Controlled experiments behind MTHGT's recipe (docs/mthgt.md): one change at a time, Last.FM
fold 0, settings chosen on **validation** NDCG@10 (test is recorded, never used to choose).

Each cell is a named model + settings, trained once by the project's Trainer into
``OUT/<dataset>/<cell>/`` (a finished cell is read back, never retrained), followed by diagnostics
that tell popularity-learning apart:

* ``pop_corr``: Spearman correlation over items of the item's mean score (over all users) with
  its training degree (1 = the ranking is popularity);
* ``top10_pop_share``: share of all users' top-10 slots taken by the 1 % most popular items;
* ``train_bpr`` / ``val_bpr``: BPR loss of training and validation pairs against one uniform
  non-training negative each (same seed for every cell): a wide gap is over-fitting;
* ``item_grad_share``: share of items whose ID embedding receives a non-zero gradient in one
  epoch of the cell's own training batches (from the trained model, no update made): items that
  never get a gradient can only be ranked by what propagation brings them.

    python benchmarks/mthgt_recipe.py --list
    python benchmarks/mthgt_recipe.py --cells light-noatt light-att --threads 1
    python benchmarks/mthgt_recipe.py --collect            # the table of finished cells (markdown)
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("DGLBACKEND", "pytorch")

import numpy as np
import torch
from _common import machine

from hetrec.data import kfold_split, load_dataset
from hetrec.data.files import atomic_write_bytes
from hetrec.models import create_model
from hetrec.train import TrainConfig, Trainer

BASE = dict(lr=5e-3, epochs=100, patience=5)
#: full-graph steps over 8192 interactions: a quarter of the propagations per epoch, more epochs
B8 = dict(lr=1e-2, epochs=200)
#: cell -> (model, model settings, training settings, what it tests)
CELLS = {
    # references under the same trainer
    "lightgcn": ("lightgcn", {}, {}, "project LightGCN (user-item graph), its benchmark settings"),
    "lightgcn-neg8": ("lightgcn", {"num_negatives": 8}, {}, "LightGCN, 8 negatives per positive"),
    "bprmf": ("bprmf", {}, {}, "project BPR-MF"),
    "paper": ("mthgt-paper", {}, dict(epochs=20, patience=3), "the paper's recipe (old default)"),
    # the light HGT layer, one change at a time
    "light-noatt-ui": ("mthgt", dict(drop_batch_edges=False, multitask=False, attention="none", relations="interactions"), {},
                       "transform-free propagation, user-item relations only, no attention"),
    "light-noatt": ("mthgt", dict(drop_batch_edges=False, multitask=False, attention=False), {},
                    "transform-free propagation over all relations, no attention (node norm)"),
    "light-noatt-relnorm": ("mthgt", dict(drop_batch_edges=False, multitask=False, attention=False, norm="relation"), {},
                            "as light-noatt, degree normalisation within each relation"),
    "light-att": ("mthgt", dict(drop_batch_edges=False, multitask=False), {}, "HGT attention over all relations, single task"),
    "light-att-mt": ("mthgt", {}, {}, "light-att + link prediction via MMoE + uncertainty weighting"),
    "light-noatt-mt": ("mthgt", dict(drop_batch_edges=False, attention=False), {}, "light-noatt + multitask"),
    "light-noatt-neg8": ("mthgt", dict(drop_batch_edges=False, multitask=False, attention=False, num_negatives=8), {},
                         "light-noatt, 8 negatives per positive"),
    "light-noatt-b8k": ("mthgt", dict(drop_batch_edges=False, multitask=False, attention=False, batch_size=8192),
                        dict(lr=1e-2), "light-noatt, batch 8192, lr 1e-2"),
    "light-noatt-softmax": ("mthgt", dict(drop_batch_edges=False, multitask=False, attention=False, num_negatives=64,
                                          loss="softmax", temperature=0.2), {},
                            "light-noatt, sampled softmax over 64 negatives, temperature 0.2"),
    "light-att1-b8k": ("mthgt", dict(drop_batch_edges=False, multitask=False, attention_layers=1, batch_size=8192), B8,
                       "attention in layer 1 only (later layers fixed), batch 8192, lr 1e-2"),
    "light-att-b8k": ("mthgt", dict(drop_batch_edges=False, multitask=False, batch_size=8192), B8,
                      "attention in every layer, batch 8192, lr 1e-2"),
    "light-noatt-b8k-softmax": ("mthgt", dict(drop_batch_edges=False, multitask=False, attention=False, batch_size=8192,
                                              num_negatives=64, loss="softmax", temperature=0.2),
                                B8, "light-noatt-b8k with sampled softmax, 64 negatives, T 0.2"),
    "light-noatt-b8k-neg8": ("mthgt", dict(drop_batch_edges=False, multitask=False, attention=False, batch_size=8192,
                                           num_negatives=8), B8, "light-noatt-b8k, BPR with 8 negatives"),
    "light-noatt-b8k-ui": ("mthgt", dict(drop_batch_edges=False, multitask=False, attention=False, batch_size=8192,
                                         relations="interactions"), B8,
                           "light-noatt-b8k on user-item relations only"),
    "light-noatt-b8k-e200": ("mthgt", dict(drop_batch_edges=False, multitask=False, attention=False, batch_size=8192), B8,
                             "light-noatt-b8k with up to 200 epochs"),
    "lightgcn-b8k": ("lightgcn", dict(batch_size=8192), B8, "LightGCN, batch 8192, lr 1e-2, up to 200 epochs"),
    "light-noatt-b8k-mt": ("mthgt", dict(drop_batch_edges=False, attention=False, batch_size=8192, reg_in_task=False), B8,
                           "light-noatt-b8k-e200 + link prediction via MMoE + uncertainty weighting "
                           "(L2 outside the weighting)"),
    "light-noatt-b8k-mt-reg": ("mthgt", dict(drop_batch_edges=False, attention=False, batch_size=8192), B8,
                               "light-noatt-b8k-mt with the L2 term inside the recommendation task"),
    "light-noatt-b8k-mt-lin": ("mthgt", dict(drop_batch_edges=False, attention=False, batch_size=8192, expert_activation="none"), B8,
                               "light-noatt-b8k-mt with linear MMoE experts"),
    # hiding each step's predicted edges from message passing (drop_batch_edges, the default)
    "light-noatt-b8k-drop": ("mthgt", dict(multitask=False, attention=False, batch_size=8192), B8,
                             "light-noatt-b8k-e200, batch's edges hidden from message passing"),
    "light-att1-b8k-drop": ("mthgt", dict(multitask=False, attention_layers=1, batch_size=8192), B8,
                            "light-att1-b8k, batch's edges hidden from message passing"),
    "light-att-b8k-drop": ("mthgt", dict(multitask=False, batch_size=8192), B8,
                           "attention in every layer, batch's edges hidden from message passing"),
    # sampled softmax (offered to LightGCN too: a training change that is not specific to MTHGT)
    "lightgcn-softmax": ("lightgcn", dict(num_negatives=64, loss="softmax", temperature=0.2), {},
                         "LightGCN, sampled softmax over 64 negatives, T 0.2"),
    "lightgcn-b8k-softmax": ("lightgcn", dict(batch_size=8192, num_negatives=64, loss="softmax",
                                              temperature=0.2), B8,
                             "LightGCN, batch 8192, lr 1e-2, sampled softmax over 64 negatives, T 0.2"),
    "light-noatt-b8k-drop-softmax": ("mthgt", dict(multitask=False, attention=False, batch_size=8192,
                                                   num_negatives=64, loss="softmax", temperature=0.2), B8,
                                     "light-noatt-b8k-drop with sampled softmax, 64 negatives, T 0.2"),
    "light-att1-b8k-drop-softmax": ("mthgt", dict(multitask=False, attention_layers=1, batch_size=8192,
                                                  num_negatives=64, loss="softmax", temperature=0.2), B8,
                                    "light-att1-b8k-drop with sampled softmax, 64 negatives, T 0.2"),
    "light-noatt-b8k-drop-mt-lin-a05": ("mthgt", dict(attention=False, batch_size=8192, expert_activation="none",
                                                      mmoe_alpha=0.05), B8,
                                        "light-noatt-b8k-drop + multitask, linear experts, MMoE alpha 0.05 at start"),
    "light-noatt-b8k-drop-mt-lin-nobias": ("mthgt", dict(attention=False, batch_size=8192,
                                                         expert_activation="none", expert_bias=False,
                                                         mmoe_alpha=0.05), B8,
                                           "as -mt-lin-a05, experts without bias"),
    "light-noatt-b8k-drop-mt-nobias": ("mthgt", dict(attention=False, batch_size=8192, expert_bias=False), B8,
                                       "light-noatt-b8k-drop + multitask, GELU experts without bias"),
    # multitask and temperature on top of the softmax recipe
    "sm-mt": ("mthgt", dict(attention=False, batch_size=8192, num_negatives=64, loss="softmax",
                            temperature=0.2), B8,
              "light-noatt-b8k-drop-softmax + link prediction (MMoE as in the paper: GELU experts with bias)"),
    "sm-mt-lin": ("mthgt", dict(attention=False, batch_size=8192, num_negatives=64, loss="softmax",
                                temperature=0.2, expert_activation="none", expert_bias=False, mmoe_alpha=0.05), B8,
                  "sm-mt with linear bias-free experts, MMoE alpha 0.05 at start"),
    "sm-t0.1": ("mthgt", dict(multitask=False, attention=False, batch_size=8192, num_negatives=64, loss="softmax",
                              temperature=0.1), B8, "light-noatt-b8k-drop-softmax, temperature 0.1"),
    "sm-t0.5": ("mthgt", dict(multitask=False, attention=False, batch_size=8192, num_negatives=64, loss="softmax",
                              temperature=0.5), B8, "light-noatt-b8k-drop-softmax, temperature 0.5"),
    "sm-att": ("mthgt", dict(multitask=False, batch_size=8192, num_negatives=64, loss="softmax",
                             temperature=0.2), B8, "light-att1-b8k-drop-softmax with attention in all 3 layers"),
    "sm-mt-lin-lpsm": ("mthgt", dict(attention=False, batch_size=8192, num_negatives=64, loss="softmax",
                                     temperature=0.2, expert_activation="none", expert_bias=False, mmoe_alpha=0.05,
                                     lp_loss="softmax", lp_negatives=64), B8,
                       "sm-mt-lin with a sampled-softmax link-prediction loss (64 negatives): both task "
                       "losses on one scale for the uncertainty weighting"),
    # sampled mode (subgraphs around each batch, the paper's training) with the light layer
    "sampled-dense": ("mthgt", dict(multitask=False, training="sampled", sampler="dense", batch_size=2048),
                      dict(lr=1e-2, epochs=15, patience=3),
                      "light layer, sampled mode: dense subgraphs around 2048 interactions, BPR, 1 negative"),
    "sampled-dense-lr5e-3": ("mthgt", dict(multitask=False, training="sampled", sampler="dense", batch_size=2048),
                             dict(lr=5e-3, epochs=15, patience=3), "sampled-dense with lr 5e-3"),
    "sampled-dense-noatt": ("mthgt", dict(multitask=False, training="sampled", sampler="dense", batch_size=2048,
                                          attention=False), dict(lr=5e-3, epochs=15, patience=3),
                            "sampled-dense-lr5e-3 without attention"),
    "sm-t0.5-relatt": ("mthgt", dict(multitask=False, attention="relation", batch_size=8192, num_negatives=64,
                                     loss="softmax", temperature=0.5), B8,
                       "sm-t0.5 with relation-level attention (one learned logit per relation and head)"),
    "lightgcn-softmax-t0.5": ("lightgcn", dict(num_negatives=64, loss="softmax", temperature=0.5), {},
                              "LightGCN, sampled softmax over 64 negatives, T 0.5"),
    "lightgcn-softmax-t0.1": ("lightgcn", dict(num_negatives=64, loss="softmax", temperature=0.1), {},
                              "LightGCN, sampled softmax over 64 negatives, T 0.1"),
    # one change at a time away from the final recipe, hetrec's MTHGT defaults (= sm-t0.5-relatt)
    "recipe-last": ("mthgt", dict(combine="last"), B8, "recipe, last layer instead of the mean of layers"),
    "recipe-proj": ("mthgt", dict(projection=True), B8, "recipe + Eq. 3 projection (per-type linear + GELU)"),
    "recipe-xavier": ("mthgt", dict(init_std=None), B8, "recipe, Xavier-uniform ID embeddings instead of N(0, 0.1²)"),
    "recipe-ui": ("mthgt", dict(relations="interactions"), B8, "recipe on user-item relations only"),
    "recipe-bpr": ("mthgt", dict(loss="bpr", num_negatives=1), B8, "recipe with BPR, one negative"),
    "recipe-bpr8": ("mthgt", dict(loss="bpr", num_negatives=8), B8, "recipe with BPR, 8 negatives"),
    "recipe-nodrop": ("mthgt", dict(drop_batch_edges=False), B8, "recipe, predicted edges left in message passing"),
    "recipe-edgeatt": ("mthgt", dict(attention="edge", attention_layers=1), B8,
                       "recipe with HGT edge attention (layer 1) instead of relation attention"),
    "recipe-mt": ("mthgt", dict(multitask=True), B8, "recipe + link prediction via MMoE + uncertainty weighting"),
    "recipe-mt-paper-mmoe": ("mthgt", dict(multitask=True, expert_activation="gelu", expert_bias=True,
                                           mmoe_alpha=0.5), B8, "recipe-mt with the paper's MMoE (GELU experts, bias, alpha 0.5)"),
    "recipe-2layers": ("mthgt", dict(num_layers=2), B8, "recipe with 2 layers instead of 3"),
    "recipe-relnorm": ("mthgt", dict(norm="relation"), B8, "recipe, degree normalisation within each relation"),
    "recipe-hgt": ("mthgt", dict(conv="hgt", num_layers=2), B8,
                   "recipe with the full HGTLayer (K/Q/V/message/output transforms, GELU, residual), 2 layers"),
    "recipe-sampled": ("mthgt-sampled", dict(multitask=False), dict(lr=5e-3, epochs=40),
                       "sampled training (dense subgraphs, 2048 interactions, BPR 1 negative), single task"),
    "lightgcn-b8k-softmax-t0.5": ("lightgcn", dict(batch_size=8192, num_negatives=64, loss="softmax",
                                                   temperature=0.5), B8,
                                  "LightGCN, batch 8192, lr 1e-2, sampled softmax over 64 negatives, T 0.5"),
    "hgt-full": ("mthgt", dict(drop_batch_edges=False, multitask=False, conv="hgt", projection=True, init_std=None,
                               combine="last", num_layers=2, dropout=0.2, reg_weight=0.0), {},
                 "paper HGT stack (transforms, projection, last layer) trained on the full graph"),
    "hgt-full-raw-mean": ("mthgt", dict(drop_batch_edges=False, multitask=False, conv="hgt", num_layers=2), {},
                          "HGT with transforms, raw N(0,0.1²) embeddings, mean of layers, full graph"),
}


#: MTHGT's defaults while the exploratory cells ran (before the recipe was chosen); every
#: "mthgt" cell not named recipe-* starts from them, so each cell keeps meaning what it ran
EXPLORE = dict(attention="edge", multitask=True, shared_gnn=True, batch_size=2048, num_negatives=1, loss="bpr",
               temperature=1.0, expert_activation="gelu", expert_bias=True, mmoe_alpha=0.5, lp_loss="bpr",
               lp_negatives=1, drop_batch_edges=True, reg_in_task=True)
#: the final recipe (MTHGT's defaults since), pinned: the recipe-* cells start from it
RECIPE = dict(attention="relation", multitask=False, shared_gnn=True, batch_size=8192, num_negatives=64,
              loss="softmax", temperature=0.5, expert_activation="none", expert_bias=False, mmoe_alpha=0.05,
              lp_loss="softmax", lp_negatives=64, drop_batch_edges=True, reg_in_task=True)
for _name, (_model, _settings, _train, _what) in list(CELLS.items()):
    if _model == "mthgt":
        CELLS[_name] = (_model, {**(RECIPE if _name.startswith("recipe") else EXPLORE), **_settings}, _train, _what)
CELLS["recipe-sampled"][1]["attention"] = "relation"


def item_table(model):
    """The item ID-embedding table of a model (None when it has none)."""
    for name in ("proj.item.weight", "proj.embeddings.item.weight", "item_embedding.weight"):
        try:
            return model.get_parameter(name)
        except AttributeError:
            continue
    return None


def item_grad_share(model, epoch_seed=(0, 1)):
    """Share of items whose embedding row gets a non-zero gradient over one epoch of batches."""
    from hetrec.train import seed_everything

    table = item_table(model)
    if table is None or not model.trainable:
        return None
    touched = torch.zeros(table.shape[0], dtype=torch.bool)
    model.train()
    for batch in model.train_batches(seed_everything(*epoch_seed)):
        model.zero_grad(set_to_none=True)
        model.loss(batch).loss.backward()
        if table.grad is not None:
            touched |= table.grad.abs().sum(1) > 0
    model.zero_grad(set_to_none=True)
    return float(touched.float().mean())


def diagnostics(model, split, seed: int = 0) -> dict:
    grad_share = item_grad_share(model)
    model.eval()
    with torch.no_grad():
        model.prepare_scoring()
        users = torch.arange(split.num_users)
        scores = model.scores(users)
    deg = np.asarray(split.train.sum(0)).ravel()
    mean_score = scores.mean(0).numpy()
    rank = lambda x: np.argsort(np.argsort(x)).astype(float)
    pop_corr = float(np.corrcoef(rank(mean_score), rank(deg))[0, 1])
    masked = scores.clone()
    tr = split.train.tocoo()
    masked[torch.from_numpy(tr.row.astype(np.int64)), torch.from_numpy(tr.col.astype(np.int64))] = -np.inf
    top = masked.topk(10, dim=1).indices.numpy().ravel()
    popular = set(np.argsort(-deg)[: max(1, len(deg) // 100)].tolist())
    share = float(np.mean([t in popular for t in top]))
    gen = np.random.default_rng(seed)

    def bpr(mat):
        coo = mat.tocoo()
        u, i = coo.row, coo.col
        j = gen.integers(0, split.num_items, len(u))
        s = scores.numpy()
        return float(np.mean(np.logaddexp(0, s[u, j] - s[u, i])))

    return {"pop_corr": pop_corr, "top10_pop_share": share, "train_bpr": bpr(split.train),
            "val_bpr": bpr(split.val), "item_grad_share": grad_share}


def rediagnose(name, split, out_root: Path) -> dict:
    """Recompute the diagnostics of a finished cell from its saved best model (model.pt)."""
    from hetrec.train import load_checkpoint

    done = out_root / name / "result.json"
    res = json.loads(done.read_text())
    model_name, overrides, _, _ = CELLS[name]
    model = create_model(model_name, **overrides)
    torch.manual_seed(0)
    model.setup(split)
    model.load_state_dict(load_checkpoint(out_root / name / "model.pt")["model"])
    res.update(diagnostics(model, split))
    atomic_write_bytes(done, json.dumps(res, indent=2).encode())
    return res


def run_cell(name, split, out_root: Path, threads: int) -> dict:
    out = out_root / name
    done = out / "result.json"
    if done.is_file():
        return json.loads(done.read_text())
    model_name, overrides, train, what = CELLS[name]
    tcfg = TrainConfig(**{**BASE, **train}, seed=0, progress=False, num_threads=threads)
    model = create_model(model_name, **overrides)
    t0 = time.perf_counter()
    fit = Trainer(tcfg, out_dir=out, log=lambda m: print(f"[{name}] {m}", file=sys.stderr, flush=True)).fit(model, split)
    seconds = time.perf_counter() - t0
    res = {"cell": name, "model": model_name, "settings": overrides, "train": {**BASE, **train}, "what": what,
           "best_epoch": fit.best_epoch, "epochs_run": len(fit.history), "seconds": round(seconds, 1),
           "val_ndcg10": fit.val["NDCG@10"], "val_r10": fit.val["R@10"],
           "test_ndcg10": fit.test["NDCG@10"], "test_r10": fit.test["R@10"],
           **diagnostics(model, split), "machine": machine()}
    atomic_write_bytes(done, json.dumps(res, indent=2).encode())
    return res


def table(out_root: Path) -> str:
    rows = [json.loads(p.read_text()) for p in sorted(out_root.glob("*/result.json"))]
    lines = ["| cell | what | val NDCG@10 | val R@10 | best / run epochs | s | pop corr | top-10 pop share | "
             "train / val BPR | items with a gradient |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in sorted(rows, key=lambda r: -r["val_ndcg10"]):
        lines.append(f"| {r['cell']} | {r['what']} | {r['val_ndcg10']:.4f} | {r['val_r10']:.4f} | "
                     f"{r['best_epoch']} / {r['epochs_run']} | {r['seconds']:.0f} | {r['pop_corr']:.2f} | "
                     f"{r['top10_pop_share']:.2f} | {r['train_bpr']:.3f} / {r['val_bpr']:.3f} | "
                     + (f"{r['item_grad_share']:.2f} |" if r.get("item_grad_share") is not None else "– |"))
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="lastfm")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--fold", type=int, default=0)
    p.add_argument("--cells", nargs="*", default=[])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "mthgt-recipe"))
    p.add_argument("--list", action="store_true")
    p.add_argument("--collect", action="store_true")
    p.add_argument("--rediagnose", action="store_true",
                   help="recompute the diagnostics of the finished --cells from their saved models")
    args = p.parse_args(argv)
    if args.list:
        for k, v in CELLS.items():
            print(f"{k:24s} {v[3]}")
        return
    out_root = Path(args.out) / args.dataset / f"fold-{args.fold}"
    unknown = [c for c in args.cells if c not in CELLS]
    if unknown:
        p.error(f"unknown cells {unknown}; --list shows them")
    if args.cells:
        torch.set_num_threads(args.threads)
        ds = load_dataset(args.dataset, root=args.data_dir)
        split = kfold_split(ds.graph, k=5, seed=0)[args.fold]
        for c in args.cells:
            if args.rediagnose:
                rediagnose(c, split, out_root)
                continue
            r = run_cell(c, split, out_root, args.threads)
            print(f"{c}: val NDCG@10 {r['val_ndcg10']:.4f} ({r['seconds']:.0f} s)", flush=True)
    print(table(out_root))


if __name__ == "__main__":
    main()
