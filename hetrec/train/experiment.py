"""Experiments: a model trained and evaluated on one or more folds of a dataset, on disk.

A run folder holds ``config.json`` (everything needed to rebuild data, split and model),
``fold-<f>/`` per fold (see :class:`~hetrec.train.Trainer` for its files) and ``metrics.json``
(test metrics per fold plus mean and standard deviation). The CLI, the examples and the
benchmarks all go through :func:`run_experiment`, so they share one protocol.

The parts of a run folder are tied together (:mod:`hetrec._integrity`): ``config.json`` holds a
``run_id`` drawn when the run is created, and every file of the run (config, each fold's
``model.pt``, ``checkpoint.pt`` and ``metrics.json``, the summary) records the run, fold, data and
split it belongs to and a digest of its content. A file of another run (even one that differs
only in its seed), a damaged or an edited one is refused when read back, naming the file.
Run folders written before run ids existed are read as before, with a warning.

This module writes runs: the run's settings (:class:`ExperimentConfig`), the checks before a
run claims or resumes a folder, and the loop over folds. Reading a run folder back is
:mod:`hetrec.train.runs` (``load_run``, ``load_fold_model``, ``trained_folds``), and a
trained model's top-N items for a user is :func:`hetrec.eval.recommend`; both are still
importable from here.
"""
from __future__ import annotations

import json
import time
import uuid
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import torch

from .. import __version__, _schemas
from .._integrity import IntegrityError, load_pt, parse_json, read_file_text, read_json, unseal, write_json
from .._io import LockedError, exclusive_lock
from ..data import DataError, data_root, graph_digest, kfold_split, load_dataset, load_tables_dir
from ..eval import mean_std
from ..models import create_model
from ..models import model_config as registered_config
from .device import resolve_device
from .trainer import TrainConfig, Trainer, TrainingError, _plain, atomic_write_text


@dataclass
class ExperimentConfig:
    """What to run. ``dataset`` is a registered name; ``tables`` a folder of your own tables
    (then ``dataset`` is only a label)."""

    dataset: str = "lastfm"
    model: str = "mthgt"
    folds: list = field(default_factory=lambda: [0])
    k: int = 5
    seed: int = 0
    val_ratio: float = 0.1
    data_dir: str | None = None
    verify: bool = True
    tables: str | None = None
    model_overrides: dict = field(default_factory=dict)
    train: TrainConfig = field(default_factory=TrainConfig)
    #: sha256 of the graph and of the split a run was trained on (written by run_experiment;
    #: resume, evaluate and recommend refuse data whose digests differ)
    data_digest: str | None = None
    split_digest: str | None = None
    #: data-parallel processes per fold (hetrec.train.distributed); results may differ from one
    #: process in the last float digits (BPR-type models) or more (round-robin batches)
    nproc: int = 1
    #: the run's identity, drawn when the run folder is created and recorded by every file of
    #: the run (None for a run folder written before hetrec recorded run ids)
    run_id: str | None = None
    #: every setting of the model as trained, resolved from its class defaults, the registered
    #: name's preset and ``model_overrides`` (written by run_experiment). A resume compares it, so
    #: folds trained before and after a change of a default or a preset are never mixed (None:
    #: a run folder written before hetrec recorded it, whose defaults cannot be checked)
    model_config: dict | None = None

    def to_json(self) -> str:
        d = asdict(self)
        d["train"]["ns"] = list(d["train"]["ns"])
        d["hetrec_version"] = __version__
        return json.dumps(d, indent=2)

    def write(self, path) -> None:
        """Write ``config.json`` (atomically) with its integrity record (a run from before run ids
        is written as it was)."""
        if self.run_id is None:
            atomic_write_text(path, self.to_json())
        else:
            write_json(path, json.loads(self.to_json()), {"run": self.run_id})

    @classmethod
    def from_json(cls, text: str, source="config.json", file: bool = False) -> "ExperimentConfig":
        """Parse a run's ``config.json``; anything unusable is a :class:`DataError` or an
        :class:`~hetrec._integrity.IntegrityError` naming the file (not JSON, settings this hetrec
        does not know, a field of the wrong type, values out of range, content changed since it
        was written). ``file``: the text was read from a run folder, where a config with a
        ``run_id`` must carry its integrity record."""
        d = parse_json(text, source)
        train = d.get("train", {})
        known = {f.name for f in fields(cls)} | {"hetrec_version", "integrity"}
        known_train = {f.name for f in fields(TrainConfig)}
        extra = sorted(set(d) - known) + sorted(
            f"train.{k}" for k in (set(train) - known_train if isinstance(train, dict) else ()))
        if extra:
            raise DataError(f"settings unknown to hetrec {__version__}: {', '.join(extra)} (written by "
                            f"hetrec {d.get('hetrec_version') or 'unknown'}); use that version to read this run",
                            source)
        _schemas.check(d, _schemas.RUN_CONFIG, source)
        if "integrity" in d:
            d = unseal(d, source, {"run": d.get("run_id") or ""},
                       fix="it no longer describes the run its folds were trained in: train a new run in another "
                           "folder (or restore the config.json written with it)")
        elif file and d.get("run_id") is not None:
            raise IntegrityError(f"{source}: its integrity record was removed (it has a run_id): train a new run in "
                                 "another folder (or restore the config.json written with it)")
        d.pop("hetrec_version", None)
        train = d.pop("train", {})
        try:
            train["ns"] = tuple(train.get("ns", (5, 10, 20)))
            return cls(**d, train=TrainConfig(**train))
        except (TypeError, ValueError) as err:
            raise DataError(f"unusable settings: {err}", source) from None


