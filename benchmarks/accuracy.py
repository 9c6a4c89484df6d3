"""Accuracy benchmark: models x folds under one protocol (paper Table 3 and Fig. 4 layouts).

Every (model, fold) cell is one :func:`hetrec.train.experiment.run_experiment` run in
``OUT/<dataset>/<model>/fold-<f>``; a finished cell is read back, never recomputed, so the
benchmark can be stopped and restarted at will. Results: ``OUT/<dataset>/accuracy.csv`` (one row
per model and fold), ``accuracy.md`` (Table-3 layout: P/R/HR/NDCG@10, mean ± std over folds) and,
with ``--ablation``, ``ablation.md`` (HGT, HGT-d, HGT-m, MTHGT at N = 5, 10, 20) plus
``ablation.png`` when matplotlib (the ``plot`` extra) is installed; with ``--ablation minibatch``
the same four variants in the mini-batch mode (``hgt-mb``, ``hgt-d-mb``, ``hgt-m-mb``,
``mthgt-dm-mb``) in ``ablation-minibatch.md`` / ``.csv`` / ``.png``.

    python benchmarks/accuracy.py --dataset lastfm --data-dir ../shared/data            # all models, 5 folds
    python benchmarks/accuracy.py --quick                                                  # 1 fold, few epochs
    python benchmarks/accuracy.py --ablation --folds 0                                     # Fig. 4 cells of fold 0
    python benchmarks/accuracy.py --collect --ablation                                     # tables only, train nothing
    python benchmarks/accuracy.py --ablation minibatch                                     # the same in the mini-batch mode
    python benchmarks/accuracy.py --tuned benchmarks/results/tuning                        # settings from hetrec tune

With ``--tuned DIR``, a model with ``DIR/<dataset>/<model>/best.json`` (written by ``hetrec tune``,
e.g. through ``benchmarks/tune_all.sh``) trains with its tuned model settings, learning rate,
epochs and patience instead of the registry's, and the table's header names the models whose cells
used tuned settings. ``--tuned DIR1,DIR2`` takes, per model, the finished study with the best
validation value among the folders, and the tuning column counts the trials of all of them.
``mthgt-minibatch``, without a study of its own, trains with ``mthgt``'s (``STUDY_OF``: the same
model in another training mode, with 16 in-edges drawn per node and layer), and ``pinsage-ui``
with ``bprmf``'s (its layer 0 is a BPR-MF); their tuning column says so.
Cells of other settings are never mixed with them: a model's run folder
records its settings, and resuming it with others is refused (remove the old cells to retrain).

The tables (and the CSV) always hold every finished cell found on disk, whichever models and
folds this run trained: runs over different subsets, one after another or in parallel, add up.
"""
from __future__ import annotations

import argparse
import dataclasses
import io
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("DGLBACKEND", "pytorch")

import torch  # noqa: E402
from _common import first_study, machine, tuned_dirs, write_csv_atomically  # noqa: E402

from hetrec.data import load_dataset  # noqa: E402
from hetrec.data.files import atomic_write_bytes  # noqa: E402
from hetrec.eval import mean_std  # noqa: E402
from hetrec.models import TRAINING, model_class  # noqa: E402
from hetrec.train import TrainConfig  # noqa: E402
from hetrec.train.experiment import ExperimentConfig, run_experiment  # noqa: E402

TABLE3_MODELS = ["mostpop", "itemknn", "rp3beta", "ease", "gfcf", "bprmf", "ials", "multvae", "hin2vec", "ngcf", "lightgcn",
                 "lightgcn-softmax", "xsimgcl", "pinsage", "pinsage-ui", "mthgt", "mthgt-cl", "mthgt-ials",
                 "mthgt-minibatch"]
