"""A seeded, resumable Optuna study of one model on the validation set of one fold.

Every trial samples the model's space (:data:`hetrec.tune.SPACES`), trains with the shared
:class:`~hetrec.train.Trainer` (``evaluate_test=False``: the test set of the fold is never scored
while tuning) and is worth the validation ``metric`` of its best epoch (early stopping). After
each epoch the trainer's ``on_epoch`` hook reports the validation metric to Optuna; a trial that
has not improved for :data:`PRUNE_PATIENCE` epochs and is below the median of the earlier trials
at that epoch is stopped (:func:`_pruner`, Optuna's ``MedianPruner`` made patient: a slow starter
that is still improving runs on). The first trial of a study is the registry's own setting of the model
(:func:`hetrec.tune.spaces.registry_point`) wherever the space contains it, so a tuned model is
never worse on validation than the model ``hetrec train`` ships. These two rules are tuning
protocol :data:`PROTOCOL` (2); studies of protocol 1 (a sampled first trial, ``MedianPruner``
alone, which stopped slow-starting trials at epoch 5) are still reported, and refused if asked to
run more trials.

The study lives in ``out_dir/study.db`` (SQLite). A killed study resumes where it stopped: the
trials it finished count toward the budget, and a trial left running by the killed process is
marked failed and run again. The sampler is a ``TPESampler`` seeded from ``(seed, n)`` for the
study's ``n``-th trial, so a study stopped and resumed samples exactly what an uninterrupted one
with the same seed samples. ``trials.csv`` and ``best.json`` are rewritten (atomically) after
every trial.
"""
from __future__ import annotations

import csv
import errno
import io
import json
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .. import __version__
from .._errors import first_line
from .._io import LockedError, atomic_write_text, exclusive_lock
from ..data import graph_digest, kfold_split, load_dataset, load_tables_dir
from ..models import create_model, model_class, model_config, training_settings
from ..train import TrainConfig, Trainer, TrainingError
from .spaces import SPACES, check_space, registry_point

STUDY_NAME = "hetrec"
#: the settings that make a study (a folder holds one; resuming with any of them changed is refused)
IDENTITY = ("dataset", "model", "fold", "k", "seed", "val_ratio", "metric", "space")
#: the training settings best.json records (the ones a space may tune)
TRAIN_KEYS = ("lr", "epochs", "patience")
#: the tuning protocol of new studies (module docstring); studies that recorded none are protocol 1
PROTOCOL = 2
#: epochs without improvement before the median rule may stop a trial (protocol 2)
PRUNE_PATIENCE = 5


class TuneError(RuntimeError):
    """A study cannot start or go on (Optuna missing, a folder holding another study, no data)."""


def _optuna():
    try:
        import optuna
    except ImportError:
        raise TuneError("hetrec tune needs Optuna: pip install 'hetrec[tune]'") from None
    return optuna


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def suggest(trial, space: dict) -> dict:
    """One value for every setting of ``space``, sampled through ``trial`` (an Optuna trial)."""
    out = {}
    for name, spec in space.items():
        kind = spec[0]
        if kind == "choice":
            out[name] = trial.suggest_categorical(name, list(spec[1]))
        elif kind in ("int", "log-int"):
            out[name] = trial.suggest_int(name, int(spec[1]), int(spec[2]), log=kind == "log-int")
        else:
            out[name] = trial.suggest_float(name, float(spec[1]), float(spec[2]), log=kind == "log")
    return out


def split_settings(params: dict, model: str) -> tuple:
    """``(model_overrides, train_settings)`` of a trial's ``params``: ``train.*`` settings on top
    of the model's recommended training settings, the others as model settings."""
    train = training_settings(model)
    train.update({k[len("train."):]: v for k, v in params.items() if k.startswith("train.")})
    return {k: v for k, v in params.items() if not k.startswith("train.")}, train


