"""Reading run folders back: a run's settings and data, and the trained model of a fold.

A run folder is what :func:`hetrec.train.experiment.run_experiment` writes (``config.json``,
``fold-<f>/model.pt``, ...). ``hetrec evaluate`` and ``hetrec recommend`` read runs through
these functions; data or splits that differ from the run's recorded digests are refused, and so
is a model file that does not belong to the run, its fold and its split (:mod:`hetrec._integrity`).
"""
from __future__ import annotations

import re
import warnings
from dataclasses import replace
from pathlib import Path

import torch

from .. import _schemas
from .._integrity import load_pt, read_file_text
from ..data import DataError, graph_digest, kfold_split
from ..models import create_model, upgrade_config
from .device import resolve_device
from .experiment import ExperimentConfig, _fix, check_digests, check_fold_file, fold_identity, load_data
from .trainer import TrainingError, split_fingerprint


def load_run(run_dir, data_dir=None):
    """``(config, dataset)`` of a run folder. The data is reloaded from where the run read it, or
    from ``data_dir``; either way it must have the digests the run recorded."""
    run_dir = Path(run_dir)
    path = run_dir / "config.json"
    if not path.is_file():
        raise DataError("not a hetrec run folder (no config.json)", run_dir)
    cfg = ExperimentConfig.from_json(read_file_text(path), path, file=True)
    if cfg.run_id is None:
        warnings.warn(f"{path} was written before hetrec recorded run ids: its model files are not checked "
                      "against the run (train it again to have them checked)", stacklevel=2)
    if data_dir is not None:
        cfg = replace(cfg, data_dir=str(data_dir))
    dataset = load_data(cfg)
    check_digests(cfg, graph_digest(dataset.graph),
                  kfold_split(dataset.graph, k=cfg.k, seed=cfg.seed, val_ratio=cfg.val_ratio).digest(), path)
    return cfg, dataset


def load_fold_model(run_dir, fold: int, cfg=None, dataset=None, device=None):
    """The best model of one fold, set up on that fold's training graph and moved to ``device``
    (default CPU): ``(model, split)``."""
    run_dir = Path(run_dir)
    if cfg is None or dataset is None:
        cfg, dataset = load_run(run_dir)
    path = run_dir / f"fold-{fold}" / "model.pt"
    if not path.is_file():
        raise DataError(f"no trained model for fold {fold}", path)
    if not 0 <= fold < cfg.k:
        raise DataError(f"fold {fold} does not exist in this {cfg.k}-fold run", run_dir)
    saved, record = load_pt(path, _schemas.MODEL_FILE, fold_identity(cfg, fold), _fix(path.parent),
                            legacy=cfg.run_id is None)
    check_fold_file(cfg, record, path)
    split = kfold_split(dataset.graph, k=cfg.k, seed=cfg.seed, val_ratio=cfg.val_ratio)[fold]
    if record is not None and record["belongs_to"].get("fold_split") not in (None, split_fingerprint(split)):
        raise TrainingError(f"{path}: trained on another split of fold {fold} than this run's; {_fix(path.parent)}")
    torch.manual_seed(0)
    try:
        model = create_model(saved["model_name"], **upgrade_config(saved["model_name"], saved["model_config"]))
    except (ValueError, TypeError) as err:
        raise TrainingError(f"{path}: cannot rebuild the saved model ({err})") from None
    model.setup(split)
    try:
        model.load_state_dict(saved["model"])
    except RuntimeError as err:
        raise TrainingError(f"{path}: the saved parameters do not fit a {saved['model_name']!r} model "
                            f"built from its saved settings ({str(err).splitlines()[0]})") from None
    model.to(resolve_device(device or "cpu"))
    model.eval()
    return model, split


def trained_folds(run_dir, k: int | None = None) -> list:
    """The folds of a run folder that have a trained model (``fold-<f>/model.pt``), ascending
    (other folders, such as a backup ``fold-0.bak``, are not folds; nor is ``f >= k``)."""
    folds = []
    for p in Path(run_dir).glob("fold-*/model.pt"):
        m = re.fullmatch(r"fold-(0|[1-9][0-9]*)", p.parent.name)
        if m and (k is None or int(m.group(1)) < k):
            folds.append(int(m.group(1)))
    return sorted(folds)


__all__ = ["load_run", "load_fold_model", "trained_folds"]