ABLATION_MODELS = ["hgt", "hgt-d", "hgt-m", "mthgt-sampled"]
#: the same ablation in the mini-batch mode (issue #25): uniform / dense in-edge draws, one / two tasks
MINIBATCH_ABLATION_MODELS = ["hgt-mb", "hgt-d-mb", "hgt-m-mb", "mthgt-dm-mb"]
#: --ablation's value -> (models, output stem); the last model is the paired tables' reference
ABLATIONS = {"sampled": (ABLATION_MODELS, "ablation"), "minibatch": (MINIBATCH_ABLATION_MODELS, "ablation-minibatch")}
LABELS = {"mostpop": "MostPop", "itemknn": "ItemKNN", "bprmf": "BPR-MF", "ials": "iALS (MF)", "hin2vec": "HIN2Vec",
          "ngcf": "NGCF", "lightgcn": "LightGCN", "pinsage": "PinSage", "mthgt": "MTHGT",
          "hgt": "HGT", "hgt-d": "HGT-d", "hgt-m": "HGT-m", "mthgt-sampled": "MTHGT (sampled)",
          "mthgt-paper": "MTHGT (paper recipe)", "lightgcn-softmax": "LightGCN (sampled softmax)",
          "rp3beta": "RP3beta", "ease": "EASE", "gfcf": "GF-CF", "multvae": "MultVAE", "xsimgcl": "XSimGCL",
          "pinsage-ui": "PinSage (user-item)", "mthgt-cl": "MTHGT + contrastive",
          "mthgt-minibatch": "MTHGT (mini-batch)", "mthgt-ials": "MTHGT (iALS loss)",
          "hgt-mb": "HGT (mini-batch)", "hgt-d-mb": "HGT-d (mini-batch)",
          "hgt-m-mb": "HGT-m (mini-batch)", "mthgt-dm-mb": "MTHGT dense, two tasks (mini-batch)"}
#: training settings per model: the registry's recommended ones (hetrec.models.TRAINING)
TRAIN_SETTINGS = TRAINING
QUICK = dict(epochs=2, patience=2)
METRICS = ("P", "R", "HR", "NDCG")


#: a model without a study of its own trains with another model's study, plus settings of its own:
#: MTHGT's mini-batch mode is the same model and loss as full-graph MTHGT, and issue #25 compares
#: the two modes at the same settings (a user whose graph outgrows full-graph training keeps the
#: settings tuned for it). The mode's one setting, the in-edges drawn per node and layer, was
#: chosen on Last.FM fold-0 validation with mthgt's tuned settings (4 layers): 8 (the recipe's,
#: chosen for 3 layers) 0.1607, 16 0.1756 against full-graph 0.1785 (docs/scale.md). The
#: user-item PinSage's layer 0 is a BPR-MF trained with BPR's loss: it takes BPR-MF's tuned
#: training settings (width, negatives, L2, lr, epochs, patience), its convolutions keeping their
#: own (docs/baselines_pinsage_hin2vec.md)
STUDY_OF = {"mthgt-minibatch": ("mthgt", {"history_fanout": 16}), "pinsage-ui": ("bprmf", {})}


def model_study(tuned, dataset: str, model: str) -> tuple:
    """``(study model, best)``: the finished study that ``model``'s cells train with under the
    ``--tuned`` folders (its own, else :data:`STUDY_OF`'s, whose model settings then carry the
    borrower's own), or ``(None, None)``."""
    borrowed, extra = STUDY_OF.get(model, (None, {}))
    study, best = first_study(tuned, dataset, (model, borrowed))
    if study is not None and study != model:
        best = {**best, "model_overrides": {**best["model_overrides"], **extra}}
    return study, best


def tuned_label(tuned, dataset: str, model: str) -> str:
    """A tuned model's name in the table header, with the study it borrows (:data:`STUDY_OF`)."""
    study = model_study(tuned, dataset, model)[0]
    return model if study in (None, model) else f"{model} (with {study}'s study)"


def cell_settings(args, model) -> tuple:
    """``(training settings, model overrides)`` of a model's cells: the registry's, replaced by
    the tuned ones of ``--tuned`` (:func:`model_study`), then by ``--quick`` / ``--epochs`` /
    ``--patience``."""
    settings, overrides = dict(TRAIN_SETTINGS.get(model, {})), {}
    best = model_study(args.tuned, args.dataset, model)[1]
    if best is not None:
        settings.update(best["train"])
        overrides = dict(best["model_overrides"])
    if args.quick:
        settings.update(QUICK)
    if args.epochs:
        settings["epochs"] = args.epochs
    if args.patience:
        settings["patience"] = args.patience
    return settings, overrides


