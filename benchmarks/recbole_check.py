"""Cross-check of hetrec's baselines against RecBole 1.2.1 on the same fold, scored the same way.

Two halves, one file:

* **export** (hetrec's environment): fold ``F`` of ``kfold_split(g, k=5, seed=0, val_ratio=0.1)``
  is written as a pre-split RecBole benchmark, ``<name>.train.inter`` / ``.valid.inter`` /
  ``.test.inter`` (header ``user_id:token<TAB>item_id:token``; the tokens are hetrec's node ids, so
  every result maps back 1:1), plus ``<name>.item`` listing every item node, so that RecBole ranks
  the same candidate items as hetrec (otherwise items with no interaction at all would be missing
  from its catalogue), and ``<name>.yaml``, the evaluation settings.
* **recbole** (RecBole's own virtual environment, started by this script as a subprocess): trains one
  RecBole model with RecBole's default settings for that model, evaluates it on the test file and
  dumps its scores for the test users, together with the history it excluded from their ranking.

Back in hetrec's environment each model's scores are ranked again by :func:`hetrec.eval.topn_metrics`
(train and validation items excluded) and the two evaluators are compared number by number; the
excluded history is compared pair by pair with ``split.train + split.val``. EASE, a closed form, is
also fitted by hetrec's own ``ease`` with RecBole's ``reg_weight`` on the same fold
(``hetrec_same_settings``): the two implementations must then give the same numbers. A model still
running after ``--timeout-min`` minutes (20) is stopped and recorded as stopped. Results:
``OUT/<dataset>-fold<F>/<Model>.json`` per model (a model whose file exists is skipped, so the
script can be stopped and restarted; delete the file to rerun a model) and
``OUT/<dataset>-fold<F>.csv`` / ``.md``, RecBole's test metrics beside hetrec's cells
``benchmarks/results/accuracy/<dataset>/<model>/fold-<F>/metrics.json`` (``–`` where none exists).

RecBole never enters hetrec's dependencies. Its environment, once (torch comes from the main
environment; RecBole 1.2.1 needs scipy < 1.12 for ``dok_matrix._update``, and was written for
pandas < 3: under pandas 3's copy-on-write its ``feat[field].fillna(inplace=True)`` does nothing;
the venv's scipy and pandas shadow the main ones; pip brings ray, thop, tabulate, colorlog, ...)::

    python -m venv --system-site-packages /work/recbole-venv
    /work/recbole-venv/bin/pip install "recbole==1.2.1" "scipy<1.12" "pandas<3"

Then, from the repository root, in hetrec's environment::

    python benchmarks/recbole_check.py --dataset lastfm --data-dir /work/shared/data --fold 0 --models EASE BPR
    python benchmarks/recbole_check.py export --dataset lastfm --data-dir /work/shared/data --fold 0  # files only
    python benchmarks/recbole_check.py collect --dataset lastfm --fold 0                              # tables only

**Seeds.** One run per toolkit says little about a difference of a few thousandths. ``--seed S``
(S ≠ 0) runs RecBole with ``seed: S`` and trains hetrec's same model with training seed S
(initialisation, batch order, negatives; the split stays seed 0's, the registry's settings as in
``benchmarks/accuracy.py``), into ``OUT/<dataset>-fold<F>-seed<S>/`` (hetrec's cells under its
``hetrec/``); seed 0 is the first comparison, against the accuracy benchmark's committed cells. The
``seeds`` stage tabulates them, paired by seed (``OUT/<dataset>-fold<F>-seeds.md`` / ``.csv``)::

    python benchmarks/recbole_check.py --dataset ml-1m --data-dir /work/shared/data --models BPR MultiVAE --seed 1
    python benchmarks/recbole_check.py seeds --dataset ml-1m --fold 0 --seeds 0 1 2

Evaluation settings (``<name>.yaml``): ``benchmark_filename: [train, valid, test]`` (RecBole then
uses the three files as they are, with no filtering and no re-split, so ``eval_args.split`` is
ignored), ``eval_args.mode: full`` (every item ranked), Recall / NDCG / Precision / Hit at 5, 10, 20,
``valid_metric: NDCG@10``, ``seed: 0``, ``reproducibility: True``, ``epochs: 300``,
``stopping_step: 10``, default ``train_neg_sample_args`` (one uniform negative). Two settings only
change how the work is done: ``metric_decimal_place: 12`` (RecBole rounds to 4 by default, too coarse
to compare evaluators) and ``eval_batch_size: 2**22`` (RecBole's default 4096 scores one user per
batch when there are more than 4096 items). Model hyper-parameters are RecBole's defaults
(``recbole/properties/model/<Model>.yaml``), not hetrec's: compare the levels, not the last digit.

Full-sort test ranking in RecBole excludes train + validation items: its ``FullSortEvalDataLoader``
masks ``used_ids - positives``, where the test sampler's ``used_ids`` are the user's train, valid and
test items. Each run checks this on the data (``history_check`` in the result file).
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "recbole_check"
DEFAULT_WORK = Path.home() / ".hetrec" / "recbole_check"
DEFAULT_PYTHON = "/work/recbole-venv/bin/python"
#: RecBole model -> hetrec model whose accuracy cells are shown beside it
HETREC_MODEL = {"EASE": "ease", "BPR": "bprmf", "MultiVAE": "multvae", "LightGCN": "lightgcn", "NGCF": "ngcf",
                "RecVAE": "recvae"}
ALIASES = {"MultVAE": "MultiVAE"}
#: closed-form models that hetrec also fits with RecBole's hyper-parameters: same data and settings, same numbers expected
SAME_SETTINGS = {"EASE": ("ease", ("reg_weight",))}
NS = (5, 10, 20)
METRICS = ("P", "R", "HR", "NDCG")
RECBOLE_METRIC = {"P": "precision", "R": "recall", "HR": "hit", "NDCG": "ndcg"}
SETTINGS = {
    "benchmark_filename": ["train", "valid", "test"],
    "load_col": {"inter": ["user_id", "item_id"], "item": ["item_id"]},
    "eval_args": {"group_by": "user", "order": "RO", "mode": "full"},
    "metrics": ["Recall", "NDCG", "Precision", "Hit"],
    "topk": list(NS),
    "valid_metric": "NDCG@10",
    "seed": 0,
    "reproducibility": True,
    "epochs": 300,
    "stopping_step": 10,
    "metric_decimal_place": 12,
    "eval_batch_size": 2 ** 22,
    "show_progress": False,
    "worker": 0,
}


# ---------------------------------------------------------------- export (hetrec's environment)

def dataset_name(dataset: str, fold: int) -> str:
    """RecBole's dataset token; prefixed so that it never names one of RecBole's built-in datasets."""
    return f"hetrec-{dataset}-fold{fold}"


def _write_text(path: Path, text: str) -> None:
    from hetrec.data.files import atomic_write_bytes

    atomic_write_bytes(path, text.encode())


def _pairs_text(matrix) -> str:
    """``user_id:token<TAB>item_id:token`` lines of a users x items sparse matrix, row-major."""
    m = matrix.tocsr()
    m.sum_duplicates()
    m.sort_indices()
    users = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
    body = "".join(f"{u}\t{i}\n" for u, i in zip(users.tolist(), m.indices.tolist()))
    return "user_id:token\titem_id:token\n" + body


def export_fold(split, name: str, work: Path) -> dict:
    """Write ``split`` as RecBole atomic files and settings under ``work``; return what was written.

    ``work/<name>/<name>.{train,valid,test}.inter`` hold ``split.train`` / ``.val`` / ``.test``,
    ``work/<name>/<name>.item`` every item node, ``work/<name>.yaml`` the evaluation settings.
    """
    folder = work / name
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for part, matrix in (("train", split.train), ("valid", split.val), ("test", split.test)):
        files[part] = folder / f"{name}.{part}.inter"
        _write_text(files[part], _pairs_text(matrix))
    files["item"] = folder / f"{name}.item"
    _write_text(files["item"], "item_id:token\n" + "".join(f"{i}\n" for i in range(split.num_items)))
    files["config"] = work / f"{name}.yaml"
    # one "key: JSON value" per line is YAML (JSON is YAML's flow style): no YAML writer needed
    settings = dict(SETTINGS, data_path=str(work))
    _write_text(files["config"], "".join(f"{k}: {json.dumps(v)}\n" for k, v in settings.items()))
    meta = {"name": name, "num_users": split.num_users, "num_items": split.num_items, "fold": split.fold,
            "k": split.k, "seed": split.seed, "train": int(split.train.nnz), "valid": int(split.val.nnz),
            "test": int(split.test.nnz)}
    files["meta"] = work / f"{name}.json"
    _write_text(files["meta"], json.dumps(meta, indent=1))
    return files


def load_split(dataset: str, data_dir, fold: int):
    from hetrec.data import kfold_split, load_dataset

    data = load_dataset(dataset, root=data_dir)
    return data, kfold_split(data.graph, k=5, seed=0, val_ratio=0.1)[fold]


# ---------------------------------------------------------------- RecBole half (RecBole's environment)

def recbole_main(args) -> None:
    """Train and test one RecBole model on the exported files; write metrics (JSON) and scores (npz)."""
    import torch

    torch.set_num_threads(1)
    import pandas
    import recbole
    import scipy
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.data.interaction import Interaction
    from recbole.utils import get_model, get_trainer, init_logger, init_seed

    work = Path(args.work_dir)
    meta = json.loads((work / f"{args.name}.json").read_text())
    start = time.perf_counter()
    config = Config(model=args.model, dataset=args.name, config_file_list=[str(work / f"{args.name}.yaml")],
                    config_dict={"seed": args.seed})
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])  # as run_recbole does
    model = get_model(config["model"])(config, train_data._dataset).to(config["device"])
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    valid_scores = _record_valid_scores(trainer)
    fit_start = time.perf_counter()
    trainer.fit(train_data, valid_data, saved=True, show_progress=False)
    fit_seconds = time.perf_counter() - fit_start
    test = trainer.evaluate(test_data, load_best_model=True, show_progress=False)

    # RecBole's ids -> hetrec's node ids (the tokens); id 0 is RecBole's padding
    user_tok = dataset.field2id_token[dataset.uid_field][1:].astype(np.int64)
    item_tok = dataset.field2id_token[dataset.iid_field][1:].astype(np.int64)
    uids = test_data.uid_list.numpy()
    scores = np.full((len(uids), meta["num_items"]), -np.inf, dtype=np.float32)
    model.eval()
    with torch.no_grad():
        for lo in range(0, len(uids), 256):
            chunk = torch.from_numpy(uids[lo:lo + 256])
            s = model.full_sort_predict(Interaction({dataset.uid_field: chunk}).to(config["device"]))
            scores[lo:lo + len(chunk), item_tok] = s.view(len(chunk), -1)[:, 1:].float().cpu().numpy()

    def pairs(per_user):
        lens = np.array([len(per_user[u]) for u in uids])
        return user_tok[np.repeat(uids, lens) - 1], item_tok[np.concatenate([per_user[u].numpy() for u in uids]) - 1]

    hist_u, hist_i = pairs(test_data.uid2history_item)
    pos_u, pos_i = pairs(test_data.uid2positive_item)
    np.savez(args.scores, users=user_tok[uids - 1], scores=scores, hist_users=hist_u, hist_items=hist_i,
             pos_users=pos_u, pos_items=pos_i)
    # RecBole keeps the last of equal best scores (early_stopping: value >= best)
    best = len(valid_scores) - valid_scores[::-1].index(max(valid_scores)) if valid_scores else None
    result = {
        "model": args.model, "seed": int(config["seed"]), "test": {k: float(v) for k, v in test.items()},
        "epochs": len(valid_scores), "best_epoch": best, "best_valid": max(valid_scores) if valid_scores else None,
        "fit_seconds": fit_seconds, "seconds": time.perf_counter() - start,
        "num_items": int(dataset.item_num - 1), "num_users": int(dataset.user_num - 1),
        "test_users": int(len(uids)),
        "model_settings": {k: config[k] for k in _model_keys(args.model) if k in config},
        "learning_rate": config["learning_rate"], "train_batch_size": config["train_batch_size"],
        "env": {"recbole": recbole.__version__, "torch": torch.__version__, "numpy": np.__version__,
                "scipy": scipy.__version__, "pandas": pandas.__version__, "python": sys.version.split()[0],
                "torch_threads": torch.get_num_threads(), "device": str(config["device"])},
    }
    Path(args.out).write_text(json.dumps(result, indent=1))


def _record_valid_scores(trainer) -> list:
    """Validation scores, one per evaluation, from a wrapper around the trainer's ``_valid_epoch``."""
    scores = []
    inner = trainer._valid_epoch

    def valid_epoch(*a, **kw):
        score, result = inner(*a, **kw)
        scores.append(float(score))
        return score, result

    trainer._valid_epoch = valid_epoch
    return scores


