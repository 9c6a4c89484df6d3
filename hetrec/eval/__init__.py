"""Evaluation: full-ranking top-N metrics (P@N, R@N, HR@N, NDCG@N) and result tables (DESIGN §4).

This package imports nothing else of hetrec; the trainer passes ``model.scores`` as ``score_fn``.
"""
from .metrics import METRIC_NAMES, format_metrics_table, mean_std, topn_metrics

__all__ = ["METRIC_NAMES", "format_metrics_table", "mean_std", "topn_metrics"]