def tuned_models(root: Path, tuned_dir, dataset: str, models) -> list:
    """The models whose run folder under ``root`` was trained with their best.json's settings
    (the training settings of a closed-form model, which has none to use, are not compared)."""
    out = []
    for model in models:
        best, config = model_study(tuned_dir, dataset, model)[1], root / model / "config.json"
        if best is None or not config.is_file():
            continue
        cfg = json.loads(config.read_text())
        train = best["train"] if model_class(model).trainable else {}
        if cfg.get("model_overrides") == best["model_overrides"] and all(
                cfg.get("train", {}).get(k) == v for k, v in train.items()):
            out.append(model)
    return out


def train_cells(args, models, dataset) -> None:
    """Run the requested (model, fold) cells that are not finished yet."""
    for model in models:
        settings, overrides = cell_settings(args, model)
        tcfg = TrainConfig(seed=args.seed, max_batches=args.max_batches, progress=False, **settings)
        cfg = ExperimentConfig(dataset=args.dataset, model=model, folds=args.folds, k=args.k, seed=args.seed,
                               data_dir=args.data_dir, verify=not args.no_verify, model_overrides=overrides,
                               train=tcfg)
        out = Path(args.out) / args.dataset / model
        # a cell with its metrics is finished: the committed cells keep only their metrics and
        # logs (model.pt is not committed), and --resume would rebuild a fold without its model
        todo = [f for f in args.folds if not (out / f"fold-{f}" / "metrics.json").is_file()]
        if not todo:
            print(f"== {model}: folds {args.folds} finished ({out})", file=sys.stderr, flush=True)
            continue
        cfg = dataclasses.replace(cfg, folds=todo)
        print(f"== {model}: folds {todo} -> {out}", file=sys.stderr, flush=True)
        run_experiment(cfg, out, resume=True, dataset=dataset,
                       log=lambda m, model=model: print(f"   {model} {m}", file=sys.stderr, flush=True))


def collect_rows(root: Path, models, k: int, dataset: str) -> list:
    """One row per finished (model, fold) cell found under ``root`` (``<model>/fold-<f>/metrics.json``).

    Tables are always built from every finished cell on disk, so a run over a subset of models
    or folds (or several runs in parallel) never shrinks them to its own cells.
    """
    rows = []
    for model in models:
        for f in range(k):
            path = root / model / f"fold-{f}" / "metrics.json"
            if not path.is_file():
                continue
            rec = json.loads(path.read_text())
            row = {"dataset": dataset, "model": model, "fold": f, "best_epoch": rec.get("best_epoch"),
                   "epochs": rec.get("epochs"), "train_seconds": rec.get("train_seconds"),
                   "wall_seconds": rec.get("wall_seconds"), "step_seconds_median": rec.get("step_seconds_median"),
                   "sampling_share": rec.get("sampling_share")}
            row.update(rec["test"])
            rows.append(row)
    return rows


def fmt(stats, key, n, digits=4):
    """``mean ± std`` over ``n`` folds; the mean alone for one fold (no spread to show)."""
    if key not in stats:
        return "–"
    m, s = stats[key]
    return f"{m:.{digits}f}" if n == 1 else f"{m:.{digits}f} ± {s:.{digits}f}"


def tuning_seconds(tuned, dataset: str, model: str):
    """``(trials, seconds)`` of the model's studies under the ``--tuned`` folders (their
    trials.csv, added up: the whole tuning cost of the row), or None."""
    import csv

    trials = []
    for folder in tuned_dirs(tuned):
        path = folder / dataset / model / "trials.csv"
        if path.is_file():
            with open(path, newline="") as f:
                trials += list(csv.DictReader(f))
    return (len(trials), sum(float(t["seconds"] or 0) for t in trials)) if trials else None