def tune(model: str, trials: int, out_dir, *, dataset: str = "lastfm", tables=None, data=None, data_dir=None,
         verify: bool = True, seed: int = 0, fold: int = 0, k: int = 5, val_ratio: float = 0.1,
         timeout: float | None = None, num_threads: int | None = None, device=None, space: dict | None = None,
         log=_stderr) -> dict | None:
    """Tune ``model`` until ``out_dir``'s study has ``trials`` finished trials (complete or
    pruned; one for an empty space) or ``timeout`` seconds have passed (no new trial starts
    after it). Returns what ``best.json`` holds (``None`` while no trial has completed).

    Data: the named ``dataset`` (``data_dir``, ``verify`` as :func:`hetrec.data.load_dataset`),
    or the folder ``tables`` (labelled ``"tables"``), or ``data``, labelled ``dataset``: a loaded
    dataset (anything with a ``graph``) or a function returning one, called only when a trial is
    to run. The data is read once (a folder that is refused, or whose study has reached the
    budget, is answered without reading it), split as every hetrec run is
    (``kfold_split(graph, k, seed, val_ratio)``), and fold ``fold``'s validation set scores the
    trials. ``space`` replaces ``SPACES[model]``. ``seed`` seeds the split, the sampler and
    every trial's training; ``num_threads`` and ``device`` are the trainer's. One line per
    trial goes to ``log``.
    """
    optuna = _optuna()
    model_class(model)  # an unknown model fails here, before anything is read
    if space is None:
        if model not in SPACES:
            raise TuneError(f"no search space for model {model!r}: add one to hetrec/tune/spaces.py")
        space = SPACES[model]
    check_space(model, space)
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ValueError(f"trials must be a positive integer, got {trials!r}")
    if not 0 <= fold < k:
        raise ValueError(f"fold {fold} does not exist in a {k}-fold split (folds 0..{k - 1})")
    deadline = None if timeout is None else time.monotonic() + timeout
    metric = TrainConfig().metric
    budget = trials if space else 1
    identity = {"dataset": "tables" if tables else dataset, "model": model, "fold": fold, "k": k, "seed": seed,
                "val_ratio": val_ratio, "metric": metric, "space": json.loads(json.dumps(space))}
    out_dir = Path(out_dir)
    url = f"sqlite:///{(out_dir / 'study.db').resolve()}"
    with _quiet(optuna), _storage_errors(out_dir / "study.db"):
        study = _existing_study(optuna, out_dir, url, identity)  # a refused folder is left untouched
        if study is not None and _finished(study) >= budget:  # nothing to run: the data is not even read
            with _locked(out_dir):
                log(f"{out_dir}: {_finished(study)} finished trial(s), the budget is {budget}: nothing to run")
                return _write_results(study, out_dir, budget)
        if study is not None and _protocol(study) != PROTOCOL:
            raise TuneError(f"{out_dir} holds a study of tuning protocol {_protocol(study)} with {_finished(study)} "
                            f"of {budget} trials; this hetrec runs protocol {PROTOCOL} (docs/tuning.md) and does not "
                            "mix them in one study: move the folder aside to tune again")
        if not space:
            log(f"{model}: nothing to tune (empty search space); one evaluation with its settings")
        if data is None:
            data = load_tables_dir(tables) if tables else load_dataset(dataset, root=data_dir, verify=verify)
        elif callable(data):
            data = data()
        splits = kfold_split(data.graph, k=k, seed=seed, val_ratio=val_ratio)
        cover = splits.coverage(fold)
        if cover["no_val"] == cover["users"]:
            raise TuneError(f"fold {fold}: no user has a validation interaction (val_ratio {val_ratio}); "
                            "use a larger val_ratio or more interactions per user")
        digests = {"data_digest": graph_digest(data.graph), "split_digest": splits.digest()}
        out_dir.mkdir(parents=True, exist_ok=True)
        with _locked(out_dir):
            study = _open_study(optuna, out_dir, url, identity, digests, log)
            split = splits[fold]
            while (n := _finished(study)) < budget:
                if deadline is not None and time.monotonic() >= deadline:
                    log(f"timeout ({timeout:g} s): stopping after {n} of {budget} trials; run again to continue")
                    break
                study.sampler = _sampler(optuna, seed, n)
                _run_trial(optuna, study, model, space, split, seed, num_threads, device, metric)
                _log_trial(log, study, n + 1, budget, metric)
                _write_results(study, out_dir, budget)
            return _write_results(study, out_dir, budget)