#: training settings that do not change results (threads only change float summation order)
_NEUTRAL_TRAIN = ("num_threads", "progress")


def settings_changed(saved: ExperimentConfig, cfg: ExperimentConfig) -> list:
    """``["train.lr: 0.001 -> 0.005", ...]``: the settings that differ and would change results
    (folds, where the data lives and whether it was verified do not)."""
    out = []
    for name in ("val_ratio", "model_overrides", "nproc"):  # (the digests are checked by check_digests)
        a, b = getattr(saved, name), getattr(cfg, name)
        if a != b:
            out.append(f"{name}: {a} -> {b}")
    if saved.model_config is not None and cfg.model_config is not None:  # both JSON-plain
        a, b = saved.model_config, cfg.model_config
        for name in sorted(set(a) | set(b)):
            if name not in b:  # a setting this hetrec no longer has
                out.append(f"model.{name}: {a[name]!r} -> (no such setting)")
            elif name in a and a[name] != b[name]:  # one added since, at its default, changes nothing
                out.append(f"model.{name}: {a[name]!r} -> {b[name]!r}")
    a, b = asdict(saved.train), asdict(cfg.train)
    for name in a:
        if name not in _NEUTRAL_TRAIN and a[name] != b.get(name):  # from_json restores ns as a tuple
            out.append(f"train.{name}: {a[name]} -> {b.get(name)}")
    return out


def resolved_model_config(cfg: ExperimentConfig) -> dict:
    """Every setting of ``cfg``'s model as it will be built (JSON-plain): the class defaults,
    the registered name's preset and ``model_overrides``."""
    return _plain(asdict(registered_config(cfg.model, **cfg.model_overrides)))


def fold_identity(cfg: ExperimentConfig, fold: int) -> dict:
    """What every file of fold ``fold`` of this run records that it belongs to (empty for a run
    written before run ids, whose files cannot be checked)."""
    if cfg.run_id is None:
        return {}
    return {"run": cfg.run_id, "fold": int(fold), "data": cfg.data_digest or "", "split": cfg.split_digest or "",
            "model": cfg.model}


def _fix(fold_dir: Path) -> str:
    return (f"{fold_dir.parent / 'config.json'} and {fold_dir} are not of one run: delete {fold_dir} and train "
            "that fold again (train --resume), or restore the files of one run")


def check_fold_file(cfg: ExperimentConfig, record, path) -> None:
    """A run without run ids (an old config.json) must not hold files that record one: its
    config.json was replaced or had its record removed."""
    if cfg.run_id is None and record is not None and record["belongs_to"].get("run"):
        raise IntegrityError(f"{path} records run {record['belongs_to']['run'][:12]}… but the run's config.json "
                             "records none (replaced or edited?): restore the config.json written with the run, "
                             "or train a new run in another folder")


