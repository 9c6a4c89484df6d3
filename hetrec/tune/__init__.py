"""Hyper-parameter search: every model tuned the same way, on the validation set of one fold.

:data:`SPACES` holds the search space of every model (:mod:`hetrec.tune.spaces`);
:func:`tune` runs a seeded, resumable Optuna study of one model (:mod:`hetrec.tune.study`),
as ``hetrec tune`` does, and writes ``best.json``, which ``benchmarks/accuracy.py --tuned``
reads. Optuna is imported only when a study runs (``pip install 'hetrec[tune]'``).
"""
from .spaces import SPACES, check_space, spaces_markdown
from .study import TuneError, split_settings, suggest, tune

__all__ = ["SPACES", "check_space", "spaces_markdown", "tune", "suggest", "split_settings", "TuneError"]