def tuning_cost(tuned, dataset: str, model: str):
    """The tuning column of a tuned row: ``(trials, seconds)`` of its own studies, or the text
    naming the study it borrows (:data:`STUDY_OF`: no trial of its own)."""
    study = model_study(tuned, dataset, model)[0]
    if study is not None and study != model:
        return f"0 ({LABELS.get(study, study)}'s settings)"
    return tuning_seconds(tuned, dataset, model)


def table3(rows, models, tuning: dict | None = None) -> str:
    """Table-3 layout; ``tuning`` (model -> (trials, seconds), or a text) adds the tuning cost per model."""
    cols = [f"{m}@10" for m in METRICS]
    extra = " tuning (trials, s) |" if tuning is not None else ""
    lines = ["| model | " + " | ".join(cols) + " | folds | train s / fold |" + extra,
             "|---|" + "---:|" * (len(cols) + 2 + (tuning is not None))]
    for model in models:
        rs = [r for r in rows if r["model"] == model]
        if not rs:
            continue
        stats = mean_std(rs)
        # closed-form models fit in setup: their cost is the cell's wall time (fit + evaluation)
        secs = sum(r["train_seconds"] or r["wall_seconds"] or 0 for r in rs) / len(rs)
        cost = ""
        if tuning is not None:
            t = tuning.get(model)
            cost = f" {t} |" if isinstance(t, str) else f" {t[0]}, {t[1]:.0f} |" if t else " – |"
        lines.append(f"| {LABELS.get(model, model)} | " + " | ".join(fmt(stats, c, len(rs)) for c in cols)
                     + f" | {len(rs)} | {secs:.0f} |" + cost)
    return "\n".join(lines)


def ablation_table(rows, models=ABLATION_MODELS) -> str:
    """Fig. 4's four variants ``models`` (the last one, MTHGT, the paired tables' reference)."""
    cols = [f"{m}@{n}" for n in (5, 10, 20) for m in METRICS]
    lines = ["| model | " + " | ".join(cols) + " | folds |", "|---|" + "---:|" * (len(cols) + 1)]
    ref = models[-1]
    for model in models:
        rs = [r for r in rows if r["model"] == model]
        if rs:
            stats = mean_std(rs)
            lines.append(f"| {LABELS[model]} | " + " | ".join(fmt(stats, c, len(rs)) for c in cols)
                         + f" | {len(rs)} |")
    paired = paired_table(rows, ref, [m for m in models if m != ref])
    text = "\n".join(lines) + ("\n\n" + paired if paired else "")
    factors = factor_table(rows, models)
    text += "\n\n" + factors if factors else ""
    rho = stopping_correlation([r for r in rows if r["model"] in models])
    if rho is not None:
        text += (f"\n\nEarly-stopping check: Spearman correlation between the best (early-stopping) epoch and "
                 f"test NDCG@10 over these {rho[1]} cells: {rho[0]:+.2f}. A value near +1 means the cells that "
                 "stopped early are the weak ones, i.e. differences may come from when training stopped.")
    return text


def factor_table(rows, models, metric="NDCG@10") -> str:
    """The paper's two questions as paired per-fold differences of ``metric``, for the four
    variants ``models`` = (uniform one task, dense one task, uniform two tasks, dense two tasks):
    the sampler with one task and with two, the second task with each sampler. One column per
    fold both cells finished, then mean ± std and the folds where the first is ahead."""
    uni1, den1, uni2, den2 = models
    pairs = [(uni1, den1, "sampler, one task"), (uni2, den2, "sampler, two tasks"),
             (uni2, uni1, "second task, uniform"), (den2, den1, "second task, dense")]
    by = {(r["model"], r["fold"]): r[metric] for r in rows if metric in r}
    folds = sorted({f for (_, f) in by})
    lines = []
    for a, b, what in pairs:
        common = [f for f in folds if (a, f) in by and (b, f) in by]
        if not common:
            continue
        d = {f: by[(a, f)] - by[(b, f)] for f in common}
        m, sd = mean_std([{"d": x} for x in d.values()])["d"]
        cells = [f"{d[f]:+.4f}" if f in d else "–" for f in folds]
        spread = f"{m:+.4f} ± {sd:.4f}" if len(d) > 1 else f"{m:+.4f}"  # one fold: no spread
        lines.append(f"| {LABELS.get(a, a)} − {LABELS.get(b, b)} ({what}) | " + " | ".join(cells)
                     + f" | {spread} | {sum(x > 0 for x in d.values())}/{len(d)} |")
    if not lines:
        return ""
    head = [f"| Δ{metric}, paired by fold | " + " | ".join(f"fold {f}" for f in folds) + " | mean ± std | folds ahead |",
            "|---|" + "---:|" * (len(folds) + 2)]
    return "\n".join(head + lines)