def read_fold_metrics(cfg: ExperimentConfig, fold_dir, fold: int, check_model: bool = True):
    """``fold-<f>/metrics.json`` checked against the run (fold, data, split, run id, digest) and,
    with ``check_model``, against ``model.pt`` beside it (the metrics must be the ones of that
    model). ``None`` when ``model.pt`` is missing (the fold is to be trained again)."""
    fold_dir = Path(fold_dir)
    path = fold_dir / "metrics.json"
    expected = fold_identity(cfg, fold)
    metrics, record = read_json(path, _schemas.FOLD_METRICS, expected, _fix(fold_dir), legacy=cfg.run_id is None)
    check_fold_file(cfg, record, path)
    if cfg.run_id is None or not check_model:
        return metrics
    model_path = fold_dir / "model.pt"
    if not model_path.is_file():
        return None
    _, model_record = load_pt(model_path, _schemas.MODEL_FILE, expected, _fix(fold_dir))
    if metrics.get("model_sha256") != model_record["sha256"]:
        raise IntegrityError(f"{path}: measured another model than {model_path} (model sha256 "
                             f"{str(metrics.get('model_sha256'))[:12]}… recorded, {model_record['sha256'][:12]}… found); "
                             f"{_fix(fold_dir)}")
    return metrics


def load_data(cfg: ExperimentConfig):
    if cfg.tables:
        return load_tables_dir(cfg.tables)
    return load_dataset(cfg.dataset, root=cfg.data_dir, verify=cfg.verify)


def check_digests(saved: ExperimentConfig, data_digest: str, split_digest: str, source) -> None:
    """Refuse data or a split that differ from those a run was trained on (runs written before
    digests were recorded are not checked)."""
    for what, old, new in (("data", saved.data_digest, data_digest), ("split", saved.split_digest, split_digest)):
        if old is not None and old != new:
            raise TrainingError(
                f"{source}: the {what} differ from the {what} this run was trained on "
                f"(sha256 {old[:12]}… then, {new[:12]}… now); evaluating or continuing it would mix "
                "runs: use the data it was trained on, or train a new run in another folder")


def run_experiment(cfg: ExperimentConfig, out_dir, resume: bool = False, log=print, dataset=None,
                   device=None) -> dict:
    """Train and test ``cfg.model`` on each fold of ``cfg.folds``; returns the summary that is
    also written to ``out_dir/metrics.json``.

    A run folder belongs to one run. Without ``resume`` the folder must be new or empty. With
    ``resume`` a folder's ``config.json`` must describe the same dataset, model, split and
    settings, and the data must have the digests recorded there; finished folds are then read
    back and an interrupted fold continues from its last checkpoint. Folds of one run may be
    trained by several processes at once (``--resume`` with other folds): each fold folder is
    locked while it trains, and the summary (and the returned dict) covers every finished fold.
    ``device`` is where the models train (:class:`~hetrec.train.Trainer`); it is not a setting
    of the run: a run may be resumed or evaluated on another device.
    """
    out_dir = Path(out_dir)
    folds = list(cfg.folds)  # the folds to run now (the config may record more)
    for f in folds:
        if not 0 <= f < cfg.k:
            raise ValueError(f"fold {f} out of range for a {cfg.k}-fold split")
    # record where the data really came from, so evaluate/recommend find it without the env var
    if cfg.tables:
        cfg = replace(cfg, tables=str(Path(cfg.tables).resolve()))
    else:
        cfg = replace(cfg, data_dir=str(data_root(cfg.data_dir).resolve()))
    dataset = dataset if dataset is not None else load_data(cfg)  # bad data fails before any write
    splits = kfold_split(dataset.graph, k=cfg.k, seed=cfg.seed, val_ratio=cfg.val_ratio)
    cfg = replace(cfg, data_digest=graph_digest(dataset.graph), split_digest=splits.digest(),
                  model_config=resolved_model_config(cfg))
    for f in folds:  # a fold with nothing to validate or test on fails before anything is written
        _check_coverage(splits, f, cfg, log)
    config_path = out_dir / "config.json"
    with ExitStack() as held:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            with exclusive_lock(out_dir / ".lock", f"run folder {out_dir}", wait=True):
                cfg = _claim(out_dir, cfg, resume, folds, held, log)
        except LockedError as err:
            raise TrainingError(str(err)) from None
        per_fold = _train_folds(cfg, folds, splits, out_dir, resume, log, device)
    with exclusive_lock(out_dir / ".lock", f"run folder {out_dir}", wait=True):
        # a resumed run's summary covers every finished fold of the folder, not only the ones
        # run this time (another process may have finished some meanwhile)
        for f in range(cfg.k) if resume else ():
            fold_dir = out_dir / f"fold-{f}"
            if f not in per_fold and (fold_dir / "metrics.json").is_file():
                record = read_fold_metrics(cfg, fold_dir, f)
                if record is not None:
                    per_fold[f] = record
        per_fold = dict(sorted(per_fold.items()))
        if resume and not set(per_fold) <= set(cfg.folds):  # a parallel run added folds meanwhile
            saved = ExperimentConfig.from_json(read_file_text(config_path), config_path, file=True)
            replace(cfg, folds=sorted(set(saved.folds) | set(per_fold))).write(config_path)
        summary = {"dataset": cfg.dataset, "model": cfg.model, "folds": per_fold,
                   "test_mean_std": mean_std([r["test"] for r in per_fold.values()])}
        if cfg.run_id is None:  # a run folder from before run ids stays as it was
            atomic_write_text(out_dir / "metrics.json", json.dumps(summary, indent=2, default=list))
        else:
            write_json(out_dir / "metrics.json", json.loads(json.dumps(summary, default=list)), {"run": cfg.run_id})
    return summary