def _sampler(optuna, seed: int, n: int):
    """TPE for the study's ``n``-th trial, seeded by ``(seed, n)``: TPE's only state besides the
    finished trials is its random generator, so the ``n``-th trial samples the same whether
    the study ran without a stop or was resumed."""
    return optuna.samplers.TPESampler(seed=int(np.random.SeedSequence([seed, n]).generate_state(1)[0]))


def _open_study(optuna, out_dir: Path, url: str, identity: dict, digests: dict, log):
    """The folder's study (created when new), checked against the data's digests, with the
    trials a killed process left running marked failed. Called with the folder locked."""
    study = _existing_study(optuna, out_dir, url, identity)  # again, now that the folder is ours
    if study is None:
        study = optuna.create_study(study_name=STUDY_NAME, storage=url, direction="maximize", load_if_exists=True)
        study.set_user_attr("hetrec", {**identity, **digests, "protocol": PROTOCOL, "hetrec_version": __version__,
                                       "optuna_version": optuna.__version__})
        point, outside = registry_point(identity["model"], identity["space"]) if identity["space"] else ({}, {})
        if point and not outside:
            study.enqueue_trial(point, user_attrs={"origin": "registry"})
        elif outside:
            log("the registry's settings are not a point of the search space ("
                + ", ".join(f"{k} {v!r}" for k, v in outside.items()) + "): the study starts from a sampled trial")
    saved = study.user_attrs["hetrec"]
    for key, new in digests.items():
        if saved.get(key) != new:
            what = key.split("_")[0]
            raise TuneError(f"{out_dir}: the {what} differ from the {what} this study was run on (sha256 "
                            f"{saved.get(key, '')[:12]}… then, {new[:12]}… now): use the same data or another folder")
    running = optuna.trial.TrialState.RUNNING
    for t in study.get_trials(deepcopy=False, states=(running,)):  # nothing else runs in a locked folder
        study.tell(t.number, state=optuna.trial.TrialState.FAIL)
        log(f"trial #{t.number} was left running by a stopped process: marked failed, to be run again")
        if t.user_attrs.get("origin") == "registry":  # the registry's trial is run again as it was
            study.enqueue_trial(t.params, user_attrs={"origin": "registry"})
    study.pruner = _pruner(optuna)
    return study


def _pruner(optuna):
    """Protocol 2: the median rule (after 5 complete trials and 5 epochs) stops only a trial
    whose best epoch is :data:`PRUNE_PATIENCE` or more epochs behind it. (Optuna's own
    ``PatientPruner`` waits for the values to fall below their best, so a trial on a flat
    plateau below the median would never be stopped.)"""
    median = optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=5)

    class PatientMedian(optuna.pruners.BasePruner):
        def prune(self, study, trial) -> bool:
            values = trial.intermediate_values
            if not values:
                return False
            step = max(values)
            best = max(values.values())
            best_step = min(s for s, v in values.items() if v == best)
            return step - best_step >= PRUNE_PATIENCE and median.prune(study, trial)

    return PatientMedian()


def _protocol(study) -> int:
    return study.user_attrs.get("hetrec", {}).get("protocol", 1)


