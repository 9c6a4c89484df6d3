"""Evaluation: full-ranking top-N metrics (P@N, R@N, HR@N, NDCG@N) and result tables (docs/evaluation.md),
and serving a trained model (:func:`recommend`: a user's top-N items by raw id).

This package imports nothing else of hetrec but :mod:`hetrec.data`; the trainer passes
``model.scores`` as ``score_fn``.
"""
from .metrics import METRIC_NAMES, format_metrics_table, mean_std, topn_metrics
from .recommend import recommend

__all__ = ["METRIC_NAMES", "format_metrics_table", "mean_std", "topn_metrics", "recommend"]