def _train_folds(cfg, folds, splits, out_dir: Path, resume: bool, log, device=None) -> dict:
    per_fold = {}
    for f in folds:
        fold_dir = out_dir / f"fold-{f}"
        done = fold_dir / "metrics.json"
        if resume and done.is_file():
            record = read_fold_metrics(cfg, fold_dir, f)
            if record is not None:
                per_fold[f] = record
                log(f"fold {f}: finished earlier, read back")
                continue
            log(f"fold {f}: {done} has no model.pt beside it: training the fold again")
        t0 = time.perf_counter()
        resume_fold = resume and (fold_dir / "checkpoint.pt").is_file()
        if cfg.nproc > 1:
            from .distributed import launch

            log(f"fold {f}: data-parallel over {cfg.nproc} processes")
            stats = launch(_fold_worker, cfg.nproc, cfg.to_json(), f, str(fold_dir), resume_fold,
                           str(device or "cpu"), threads=cfg.train.num_threads or 1)
        else:
            model = create_model(cfg.model, **cfg.model_overrides)
            trainer = Trainer(cfg.train, out_dir=fold_dir, log=lambda m, f=f: log(f"fold {f}: {m}"), device=device,
                              identity=fold_identity(cfg, f))
            stats = _fit_stats(trainer.fit(model, splits[f], resume=resume_fold))
        record, sealed = read_json(done, _schemas.FOLD_METRICS, fold_identity(cfg, f), _fix(fold_dir),
                                   legacy=cfg.run_id is None)
        record["wall_seconds"] = time.perf_counter() - t0
        record.update(stats)
        if sealed is None:
            atomic_write_text(done, json.dumps(record, indent=2))
        else:
            write_json(done, record, sealed["belongs_to"])
        per_fold[f] = record
    return per_fold


def _fit_stats(result) -> dict:
    steps = [h["step_seconds_median"] for h in result.history]
    shares = [h["sampling_share"] for h in result.history]
    return {"train_seconds": result.train_seconds, "epochs": len(result.history),
            "step_seconds_median": float(np.median(steps)) if steps else None,
            "sampling_share": float(np.mean(shares)) if shares else None}


def _fold_worker(rank: int, world: int, cfg_json: str, fold: int, fold_dir: str, resume: bool, device: str):
    """One rank of a data-parallel fold (run by :func:`hetrec.train.distributed.launch`):
    every rank loads the data (from the processed cache) and trains its shard; rank 0 logs,
    evaluates and writes the fold folder."""
    import sys
    import warnings

    cfg = ExperimentConfig.from_json(cfg_json, "the run's settings")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the parent already reported the data's warnings
        dataset = load_data(cfg)
    split = kfold_split(dataset.graph, k=cfg.k, seed=cfg.seed, val_ratio=cfg.val_ratio)[fold]
    dev = resolve_device(device)
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", rank % torch.cuda.device_count())
    log = (lambda m: print(f"fold {fold}: {m}", file=sys.stderr, flush=True)) if rank == 0 else (lambda m: None)
    model = create_model(cfg.model, **cfg.model_overrides)
    result = Trainer(cfg.train, out_dir=fold_dir, log=log, device=dev, identity=fold_identity(cfg, fold)).fit(
        model, split, resume=resume)
    return _fit_stats(result) if rank == 0 else None