def _run_trial(optuna, study, model, space, split, seed, num_threads, device, metric) -> None:
    """Ask for a trial, train it on ``split`` and tell its value (or that it was pruned)."""
    states = optuna.trial.TrialState
    trial = study.ask()
    t0 = time.perf_counter()
    params = suggest(trial, space)

    def report(epoch: int, val: dict) -> None:
        trial.report(val[metric], epoch)
        if trial.should_prune():
            raise optuna.TrialPruned(f"pruned at epoch {epoch}: validation {metric} {val[metric]:.4f}, no better for "
                                     f"{PRUNE_PATIENCE} epochs and below the median of earlier trials at this epoch")

    try:
        try:
            overrides, train = split_settings(params, model)
            recommender = create_model(model, **overrides)
            config = TrainConfig(seed=seed, num_threads=num_threads, progress=False, **train)
        except (TypeError, ValueError) as err:  # a combination the model refuses: as bad as it gets
            raise optuna.TrialPruned(f"invalid settings: {err}") from None
        try:
            result = Trainer(config, out_dir=None, log=lambda m: None, device=device,
                             on_epoch=report).fit(recommender, split, evaluate_test=False)
        except (TrainingError, ValueError) as err:  # e.g. a non-finite loss at a high learning rate
            raise optuna.TrialPruned(f"training failed: {str(err).splitlines()[0]}") from None
    except optuna.TrialPruned as why:
        trial.set_user_attr("note", str(why))
        trial.set_user_attr("seconds", time.perf_counter() - t0)
        study.tell(trial, state=states.PRUNED)
        return
    except BaseException:  # an error of hetrec's or an interrupt: FAIL, not counted, run again on resume
        trial.set_user_attr("seconds", time.perf_counter() - t0)
        study.tell(trial, state=states.FAIL)
        raise
    trial.set_user_attr("best_epoch", result.best_epoch)
    trial.set_user_attr("seconds", time.perf_counter() - t0)
    study.tell(trial, result.val[metric])


def _finished(study) -> int:
    """Trials that count toward the budget: complete or pruned (failed ones are run again)."""
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))


def _best(study):
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return max(complete, key=lambda t: (t.value, -t.number)) if complete else None


def _fmt(params: dict) -> str:
    return " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()) or "(defaults)"


def _log_trial(log, study, n: int, budget: int, metric: str) -> None:
    t = study.get_trials(deepcopy=False)[-1]
    best = _best(study)
    outcome = f"{metric} {t.value:.4f}" if t.state.name == "COMPLETE" else t.user_attrs.get("note", t.state.name)
    origin = "(the registry's settings) " if t.user_attrs.get("origin") == "registry" else ""
    log(f"trial {n}/{budget}  {origin}{_fmt(t.params)}  {outcome}  "
        + (f"best {best.value:.4f} (trial #{best.number})  " if best else "")
        + f"{t.user_attrs.get('seconds', 0.0):.1f} s")


def _note(t) -> str:
    """Why a trial was pruned, and which trial ran the registry's settings."""
    notes = (["the registry's settings"] if t.user_attrs.get("origin") == "registry" else []) + \
        ([t.user_attrs["note"]] if t.user_attrs.get("note") else [])
    return "; ".join(notes)


def _write_results(study, out_dir: Path, budget: int) -> dict | None:
    """``trials.csv`` (every trial) and ``best.json`` (the best complete trial), atomically."""
    saved = study.user_attrs["hetrec"]
    names = list(saved["space"])
    all_trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["number", "state", "value", *names, "seconds", "best_epoch", "note"])
    for t in all_trials:
        value = t.value if t.state.name == "COMPLETE" else None
        seconds = t.user_attrs.get("seconds")
        writer.writerow([t.number, t.state.name, "" if value is None else repr(value),
                         *[t.params.get(n, "") for n in names], "" if seconds is None else f"{seconds:.2f}",
                         t.user_attrs.get("best_epoch", ""), _note(t)])
    atomic_write_text(out_dir / "trials.csv", buf.getvalue())
    best = _best(study)
    if best is None:
        return None
    overrides, train = split_settings(best.params, saved["model"])
    registry = model_config(saved["model"])  # only what differs from the registry: a registry trial that
    overrides = {k: v for k, v in overrides.items()  # wins is the registry model, and its cells are reused
                 if not (getattr(registry, k) == v and type(getattr(registry, k)) is type(v))}
    config = TrainConfig(**train)
    record = {"dataset": saved["dataset"], "model": saved["model"], "fold": saved["fold"], "k": saved["k"],
              "seed": saved["seed"], "val_ratio": saved["val_ratio"], "split": "validation",
              "trials": _finished(study), "budget": budget, "best_trial": best.number, "metric": saved["metric"],
              "protocol": saved.get("protocol", 1),
              "value": best.value, "model_overrides": overrides,
              "train": {key: getattr(config, key) for key in TRAIN_KEYS},
              "hetrec_version": saved.get("hetrec_version"), "optuna_version": saved.get("optuna_version")}
    atomic_write_text(out_dir / "best.json", json.dumps(record, indent=2) + "\n")
    return record