def stopping_correlation(rows, metric="NDCG@10"):
    """``(rho, n)``: Spearman correlation of best epoch and test ``metric`` over cells that have both
    (``None`` for fewer than 3 cells or no spread)."""
    from scipy.stats import spearmanr

    pairs = [(r["best_epoch"], r[metric]) for r in rows if r.get("best_epoch") is not None and metric in r]
    if len(pairs) < 3 or len({a for a, _ in pairs}) < 2 or len({b for _, b in pairs}) < 2:
        return None
    a, b = zip(*pairs)
    return float(spearmanr(a, b).statistic), len(pairs)


def paired_table(rows, ref: str, others, cols=("R@10", "NDCG@10")) -> str:
    """Per-fold differences ``ref - other`` on the folds both finished: mean ± std and wins.

    Folds share their test users, so the fold-to-fold spread in the main table is mostly common
    to all models; the paired difference is the fairer way to read a gap of a few thousandths.
    """
    by = {(r["model"], r["fold"]): r for r in rows}
    lines = []
    for other in others:
        folds = sorted(f for (m, f) in by if m == other and (ref, f) in by)
        if not folds:
            continue
        cells = []
        for c in cols:
            d = [by[(ref, f)][c] - by[(other, f)][c] for f in folds]
            m, s = mean_std([{"d": x} for x in d])["d"]
            wins = sum(x > 0 for x in d)
            cells.append(f"{m:+.4f} ± {s:.4f} ({wins}/{len(d)})")
        lines.append(f"| {LABELS.get(ref, ref)} − {LABELS.get(other, other)} | " + " | ".join(cells)
                     + f" | {len(folds)} |")
    if not lines:
        return ""
    head = ["| paired difference per fold | " + " | ".join(f"Δ{c} (folds {LABELS.get(ref, ref)} ahead)" for c in cols)
            + " | folds |", "|---|" + "---:|" * (len(cols) + 1)]
    return "\n".join(head + lines)


