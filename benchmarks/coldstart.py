"""Cold-start benchmark (#26, docs/coldstart.md): models x settings x folds.

Protocols (:mod:`hetrec.data.coldstart`): ``cold-items`` (a fold's items lose every interaction;
each user with an interaction on them ranks all of the fold's cold items) and ``cold-users`` (a
fold's users keep only their attribute edges; they rank every item). One model is trained per
(model, protocol, fold) cell, early-stopped on the warm validation interactions, then evaluated
on the cold nodes without retraining. A ``cold-users`` cell gives several rows:

* ``cold-users``: nothing revealed, the targets are all of the cold users' interactions;
* ``cold-users-n0``, ``-n1``, ``-n3``, ``-n5``: the users' first n interactions revealed at
  inference (added to the graph, excluded from the ranking), the targets their interactions after
  the first 5 (the same targets for every n).

Models with cold-start scoring (``Recommender.cold_start_scorer``) embed or score the cold nodes
from their attribute edges (and revealed interactions); interaction-only models are scored with
their ordinary ``scores`` for contrast (column ``inductive`` false): their cold nodes' vectors
never met an interaction.

Every cell lives in ``OUT/<dataset>/<model>/<protocol>/fold-<f>`` (``result.json`` once finished,
read back and never recomputed); ``OUT/<dataset>/coldstart.csv`` holds one row per model x setting
x fold and ``coldstart.md`` the tables (mean ± std over folds).

    python benchmarks/coldstart.py --dataset lastfm --data-dir ../shared/data --folds 0 1 2 3 4
    python benchmarks/coldstart.py --dataset lastfm --models attr-mostpop,lightfm --settings cold-items
    python benchmarks/coldstart.py --dataset lastfm --collect          # tables only, train nothing
    python benchmarks/coldstart.py --dataset lastfm --validation --folds 0   # choose settings here

``--validation`` runs the same cells on a **nested** split that never sees a test node: the training
graph of outer fold 0 (its cold nodes have no interaction there, so they are never dealt, and its
warm validation interactions are gone) is dealt again into k folds with the same seed, and the
cells go to ``OUT/<dataset>/validation/``. Choices between variants of a model (LightFM's
normalisation, MTHGT's ID dropout, ...) are made on those numbers, never on the test folds.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

os.environ.setdefault("DGLBACKEND", "pytorch")

import torch  # noqa: E402
from _common import first_study, machine, write_csv_atomically  # noqa: E402

from hetrec._integrity import load_pt  # noqa: E402
from hetrec._schemas import MODEL_FILE  # noqa: E402
from hetrec.data import DataError, cold_start_split, load_dataset  # noqa: E402
from hetrec.data.coldstart import SETTINGS  # noqa: E402
from hetrec.data.files import atomic_write_bytes  # noqa: E402
from hetrec.eval import mean_std, topn_metrics  # noqa: E402
from hetrec.models import MODELS, TRAINING, create_model  # noqa: E402
from hetrec.models.attrmap import TooManyPairs  # noqa: E402
from hetrec.train import TrainConfig, Trainer  # noqa: E402

DEFAULT_MODELS = ["mostpop", "ease", "attr-mostpop", "attr-profile", "lightfm", "lightfm-attr", "lightfm-attr-raw",
                  "mthgt", "mthgt-coldmean", "mthgt-coldmap", "mthgt-coldmap2", "mthgt-cold"]
#: revealed interactions of the cold-user variant, and the targets' start (after the first REVEAL_MAX)
REVEALS = (0, 1, 3, 5)
REVEAL_MAX = max(REVEALS)
ROW_SETTINGS = ["cold-items", "cold-users"] + [f"cold-users-n{n}" for n in REVEALS]
METRICS = ("P", "R", "HR", "NDCG")
#: models that differ from another only in settings read at inference: their cells load the other
#: model's trained weights from the same (setting, fold) cell, where it is finished, instead of
#: training the same model again (either way round)
_INFERENCE = {"cold_init", "cold_map_degree", "cold_map_l2"}
REUSE = {"mthgt-coldmean": (("mthgt",), _INFERENCE), "mthgt": (("mthgt-coldmean",), _INFERENCE),
         "mthgt-coldmap": (("mthgt", "mthgt-coldmean"), _INFERENCE),
         "mthgt-coldmap2": (("mthgt", "mthgt-coldmean"), _INFERENCE)}
NS = (5, 10, 20)
#: "<model>+map" / "<model>+map2": an interaction-only embedding model (BPR-MF, LightGCN, ...) scored on
#: cold nodes through the attribute map of degree 1 / 2 (hetrec.models.attrmap.embedding_cold_start_scorer),
#: the inference rule of mthgt-coldmap offered to the baselines; trained as <model>, whose cell's weights
#: it reuses when they exist
MAP_SUFFIXES = {"+map": 1, "+map2": 2}
#: the ``hetrec tune`` study a ``~tuned`` name reads when the model has none of its own: these are
#: trained exactly as ``mthgt`` (their settings act on cold nodes at inference only)
STUDY_OF = {"mthgt-coldmean": "mthgt", "mthgt-coldmap": "mthgt", "mthgt-coldmap2": "mthgt"}


def split_name(name: str) -> tuple:
    """``(registry model, attribute-map degree or None)`` of a benchmark model name (any
    ``~key=value`` settings removed: :func:`name_settings`)."""
    name = name.split("~", 1)[0]
    for suffix, degree in MAP_SUFFIXES.items():
        if name.endswith(suffix):
            return name[:-len(suffix)], degree
    return name, None


def name_settings(name: str) -> dict:
    """The settings a benchmark model name carries: ``mthgt-coldmap~cold_map_l2=100`` is
    ``mthgt-coldmap`` with ``cold_map_l2=100`` (values parse as JSON, else as text). A variant has
    a cell folder of its own, named by the whole string, so that settings chosen on the validation
    split are compared cell by cell (docs/coldstart.md, "Choosing on validation"). For a
    ``<model>+map`` name, ``cold_map_l2`` is the map's ridge weight λ; every other key is a setting
    of the registry model.

    The bare flag ``~tuned`` (``{"tuned": True}``) trains the model with the settings of its
    finished ``hetrec tune`` study under ``--tuned DIR`` (:func:`tuned_study`); ``~key=value``
    settings in the same name are applied on top."""
    out = {}
    for part in name.split("~")[1:]:
        if part == "tuned":
            out["tuned"] = True
            continue
        key, eq, value = part.partition("=")
        if not key or not eq:
            raise ValueError(f"{name!r}: expected MODEL~KEY=VALUE, got {part!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def tuned_study(tuned, dataset: str, model_name: str) -> dict:
    """The finished ``hetrec tune`` study that a ``~tuned`` name trains with: the best of
    ``<DIR>/<dataset>/<model>/best.json`` among the ``--tuned`` folders, for the registry model or,
    where it has no study, the model it is trained as (:data:`STUDY_OF`; a ``+map`` name's base).
    ``ValueError`` names what is missing."""
    base = split_name(model_name)[0]
    if not tuned:
        raise ValueError("a ~tuned name needs --tuned DIR (the folder of hetrec tune's studies)")
    best = first_study(tuned, dataset, (base, STUDY_OF.get(base)))[1]
    if best is not None:
        return best
    raise ValueError(f"no finished hetrec tune study of {base}"
                     + (f" or {STUDY_OF[base]}" if base in STUDY_OF else "")
                     + f" under {tuned} for {dataset} (<DIR>/{dataset}/<model>/best.json)")


def cell_config(args, model_name: str) -> tuple:
    """``(model overrides, training settings, study or None)`` of a benchmark model name: the
    registry's training settings, the study's (``~tuned``), the name's own settings, then
    ``--epochs`` / ``--patience``. For a ``+map`` name, ``cold_map_l2`` stays in the overrides."""
    base = split_name(model_name)[0]
    overrides = name_settings(model_name)
    settings = dict(TRAINING.get(base, {}))
    study = None
    if overrides.pop("tuned", False):
        study = tuned_study(getattr(args, "tuned", None), args.dataset, model_name)
        settings.update(study["train"])
        overrides = {**study["model_overrides"], **overrides}
    if args.epochs:
        settings["epochs"] = args.epochs
    if args.patience:
        settings["patience"] = args.patience
    return overrides, settings, study


def evaluate_cell(model, split, map_degree=None, map_l2=10.0) -> dict:
    """``{setting: metrics}`` of a trained model on a cold-start fold (module docstring); with
    ``map_degree``, cold nodes are scored through the attribute map of that degree and ridge
    weight ``map_l2``."""
    from hetrec.models.attrmap import embedding_cold_start_scorer

    model.eval()
    inductive = True

    def scorer(graph):
        nonlocal inductive
        if map_degree is not None:
            return embedding_cold_start_scorer(model, graph, split.cold_nodes, degree=map_degree, l2=map_l2)
        try:
            return model.cold_start_scorer(graph, split.cold_nodes)
        except NotImplementedError:  # interaction-only: its own scores, for contrast
            inductive = False
            model.prepare_scoring()
            return model.scores

    out = {}
    with torch.no_grad():
        if split.setting == "cold-items":
            out["cold-items"] = topn_metrics(score_fn=scorer(split.train_graph), test=split.test,
                                             candidates=split.candidates, ns=NS)
        else:
            out["cold-users"] = topn_metrics(score_fn=scorer(split.train_graph), test=split.test, ns=NS)
            target = split.test_after(REVEAL_MAX)
            for n in REVEALS:
                graph = split.graph_with(n)
                out[f"cold-users-n{n}"] = topn_metrics(score_fn=scorer(graph), test=target,
                                                       exclude=split.revealed(n) if n else None, ns=NS)
    for m in out.values():
        m["inductive"] = inductive
    return out


def run_cell(args, model_name: str, setting: str, fold: int, folds, out: Path) -> None:
    path = out / "result.json"
    if path.is_file():
        return
    out.mkdir(parents=True, exist_ok=True)
    base, degree = split_name(model_name)
    overrides, settings, study = cell_config(args, model_name)
    map_l2 = overrides.pop("cold_map_l2", 10.0) if degree is not None else 10.0
    split = folds[fold]
    model = create_model(base, **overrides)
    plain = model_name.split("~", 1)[0]
    donors = REUSE.get(plain) or (((base,) + tuple(base + x for x in MAP_SUFFIXES if base + x != plain),
                                   set()) if degree is not None else None)
    if donors:
        # a name trained otherwise than its plain donors (~tuned, ~hidden_size=...) reads only
        # the variant cells trained as it is
        inference_only = donors[1] | {"cold_map_l2"}
        plain_donors = () if _trained_as(model_name, inference_only) else donors[0]
        donors = (plain_donors + _variant_donors(out.parent.parent.parent, model_name, (plain,) + donors[0],
                                                 inference_only), donors[1])
    if donors and _reuse_weights(args, model, model_name, split, out, folds, path, donors, degree, map_l2):
        return
    trainer = Trainer(TrainConfig(seed=args.seed, num_threads=args.threads, progress=False, **settings),
                      out_dir=out, log=lambda m: print(f"   {model_name} {setting} f{fold} {m}", file=sys.stderr,
                                                       flush=True))
    t0 = time.perf_counter()
    fit = trainer.fit(model, split, resume=(out / "checkpoint.pt").is_file(), evaluate_test=False)
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    results = evaluate_cell(model, split, degree, map_l2)
    record = {"dataset": args.dataset, "model": model_name, "protocol": setting, "fold": fold, "k": args.k,
              "nested_validation": bool(args.validation),
              "seed": args.seed, "split_digest": folds.digest(), "best_epoch": fit.best_epoch,
              "warm_val": fit.val, "train_seconds": train_s, "eval_seconds": time.perf_counter() - t0,
              "results": results, "machine": machine()}
    if study is not None:
        record["tuned"] = {k: study.get(k) for k in ("model", "trials", "best_trial", "value", "model_overrides", "train")}
    atomic_write_bytes(path, json.dumps(record, indent=1).encode())
    (out / "checkpoint.pt").unlink(missing_ok=True)
    nd = {s: round(m["NDCG@10"], 4) for s, m in results.items()}
    print(f"== {model_name} {setting} fold {fold}: NDCG@10 {nd} ({train_s:.0f}s)", file=sys.stderr, flush=True)


def _variant_donors(root: Path, model_name: str, names, inference_only) -> tuple:
    """The variant cells (``NAME~...`` folders under ``root``, for ``NAME`` in ``names``) whose
    weights ``model_name`` may read: those that differ from it in inference-only settings alone
    (``mthgt-coldmap2~cold_map_l2=30`` reads the weights that ``mthgt-coldmap2~cold_map_l2=1``
    trained). Sorted by name, so the choice does not depend on the file system's order."""
    mine = _trained_as(model_name, inference_only)
    out = []
    for name in names:
        for d in sorted(root.glob(f"{name}~*")):
            if (d.is_dir() and d.name != model_name and d.name.split("~", 1)[0] == name
                    and _trained_as(d.name, inference_only) == mine):
                out.append(d.name)
    return tuple(out)


def _trained_as(name: str, inference_only) -> dict:
    """The settings of a benchmark name that change its training (``~tuned`` among them)."""
    return {k: v for k, v in name_settings(name).items() if k not in inference_only}


def _reuse_weights(args, model, model_name: str, split, out: Path, folds, path: Path, donors, map_degree,
                   map_l2=10.0) -> bool:
    """Evaluate ``model`` (benchmark name ``model_name``) with the weights its first finished donor
    (``donors``: names and the settings read at inference only, :data:`REUSE`, or the base model of a
    "+map" name) learned in the same cell; False when no donor cell is finished (it is then trained)."""
    donors, inference_only = donors
    for donor in donors:
        donor_dir = out.parent.parent.parent / donor / out.parent.name / out.name
        if (donor_dir / "result.json").is_file() and (donor_dir / "model.pt").is_file():
            break
    else:
        return False
    saved, _ = load_pt(donor_dir / "model.pt", MODEL_FILE)
    # a setting newer than the donor's file is compared at its default (the behaviour before it existed)
    defaults = asdict(type(model.config)())
    mine = {k: v for k, v in asdict(model.config).items() if k not in inference_only}
    theirs = {k: saved["model_config"].get(k, defaults[k]) for k in mine}
    theirs.update({k: v for k, v in saved["model_config"].items() if k not in inference_only and k not in mine})
    if saved["model_name"] != split_name(donor)[0] or json.dumps(mine, default=str) != json.dumps(theirs, default=str):
        raise SystemExit(f"error: {donor_dir / 'model.pt'} is not a {donor!r} model trained with "
                         f"{model_name!r}'s settings")
    rec = read_result(donor_dir / "result.json")
    if rec["split_digest"] != folds.digest():
        raise SystemExit(f"error: {donor_dir} was trained on another split")
    model.setup(split)
    model.load_state_dict(saved["model"])
    t0 = time.perf_counter()
    results = evaluate_cell(model, split, map_degree, map_l2)
    record = {**{k: rec[k] for k in ("dataset", "protocol", "fold", "k", "seed", "split_digest", "best_epoch",
                                     "warm_val", "train_seconds")},
              "model": model_name, "nested_validation": bool(args.validation), "weights_of": donor,
              "eval_seconds": time.perf_counter() - t0, "results": results, "machine": machine()}
    if "tuned" in rec:
        record["tuned"] = rec["tuned"]
    atomic_write_bytes(path, json.dumps(record, indent=1).encode())
    nd = {s: round(m["NDCG@10"], 4) for s, m in results.items()}
    print(f"== {model_name} {split.setting} fold {split.fold}: NDCG@10 {nd} (weights of {donor})",
          file=sys.stderr, flush=True)
    return True


_RESULT_KEYS = ("dataset", "model", "protocol", "fold", "split_digest", "best_epoch", "warm_val", "train_seconds",
                "results")


def read_result(path: Path) -> dict:
    """A finished cell's ``result.json``, checked to be one this script wrote (a JSON object with
    its keys, every setting's metrics a mapping); anything else ends the run with one line naming
    the file."""
    try:
        rec = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise SystemExit(f"error: {path}: not a readable cell result ({err}); remove the cell to run it again") from None
    missing = [k for k in _RESULT_KEYS if not isinstance(rec, dict) or k not in rec]
    if missing or not isinstance(rec["results"], dict) or not all(isinstance(m, dict) for m in rec["results"].values()):
        raise SystemExit(f"error: {path}: not a cell result of this benchmark (missing or malformed: "
                         f"{', '.join(missing) or 'results'}); remove the cell to run it again")
    return rec


def collect_rows(root: Path, models) -> list:
    rows = []
    for model in models:
        for res in sorted(root.glob(f"{model}/*/fold-*/result.json")):
            rec = read_result(res)
            for setting, m in rec["results"].items():
                row = {"dataset": rec["dataset"], "model": rec["model"], "setting": setting, "fold": rec["fold"],
                       "inductive": m.get("inductive"), "best_epoch": rec["best_epoch"],
                       "train_seconds": round(rec["train_seconds"], 1),
                       "warm_val_NDCG@10": rec["warm_val"].get("NDCG@10")}
                row.update({f"{k}@{n}": m[f"{k}@{n}"] for n in NS for k in METRICS})
                row["num_users"] = m["num_users"]
                rows.append(row)
    return rows


def tables(rows, models) -> str:
    cols = [f"{m}@{n}" for n in (10,) for m in METRICS] + ["NDCG@20"]
    parts = []
    for setting in ROW_SETTINGS:
        lines = [f"### {setting}", "", "| model | " + " | ".join(cols) + " | folds | inductive |",
                 "|---|" + "---:|" * (len(cols) + 1) + "---|"]
        any_row = False
        for model in models:
            rs = [r for r in rows if r["model"] == model and r["setting"] == setting]
            if not rs:
                continue
            any_row = True
            st = mean_std(rs)
            cell = [f"{st[c][0]:.4f}" + (f" ± {st[c][1]:.4f}" if len(rs) > 1 else "") for c in cols]
            lines.append(f"| {model} | " + " | ".join(cell) + f" | {len(rs)} | {'yes' if rs[0]['inductive'] else 'no'} |")
        if any_row:
            parts.append("\n".join(lines))
    return "\n\n".join(parts)


def paired_lines(rows, comparisons, metrics=("NDCG@10", "R@10")) -> list:
    """One line per ``(setting, a, b)`` of ``comparisons`` and metric: both means over the folds that
    both models have, the relative difference, the paired per-fold difference (mean ± standard
    error) and the folds where ``a`` is ahead. A comparison with no common fold gives a line saying so."""
    import numpy as np

    out = []
    for setting, a, b in comparisons:
        by = {m: {r["fold"]: r for r in rows if r["model"] == m and r["setting"] == setting} for m in (a, b)}
        folds = sorted(set(by[a]) & set(by[b]))
        if not folds:
            out.append(f"* {setting}: {a} vs {b}: no fold finished for both")
            continue
        for metric in metrics:
            x = np.array([by[a][f][metric] for f in folds])
            y = np.array([by[b][f][metric] for f in folds])
            d = x - y
            se = d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else float("nan")
            spread = f" ± {se:.4f} (s.e.)" if len(d) > 1 else " (one fold)"
            out.append(f"* {setting} {metric}: {a} {x.mean():.4f} vs {b} {y.mean():.4f}: "
                       f"{100 * (x.mean() / y.mean() - 1):+.1f} %, paired {d.mean():+.4f}{spread}, "
                       f"ahead in {int((d > 0).sum())}/{len(d)} folds")
    return out


def _comparison(text: str) -> tuple:
    parts = text.split(":")
    if len(parts) != 3 or not all(parts):
        raise argparse.ArgumentTypeError(f"expected SETTING:MODEL_A:MODEL_B, got {text!r}")
    return tuple(parts)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default="lastfm")
    p.add_argument("--data-dir", default=os.environ.get("HETREC_DATA"))
    p.add_argument("--models", default=",".join(DEFAULT_MODELS))
    p.add_argument("--settings", default=",".join(SETTINGS))
    p.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--patience", type=int, default=None)
    p.add_argument("--tuned", default=None, metavar="DIR[,DIR...]",
                   help="hetrec tune's studies (<DIR>/<dataset>/<model>/best.json), read by the ~tuned names: "
                        "mthgt-coldmap~tuned trains with mthgt's tuned settings (docs/coldstart.md)")
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "coldstart"))
    p.add_argument("--collect", action="store_true", help="write the tables from finished cells only")
    p.add_argument("--validation", action="store_true",
                   help="nested split inside outer fold 0's training graph (module docstring): choose settings here")
    p.add_argument("--compare", type=_comparison, action="append", default=[], metavar="SETTING:A:B",
                   help="also print (and add to coldstart.md) model A against model B, paired over the folds "
                        "both finished, e.g. cold-items:mthgt-coldmap:lightfm-attr-raw (repeatable)")
    args = p.parse_args(argv)
    models = [m for m in args.models.split(",") if m]
    settings = [s for s in args.settings.split(",") if s]
    unknown = [m for m in models if split_name(m)[0] not in MODELS]
    if unknown:
        p.error(f"unknown model(s) {', '.join(unknown)}; valid: {', '.join(MODELS)}")
    bad = [c[0] for c in args.compare if c[0] not in ROW_SETTINGS]
    if bad:
        p.error(f"--compare: unknown setting(s) {', '.join(bad)}; valid: {', '.join(ROW_SETTINGS)}")
    for m in models:  # a variant's settings must parse and be valid for its model before anything trains
        try:
            settings_of = cell_config(args, m)[0]
            if split_name(m)[1] is not None:
                lam = settings_of.pop("cold_map_l2", 10.0)
                if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not lam >= 0:
                    raise ValueError(f"the map's cold_map_l2 must be a number >= 0, got {lam!r}")
            create_model(split_name(m)[0], **settings_of)
        except (ValueError, TypeError) as err:
            p.error(f"model {m!r}: {err}")
    if set(settings) - set(SETTINGS):
        p.error(f"unknown setting(s) {', '.join(sorted(set(settings) - set(SETTINGS)))}; valid: {', '.join(SETTINGS)}")
    if args.threads < 1 or args.k < 2 or any(not 0 <= f < args.k for f in args.folds):
        p.error(f"--threads must be >= 1, --k >= 2 and every fold in 0..k-1 (k={args.k})")
    torch.set_num_threads(args.threads)
    root = Path(args.out) / args.dataset / ("validation" if args.validation else "")
    if not args.collect:
        try:
            graph = load_dataset(args.dataset, root=args.data_dir).graph
        except DataError as err:
            sys.exit(f"error: {err}")
        for setting in settings:
            folds = cold_start_split(graph, setting, k=args.k, seed=args.seed)
            if args.validation:  # deal outer fold 0's training graph again: no test node inside
                folds = cold_start_split(folds[0].train_graph, setting, k=args.k, seed=args.seed)
            for fold in args.folds:
                for model in models:
                    try:
                        run_cell(args, model, setting, fold, folds, root / model / setting / f"fold-{fold}")
                    except (ImportError, TooManyPairs) as err:  # an optional extra (lightfm) not installed,
                        # or a map of degree 2 over too many attribute values: the variant does not apply here
                        print(f"== {model}: skipped: {err}", file=sys.stderr, flush=True)
    every = list(dict.fromkeys(models + DEFAULT_MODELS + sorted(p.name for p in root.glob("*")
                                                                 if p.is_dir() and p.name != "validation")))
    rows = collect_rows(root, every)
    if not rows:
        sys.exit(f"error: no finished cell under {root}")
    write_csv_atomically(rows, root / "coldstart.csv")
    what = "nested validation split (outer fold 0's training graph), " if args.validation else ""
    text = (f"# Cold start on {args.dataset}{' (validation)' if args.validation else ''}\n\n"
            f"{what}Mean ± std over folds (k={args.k}, seed {args.seed}); "
            f"written by `python benchmarks/coldstart.py --dataset {args.dataset} --collect"
            f"{' --validation' if args.validation else ''}`.\n"
            f"Machine of the last cells: {machine()}\n\n" + tables(rows, every) + "\n")
    if args.compare:
        text += "\n### Paired\n\n" + "\n".join(paired_lines(rows, args.compare)) + "\n"
    atomic_write_bytes(root / "coldstart.md", text.encode())
    print(text)


if __name__ == "__main__":
    main()