def _existing_study(optuna, out_dir: Path, url: str, identity: dict):
    """The study in ``out_dir`` (``None`` for a new or empty folder), refused with one line
    when the folder holds something else or a study of other settings. Writes nothing."""
    if out_dir.exists() and not out_dir.is_dir():
        raise TuneError(f"{out_dir} is a file, not a folder")
    db = out_dir / "study.db"
    if not db.is_file():
        others = sorted(p.name for p in out_dir.iterdir() if p.name != ".lock") if out_dir.is_dir() else []
        if others:
            raise TuneError(f"{out_dir} is not empty ({', '.join(others[:3])}{' …' if len(others) > 3 else ''}) "
                            "and holds no hetrec study (no study.db): choose a new or empty folder")
        return None
    try:
        study = optuna.load_study(study_name=STUDY_NAME, storage=url)
        saved = study.user_attrs.get("hetrec")
        if saved is None and not study.trials:  # created by a process stopped before it said what it was
            return None
        if saved is None:
            raise ValueError("no hetrec settings recorded")
    except Exception as err:  # noqa: BLE001 - any unreadable database gets one clear message
        raise TuneError(f"{db} is not a readable hetrec study ({str(err).splitlines()[0] if str(err) else err!r})"
                        ) from None
    changed = [k for k in IDENTITY if saved.get(k) != identity[k]]
    if changed:
        what = "; ".join("another search space" if k == "space" else f"{k} {saved.get(k)!r} there, {identity[k]!r} now"
                         for k in changed)
        raise TuneError(f"{out_dir} holds another study ({saved.get('dataset')} / {saved.get('model')}, fold "
                        f"{saved.get('fold')}, seed {saved.get('seed')}; {what}): a folder holds one study, "
                        "choose another --out")
    return study


@contextmanager
def _locked(out_dir: Path):
    try:
        with exclusive_lock(out_dir / ".lock", f"study folder {out_dir}"):
            yield
    except LockedError as err:
        raise TuneError(str(err)) from None


#: SQLite's words for an operating-system error -> its usual wording
_SQLITE_REASONS = {"database or disk is full": errno.ENOSPC, "readonly database": errno.EROFS,
                   "disk i/o error": errno.EIO, "unable to open database file": errno.EACCES}


@contextmanager
def _storage_errors(db: Path):
    """A write to the study's database that fails (a full or read-only disk) ends as one
    :class:`TuneError` naming the database; SQLite has rolled the write back, so the study holds
    the trials told before and resumes from them."""
    try:
        yield
    except Exception as err:
        chain, e = [], err
        while e is not None and len(chain) < 8:
            chain.append(e)
            e = e.__cause__ or e.__context__
        storage = [e for e in chain if type(e).__module__.split(".")[0] == "sqlalchemy"
                   or type(e).__name__ == "StorageInternalError"]
        if not storage:
            raise
        text = " ".join(str(e) for e in chain).lower()
        code = next((c for words, c in _SQLITE_REASONS.items() if words in text), None)
        reason = os.strerror(code) if code is not None else first_line(str(storage[-1]))
        raise TuneError(f"{db}: {reason}; the study keeps the trials finished before") from None


@contextmanager
def _quiet(optuna):
    """Optuna's own per-trial INFO lines off (hetrec logs one line per trial itself)."""
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(level)


__all__ = ["tune", "suggest", "split_settings", "TuneError", "STUDY_NAME"]
