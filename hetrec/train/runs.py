"""Reading run folders back: a run's settings and data, and the trained model of a fold.

A run folder is what :func:`hetrec.train.experiment.run_experiment` writes (``config.json``,
``fold-<f>/model.pt``, ...). ``hetrec evaluate`` and ``hetrec recommend`` read runs through
these functions; data or splits that differ from the run's recorded digests are refused.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..data import DataError, graph_digest, kfold_split
from ..models import create_model, upgrade_config
from .device import resolve_device
from .experiment import ExperimentConfig, check_digests, load_data
from .trainer import TrainingError, load_checkpoint


def load_run(run_dir):
    """``(config, dataset)`` of a run folder (the data is reloaded from where the run read it)."""
    run_dir = Path(run_dir)
    path = run_dir / "config.json"
    if not path.is_file():
        raise DataError("not a hetrec run folder (no config.json)", run_dir)
    cfg = ExperimentConfig.from_json(path.read_text(), path)
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
    saved = load_checkpoint(path)
    missing = [k for k in ("model_name", "model", "model_config") if k not in saved]
    if missing:
        raise TrainingError(f"{path}: not a hetrec model file (no {', '.join(missing)})")
    split = kfold_split(dataset.graph, k=cfg.k, seed=cfg.seed, val_ratio=cfg.val_ratio)[fold]
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


def trained_folds(run_dir) -> list:
    """The folds of a run folder that have a trained model (``fold-<f>/model.pt``), ascending."""
    return sorted(int(p.parent.name.split("-")[1]) for p in Path(run_dir).glob("fold-*/model.pt"))


__all__ = ["load_run", "load_fold_model", "trained_folds"]