def ablation_plot(rows, path: Path, models=ABLATION_MODELS) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed (pip install 'hetrec[plot]'): no PNG", file=sys.stderr)
        return False
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.2))
    width = 0.2
    for ax, metric in zip(axes, METRICS):
        for j, model in enumerate(models):
            rs = [r for r in rows if r["model"] == model]
            if not rs:
                continue
            stats = mean_std(rs)
            vals = [stats[f"{metric}@{n}"][0] for n in (5, 10, 20)]
            errs = [stats[f"{metric}@{n}"][1] for n in (5, 10, 20)]  # sample std over folds (0 for one)
            ax.bar([i + (j - 1.5) * width for i in range(3)], vals, width, yerr=errs, capsize=2,
                   label=f"{LABELS[model]} ({len(rs)} fold{'s' if len(rs) > 1 else ''})")
        ax.set_xticks(range(3), ["N=5", "N=10", "N=20"])
        ax.set_title(f"{metric}@N (mean ± std over folds)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    atomic_write_bytes(path, buf.getvalue())
    return True


COLLECT_MACHINE = "machine of this collect run (not necessarily where or with how many threads the cells trained)"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="lastfm", choices=["lastfm", "ml-1m"])
    p.add_argument("--data-dir", default=None)
    p.add_argument("--no-verify", action="store_true")
    p.add_argument("--models", default=None, help="comma-separated (default: the Table-3 models)")
    p.add_argument("--ablation", nargs="?", const="sampled", default=None, choices=sorted(ABLATIONS),
                   help="run the Fig. 4 ablation models instead: sampled training (the default, as the paper) "
                        "or the mini-batch mode (--ablation minibatch)")
    p.add_argument("--folds", default=None, help="comma-separated fold ids (default: all k; --quick: 0)")
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=None, help="override every model's epoch budget")
    p.add_argument("--patience", type=int, default=None,
                   help="override every model's early-stopping patience (use its own --out: a folder's "
                        "cells refuse to resume under other settings)")
    p.add_argument("--max-batches", type=int, default=None)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--quick", action="store_true", help="1 fold, 2 epochs (a smoke run, not a result)")
    p.add_argument("--collect", action="store_true", help="only tabulate finished (model, fold) cells; train nothing")
    p.add_argument("--tuned", default=None, metavar="DIR[,DIR...]",
                   help="use the settings of DIR/<dataset>/<model>/best.json (hetrec tune) where present; "
                        "with several folders, the study with the best validation value")
    p.add_argument("--out", default="benchmarks/results/accuracy")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    ablation_models, ablation_stem = ABLATIONS[args.ablation] if args.ablation else (None, None)
    models = ablation_models or TABLE3_MODELS
    if args.models:
        models = [m.strip() for m in args.models.split(",") if m.strip()]
    args.folds = ([int(f) for f in args.folds.split(",")] if args.folds
                  else [0] if args.quick else list(range(args.k)))
    if args.quick:  # never mix smoke-run cells with real ones
        args.out = str(Path(args.out).with_name(Path(args.out).name + "-quick"))
    t0 = time.perf_counter()
    dataset = None if args.collect else load_dataset(args.dataset, root=args.data_dir, verify=not args.no_verify)
    if not args.collect:
        train_cells(args, models, dataset)
    out = Path(args.out) / args.dataset
    stem = ablation_stem or "accuracy"
    layout = ablation_models or TABLE3_MODELS
    listed = layout + [m for m in models if m not in layout]
    rows = collect_rows(out, listed, args.k, args.dataset)
    write_csv_atomically(rows, out / f"{stem}.csv")
    folds_done = {m: sorted(r["fold"] for r in rows if r["model"] == m) for m in dict.fromkeys(r["model"] for r in rows)}
    tuned_names = [tuned_label(args.tuned, args.dataset, m)
                   for m in tuned_models(out, args.tuned, args.dataset, folds_done)] if args.tuned else []
    header = (f"{args.dataset}, {args.k}-fold split (seed {args.seed}); every finished (model, fold) cell under "
              f"{out} (folds per model: {'; '.join(f'{m} {fs}' for m, fs in folds_done.items())})"
              f"{' QUICK (smoke run, not a result)' if args.quick else ''}\n\n"
              + (f"settings: tuned on validation (hetrec tune; the best finished study among "
                 f"{{{args.tuned}}}/{args.dataset}/<model>/best.json) for "
                 f"{', '.join(tuned_names) or 'no model'}; "
                 "the registry's (hetrec.models.TRAINING, each model's defaults) for the others\n\n"
                 if args.tuned else "")
              + f"{COLLECT_MACHINE if args.collect else 'machine'}: {machine()}\n"
              f"command: python benchmarks/{Path(__file__).name} {' '.join(sys.argv[1:] if argv is None else argv)}\n\n")
    tuning = ({m: tuning_cost(args.tuned, args.dataset, m) for m in tuned_models(out, args.tuned, args.dataset, listed)}
              if args.tuned else None)
    text = header + (ablation_table(rows, ablation_models) if args.ablation else table3(rows, listed, tuning)) + "\n"
    atomic_write_bytes(out / f"{stem}.md", text.encode())
    if args.ablation:
        ablation_plot(rows, out / f"{stem}.png", ablation_models)
    print(text)
    print(f"wall time {time.perf_counter() - t0:.0f} s; CSV {out / (stem + '.csv')}", file=sys.stderr)


if __name__ == "__main__":
    main()