def _claim(out_dir: Path, cfg: ExperimentConfig, resume: bool, folds, held: ExitStack, log=print) -> ExperimentConfig:
    """Make ``out_dir`` this run's folder (under the folder lock): check what it holds, lock
    the folds to train (into ``held``, released when the run ends), and only then write
    ``config.json``: a refused run writes nothing. Returns the config with the folds of an
    earlier part of the run."""
    config_path = out_dir / "config.json"
    if config_path.is_file():
        saved = ExperimentConfig.from_json(read_file_text(config_path), config_path, file=True)
        if not resume:
            raise TrainingError(
                f"{out_dir} already holds a run ({saved.dataset} / {saved.model}, folds {saved.folds}); "
                "a run folder belongs to one run: add --resume to continue or extend that run, "
                "or choose another --out")
        if (saved.dataset, saved.model, saved.k, saved.seed) != (cfg.dataset, cfg.model, cfg.k, cfg.seed):
            raise TrainingError(f"{config_path} describes another run ({saved.dataset}/{saved.model}, "
                                f"k={saved.k}, seed={saved.seed}); use another --out")
        changed = settings_changed(saved, cfg)
        if changed:  # folds trained under other settings must not be averaged together
            raise TrainingError(f"{config_path} was run with other settings ({'; '.join(changed)}); "
                                "resume with the same settings or use another --out")
        check_digests(saved, cfg.data_digest, cfg.split_digest, config_path)
        # a run continued on other folds keeps the folds it already had, and its identity; one
        # written before the model's settings were recorded keeps recording none (they are
        # not known for its earlier folds)
        cfg = replace(cfg, folds=sorted(set(saved.folds) | set(cfg.folds)), run_id=saved.run_id,
                      model_config=cfg.model_config if saved.model_config is not None else None)
        if saved.run_id is None:
            log(f"warning: {config_path} was written before hetrec recorded run ids: the files of this run "
                "are not checked against it (train a new run to have them checked)")
    else:
        others = sorted(p.name for p in out_dir.iterdir() if not (p.name.startswith(".") and p.name.endswith(".lock")))
        if others:
            raise TrainingError(f"{out_dir} is not empty ({', '.join(others[:3])}{' …' if len(others) > 3 else ''}) "
                                "and holds no hetrec run (no config.json): choose a new or empty folder")
        cfg = replace(cfg, run_id=uuid.uuid4().hex)
    for f in folds:  # another process training one of these folds: refuse before writing anything
        held.enter_context(exclusive_lock(out_dir / f".fold-{f}.lock", f"fold {f} of {out_dir}"))
    cfg.write(config_path)
    return cfg


def _check_coverage(splits, f: int, cfg: ExperimentConfig, log) -> None:
    """Say which users fold ``f`` cannot evaluate, and refuse a fold with nothing to validate
    or test on (instead of failing later with a message about the evaluator)."""
    c = splits.coverage(f)
    if c["no_val"] == c["users"]:
        raise TrainingError(
            f"fold {f}: no user has a validation interaction: with val_ratio {cfg.val_ratio} a user needs "
            f"at least {c['min_rest_for_val']} interactions outside the test fold to give one to "
            f"validation, and the most any user has is {c['max_rest']}. Use a larger val_ratio "
            f"(--val-ratio) or more interactions per user")
    if c["no_test"] == c["users"]:
        raise TrainingError(f"fold {f}: no user has a test interaction (every user has fewer "
                            f"interactions than folds, k={cfg.k}); use fewer folds")
    if c["no_val"] or c["no_test"]:
        log(f"fold {f}: of {c['users']:,} users, {c['no_val']:,} have no validation interaction (fewer than "
            f"{c['min_rest_for_val']} outside the test fold) and {c['no_test']:,} no test interaction; they "
            "train with all they have and are left out of the evaluation they have no items for")


#: names that moved out of this module (name -> its module), importable from here as before
_MOVED = {"load_run": "hetrec.train.runs", "load_fold_model": "hetrec.train.runs",
          "trained_folds": "hetrec.train.runs", "recommend": "hetrec.eval.recommend"}


def __getattr__(name):
    # imported when asked for: hetrec.train.runs imports this module
    if name in _MOVED:
        import importlib

        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