def _model_keys(model: str) -> list:
    """The keys of RecBole's default settings file for ``model``."""
    import recbole

    path = Path(recbole.__file__).parent / "properties" / "model" / f"{model}.yaml"
    return [line.split(":", 1)[0].strip() for line in path.read_text().splitlines()
            if ":" in line and not line.startswith((" ", "#"))]


# ---------------------------------------------------------------- driver (hetrec's environment)

def run_model(model: str, args, work: Path, name: str, result_path: Path, split) -> dict:
    """Run the RecBole half for one model in a subprocess; check its scores with hetrec's evaluator."""
    run_dir = work / "runs" / name / (model if args.seed == 0 else f"{model}-seed{args.seed}")
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    out, scores = run_dir / "result.json", run_dir / "scores.npz"
    cmd = [args.recbole_python, str(Path(__file__).resolve()), "recbole", "--work-dir", str(work),
           "--name", name, "--model", model, "--out", str(out), "--scores", str(scores), "--seed", str(args.seed)]
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    print(f"== {model}: {shlex.join(cmd)}", file=sys.stderr, flush=True)
    start = time.perf_counter()
    with open(run_dir / "stdout.log", "wb") as log:
        # RecBole writes log/, saved/ and log_tensorboard/ under its working directory
        proc = subprocess.Popen(cmd, cwd=run_dir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            rc = proc.wait(timeout=args.timeout_min * 60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: RecBole's process and nothing else
            proc.wait()
            rc = None
    wall = time.perf_counter() - start
    record = {"model": model, "hetrec_model": HETREC_MODEL.get(model), "seed": args.seed, "wall_seconds": wall}
    if rc is None:
        record.update(status="stopped", note=f"stopped after {args.timeout_min} min")
    elif rc != 0 or not out.is_file():
        tail = (run_dir / "stdout.log").read_text(errors="replace")[-3000:]
        print(tail, file=sys.stderr)
        raise SystemExit(f"{model}: RecBole run failed (exit {rc}); log in {run_dir / 'stdout.log'}")
    else:
        record.update(status="ok", recbole=json.loads(out.read_text()))
        record.update(evaluator_check(np.load(scores), split, record["recbole"]["test"]))
        if model in SAME_SETTINGS:
            record["hetrec_same_settings"] = hetrec_same_settings(model, split, record["recbole"])
    if not args.keep_scores:
        scores.unlink(missing_ok=True)
    shutil.rmtree(run_dir / "saved", ignore_errors=True)  # checkpoints (EASE's holds a dense items² matrix)
    _write_text(result_path, json.dumps(record, indent=1))
    return record


def evaluator_check(dump, split, recbole_test: dict) -> dict:
    """hetrec's evaluator on RecBole's scores, and the history RecBole excluded vs train + validation."""
    import scipy.sparse as sp

    from hetrec.eval import topn_metrics

    shape = (split.num_users, split.num_items)
    users = dump["users"]
    scores = np.full(shape, -np.inf, dtype=np.float32)
    scores[users] = dump["scores"]
    ours = topn_metrics(scores=scores, exclude=[split.train, split.val], test=split.test, ns=NS)
    diffs = {f"{m}@{n}": ours[f"{m}@{n}"] - recbole_test[f"{RECBOLE_METRIC[m]}@{n}"] for n in NS for m in METRICS}

    def same_pairs(u, i, matrix):
        got = sp.csr_matrix((np.ones(len(u)), (u, i)), shape=shape)
        rows = np.zeros(shape[0], dtype=bool)
        rows[users] = True
        want = sp.csr_matrix(sp.diags(rows.astype(float)) @ (matrix != 0))
        return (got != want).nnz == 0 and got.nnz == len(u)

    return {"hetrec_eval": {k: v for k, v in ours.items() if k != "per_user"},
            "evaluator_max_abs_diff": max(abs(d) for d in diffs.values()),
            "evaluator_diff": diffs,
            "history_check": {"test_users_same": bool(np.array_equal(np.sort(users),
                                                                     np.flatnonzero(np.diff(split.test.indptr)))),
                              "history_is_train_plus_valid": same_pairs(dump["hist_users"], dump["hist_items"],
                                                                        split.train + split.val),
                              "positives_are_test": same_pairs(dump["pos_users"], dump["pos_items"], split.test)}}


def hetrec_same_settings(model: str, split, recbole: dict) -> dict:
    """hetrec's own implementation of a closed-form ``model``, fitted with RecBole's settings on the same fold."""
    from hetrec.eval import topn_metrics
    from hetrec.models import create_model

    name, keys = SAME_SETTINGS[model]
    settings = {k: recbole["model_settings"][k] for k in keys}
    ours = create_model(name, **settings)
    start = time.perf_counter()
    ours.setup(split)
    test = topn_metrics(score_fn=ours.scores, exclude=[split.train, split.val], test=split.test, ns=NS)
    seconds = time.perf_counter() - start
    diff = max(abs(test[f"{m}@{n}"] - recbole["test"][f"{RECBOLE_METRIC[m]}@{n}"]) for n in NS for m in METRICS)
    return {"model": name, "settings": settings, "test": test, "max_abs_diff": diff, "seconds": seconds}


def result_folder(out, dataset: str, fold: int, seed: int) -> Path:
    """Where one seed's result files live: ``<dataset>-fold<F>`` for seed 0 (the first runs),
    ``<dataset>-fold<F>-seed<S>`` for another seed."""
    return Path(out) / (f"{dataset}-fold{fold}" + (f"-seed{seed}" if seed else ""))


def hetrec_cell_path(out, dataset: str, model: str, fold: int, seed: int) -> Path:
    """hetrec's test metrics for ``model`` trained with training seed ``seed`` on the fold (split
    seed 0 always): seed 0 is the accuracy benchmark's committed cell, another seed a cell this
    script trains (:func:`train_hetrec`) with the same registry settings."""
    if seed == 0:
        return ROOT / "benchmarks" / "results" / "accuracy" / dataset / model / f"fold-{fold}" / "metrics.json"
    return result_folder(out, dataset, fold, seed) / "hetrec" / model / f"fold-{fold}" / "metrics.json"


def hetrec_cell(dataset: str, model: str | None, fold: int, seed: int = 0, out=DEFAULT_OUT):
    if model is None:
        return None
    path = hetrec_cell_path(out, dataset, model, fold, seed)
    return json.loads(path.read_text())["test"] if path.is_file() else None


def train_hetrec(model: str, args, dataset) -> None:
    """Train hetrec's ``model`` on the fold with training seed ``args.seed`` (initialisation,
    batches, negatives; the split is seed 0's, as RecBole's files) and the registry's settings,
    exactly as ``benchmarks/accuracy.py`` trains its cells; resumable."""

    from hetrec.models import TRAINING
    from hetrec.train import TrainConfig
    from hetrec.train.experiment import ExperimentConfig, run_experiment

    out = hetrec_cell_path(args.out, args.dataset, model, args.fold, args.seed).parent.parent
    if (out / f"fold-{args.fold}" / "metrics.json").is_file():
        return
    tcfg = TrainConfig(seed=args.seed, num_threads=1, progress=False, **TRAINING.get(model, {}))
    cfg = ExperimentConfig(dataset=args.dataset, model=model, folds=[args.fold], k=5, seed=0,
                           data_dir=args.data_dir, train=tcfg)
    print(f"== hetrec {model}, training seed {args.seed} -> {out}", file=sys.stderr, flush=True)
    run_experiment(cfg, out, resume=True, dataset=dataset,
                   log=lambda m: print(f"   hetrec {model} {m}", file=sys.stderr, flush=True))


def collect(args, name: str) -> None:
    """Side-by-side tables from every result file of this dataset and fold."""
    from _common import machine, write_csv_atomically

    folder = result_folder(args.out, args.dataset, args.fold, args.seed)
    records = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
    order = {m: i for i, m in enumerate(HETREC_MODEL)}
    records.sort(key=lambda r: order.get(r["model"], len(order)))
    rows = []
    for r in records:
        ours = hetrec_cell(args.dataset, r["hetrec_model"], args.fold, args.seed, args.out)
        rb = r.get("recbole", {})
        row = {"dataset": args.dataset, "fold": args.fold, "recbole_model": r["model"], "hetrec_model": r["hetrec_model"],
               "status": r["status"], "wall_seconds": round(r["wall_seconds"], 1), "epochs": rb.get("epochs"),
               "best_epoch": rb.get("best_epoch")}
        for n in NS:
            for m in METRICS:
                row[f"recbole_{m}@{n}"] = rb.get("test", {}).get(f"{RECBOLE_METRIC[m]}@{n}")
                row[f"hetrec_{m}@{n}"] = ours.get(f"{m}@{n}") if ours else None
        row["evaluator_max_abs_diff"] = r.get("evaluator_max_abs_diff")
        checks = r.get("history_check")
        row["history_check"] = None if checks is None else all(checks.values())
        same = r.get("hetrec_same_settings")
        row["hetrec_same_settings"] = None if same is None else json.dumps(same["settings"])
        row["hetrec_same_settings_NDCG@10"] = None if same is None else same["test"]["NDCG@10"]
        row["hetrec_same_settings_max_abs_diff"] = None if same is None else same["max_abs_diff"]
        rows.append(row)
    if not rows:
        print(f"no result files under {folder}", file=sys.stderr)
        return
    stem = result_folder(args.out, args.dataset, args.fold, args.seed)
    write_csv_atomically(rows, stem.with_name(stem.name + ".csv"))
    text = side_by_side(rows, records, args, name, machine())
    _write_text(stem.with_name(stem.name + ".md"), text)
    print(text)


def side_by_side(rows, records, args, name, machine_line) -> str:
    def cell(v):
        return "–" if v is None else f"{v:.4f}"

    cols = [f"{m}@10" for m in ("NDCG", "R", "P", "HR")]
    head = ("| RecBole model | hetrec model | " + " | ".join(f"{c} RecBole | {c} hetrec" for c in cols)
            + " | epochs (best) | wall s | evaluators max abs diff | history = train + valid |")
    lines = [head, "|---|---|" + "---:|" * (2 * len(cols) + 4)]
    for row in rows:
        epochs = "–" if row["epochs"] is None else f"{row['epochs']} ({row['best_epoch']})"
        if row["status"] != "ok":
            epochs = row["status"]
        diff = row["evaluator_max_abs_diff"]
        check = {None: "–", True: "yes", False: "**no**"}[row["history_check"]]
        lines.append(f"| {row['recbole_model']} | {row['hetrec_model'] or '–'} | "
                     + " | ".join(f"{cell(row[f'recbole_{c}'])} | {cell(row[f'hetrec_{c}'])}" for c in cols)
                     + f" | {epochs} | {row['wall_seconds']:.0f} | {'–' if diff is None else f'{diff:.1e}'} | {check} |")
    for r in records:
        same = r.get("hetrec_same_settings")
        if same:
            lines += ["", f"{r['model']} in hetrec (`{same['model']}`) with RecBole's settings "
                      + ", ".join(f"`{k}={v}`" for k, v in same["settings"].items())
                      + f" on the same fold: NDCG@10 {same['test']['NDCG@10']:.6f}, R@10 {same['test']['R@10']:.6f}; "
                      f"largest difference from RecBole's test metrics (P/R/HR/NDCG@5/10/20) {same['max_abs_diff']:.1e} "
                      f"(fit and test {same['seconds']:.0f} s)."]
    envs = {json.dumps(r["recbole"]["env"], sort_keys=True) for r in records if "recbole" in r}
    env_lines = [", ".join(f"{k} {v}" for k, v in json.loads(e).items()) for e in sorted(envs)]
    command = ("python benchmarks/recbole_check.py --dataset {d} --data-dir {dd} --fold {f} --models {m}"
               .format(d=args.dataset, dd=args.data_dir or "DATA", f=args.fold, m=" ".join(r["model"] for r in records))
               + (f" --seed {args.seed}" if args.seed else ""))
    cell_path = (f"benchmarks/results/accuracy/{args.dataset}/<model>/fold-{args.fold}/metrics.json" if not args.seed else
                 f"{result_folder('benchmarks/results/recbole_check', args.dataset, args.fold, args.seed)}/hetrec/<model>/"
                 f"fold-{args.fold}/metrics.json, trained by this script with training seed {args.seed}")
    return "\n".join([
        f"# RecBole 1.2.1 vs hetrec: {args.dataset}, fold {args.fold}, seed {args.seed} (RecBole dataset `{name}`)", "",
        f"RecBole's test metrics (its default settings per model, seed {args.seed}, early stopping on validation "
        f"NDCG@10) beside hetrec's cell `{cell_path}` "
        "(– where there is none). Same train / validation / test pairs, same candidate items, train and "
        "validation items excluded from the test ranking in both. \"evaluators max abs diff\": the largest "
        "difference over P/R/HR/NDCG@5/10/20 between RecBole's evaluator and hetrec's `topn_metrics` on the "
        "same scores (RecBole's, dumped for the test users). \"wall s\": the whole RecBole subprocess "
        "(loading, training with validation every epoch, test).", "",
        *lines, "",
        f"Machine (hetrec side, this collect run): {machine_line}",
        *(f"RecBole side: {e}" for e in env_lines),
        f"Command: `{command}`", ""])


def seed_rows(args) -> list:
    """One row per (model, seed) with both toolkits' test metrics, from the finished result files."""
    rows = []
    for seed in args.seeds:
        for path in sorted(result_folder(args.out, args.dataset, args.fold, seed).glob("*.json")):
            r = json.loads(path.read_text())
            if r.get("status") != "ok":
                continue
            ours = hetrec_cell(args.dataset, r["hetrec_model"], args.fold, seed, args.out)
            row = {"dataset": args.dataset, "fold": args.fold, "recbole_model": r["model"],
                   "hetrec_model": r["hetrec_model"], "seed": seed}
            for key in ("NDCG@10", "R@10"):
                m, n = key.split("@")
                row[f"recbole_{key}"] = r["recbole"]["test"][f"{RECBOLE_METRIC[m]}@{n}"]
                row[f"hetrec_{key}"] = ours[key] if ours else None
            cell = hetrec_cell_path(args.out, args.dataset, r["hetrec_model"], args.fold, seed) if r["hetrec_model"] else None
            row["recbole_val_NDCG@10"] = r["recbole"].get("best_valid")
            row["hetrec_val_NDCG@10"] = (json.loads(cell.read_text()).get("val", {}).get("NDCG@10")
                                         if cell is not None and cell.is_file() else None)
            rows.append(row)
    return rows


def seeds_table(rows, args) -> str:
    """Per model: each seed's NDCG@10 / R@10 in both toolkits, their means and the paired difference."""
    from statistics import mean, stdev

    lines = [f"# RecBole 1.2.1 vs hetrec over training seeds: {args.dataset}, fold {args.fold}", "",
             "The same fold (split seed 0) trained again with other seeds: RecBole's `seed` (its default settings "
             "otherwise) and hetrec's training seed (initialisation, batch order, negatives; the registry's "
             "settings, as `benchmarks/accuracy.py`). Seed 0 is the first comparison "
             f"(`{args.dataset}-fold{args.fold}.md`); only seeds finished in both toolkits enter the means. "
             "Δ = hetrec − RecBole, paired by seed, mean ± standard error. Validation: the best validation NDCG@10 "
             "each toolkit stopped on (the same validation pairs, train items excluded).", "",
             "| RecBole model | hetrec model | seeds | NDCG@10 RecBole | NDCG@10 hetrec | Δ NDCG@10 | "
             "R@10 RecBole | R@10 hetrec | Δ R@10 | validation NDCG@10 RecBole | validation NDCG@10 hetrec | "
             "per seed test NDCG@10 (RecBole / hetrec) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]

    def ms(xs):
        return f"{mean(xs):.4f}" + (f" ± {stdev(xs):.4f}" if len(xs) > 1 else "")

    def diff(xs):
        return f"{mean(xs):+.4f}" + (f" ± {stdev(xs) / len(xs) ** 0.5:.4f}" if len(xs) > 1 else "")

    for model in dict.fromkeys(r["recbole_model"] for r in rows):
        rs = [r for r in rows if r["recbole_model"] == model and r["hetrec_NDCG@10"] is not None]
        if not rs:
            continue
        cols = []
        for key in ("NDCG@10", "R@10"):
            rb, hr = [r[f"recbole_{key}"] for r in rs], [r[f"hetrec_{key}"] for r in rs]
            cols += [ms(rb), ms(hr), diff([h - b for h, b in zip(hr, rb)])]
        for key in ("recbole_val_NDCG@10", "hetrec_val_NDCG@10"):
            vals = [r.get(key) for r in rs]
            cols.append(ms(vals) if None not in vals else "–")
        per = ", ".join(f"{r['seed']}: {r['recbole_NDCG@10']:.4f} / {r['hetrec_NDCG@10']:.4f}" for r in rs)
        lines.append(f"| {model} | {rs[0]['hetrec_model']} | {len(rs)} | " + " | ".join(cols) + f" | {per} |")
    seeds = " ".join(map(str, args.seeds))
    lines += ["", "Commands: `python benchmarks/recbole_check.py --dataset {d} --data-dir DATA --fold {f} --models M "
              "--seed S` for each seed S ≠ 0, then `python benchmarks/recbole_check.py seeds --dataset {d} --fold {f} "
              "--seeds {s}`.".format(d=args.dataset, f=args.fold, s=seeds), ""]
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("stage", nargs="?", default="all", choices=["all", "export", "collect", "seeds", "recbole"],
                   help="all (default): export, run the missing models, tables; seeds: the table over --seeds; "
                        "recbole: the RecBole half, internal")
    p.add_argument("--dataset", default="lastfm", choices=["lastfm", "ml-1m"])
    p.add_argument("--data-dir", default=None)
    p.add_argument("--fold", type=int, default=0)
    p.add_argument("--models", nargs="+", default=list(HETREC_MODEL),
                   help=f"RecBole model names among {', '.join(HETREC_MODEL)} (MultVAE = MultiVAE)")
    p.add_argument("--recbole-python", default=DEFAULT_PYTHON, help="python of RecBole's virtual environment")
    p.add_argument("--work-dir", default=str(DEFAULT_WORK), help="exported files, RecBole logs and checkpoints")
    p.add_argument("--out", default=str(DEFAULT_OUT))
    p.add_argument("--seed", type=int, default=0,
                   help="RecBole's seed and hetrec's training seed (the split is always seed 0's); a seed other than 0 "
                        "also trains hetrec's model with it, results in OUT/<dataset>-fold<F>-seed<S>")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds stage: the seeds to tabulate")
    p.add_argument("--timeout-min", type=float, default=20.0, help="stop a model after this many minutes")
    p.add_argument("--keep-scores", action="store_true", help="keep each model's dumped scores (npz)")
    p.add_argument("--name", help=argparse.SUPPRESS)  # recbole stage
    p.add_argument("--model", help=argparse.SUPPRESS)
    p.add_argument("--scores", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.stage == "recbole":
        recbole_main(args)
        return

    os.environ.setdefault("DGLBACKEND", "pytorch")
    import torch

    torch.set_num_threads(1)
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # _common
    name = dataset_name(args.dataset, args.fold)
    if args.stage == "collect":
        collect(args, name)
        return
    if args.stage == "seeds":
        from _common import write_csv_atomically

        rows = seed_rows(args)
        stem = Path(args.out) / f"{args.dataset}-fold{args.fold}-seeds"
        write_csv_atomically(rows, stem.with_suffix(".csv"))
        text = seeds_table(rows, args)
        _write_text(stem.with_suffix(".md"), text)
        print(text)
        return
    if args.seed < 0:
        p.error("--seed must be >= 0")
    models = [ALIASES.get(m, m) for m in args.models]
    unknown = sorted(set(models) - set(HETREC_MODEL))
    if unknown:
        p.error(f"unknown RecBole model(s) {unknown}; choose among {list(HETREC_MODEL)}")
    work = Path(args.work_dir)
    dataset, split = load_split(args.dataset, args.data_dir, args.fold)
    files = export_fold(split, name, work)
    print(f"exported fold {args.fold} of {args.dataset} to {files['train'].parent}", file=sys.stderr)
    if args.stage == "export":
        return
    folder = result_folder(args.out, args.dataset, args.fold, args.seed)
    for model in models:
        if args.seed and HETREC_MODEL[model]:
            train_hetrec(HETREC_MODEL[model], args, dataset)
        path = folder / f"{model}.json"
        if path.is_file():
            print(f"== {model}: {path} exists, skipped", file=sys.stderr)
            continue
        rec = run_model(model, args, work, name, path, split)
        print(f"   {model}: {rec['status']}, {rec['wall_seconds']:.0f} s"
              + (f", test NDCG@10 {rec['recbole']['test']['ndcg@10']:.4f}, evaluators differ by at most "
                 f"{rec['evaluator_max_abs_diff']:.1e}" if rec["status"] == "ok" else ""), file=sys.stderr, flush=True)
    collect(args, name)


if __name__ == "__main__":
    main()
