"""Input checks shared by the layers: a feature of the wrong size or with too few rows is one
``ValueError`` naming the layer, the node type, and the expected and found shape (instead of
torch's bare ``mat1 and mat2 shapes cannot be multiplied`` deep inside a linear)."""
from __future__ import annotations

import torch


def check_features(layer: str, t: str, x, size: int, rows: int | None = None) -> None:
    """Raise ``ValueError`` unless ``x`` is a 2-D tensor with ``size`` columns (and at least
    ``rows`` rows, when given) — the features of node type ``t`` given to ``layer``."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{layer}: node type {t!r}: expected a tensor of features, found {type(x).__name__}")
    if x.dim() != 2 or x.shape[1] != size:
        raise ValueError(f"{layer}: node type {t!r}: expected features of size {size} (a tensor (N, {size})), "
                         f"found shape {tuple(x.shape)}")
    if rows is not None and x.shape[0] < rows:
        raise ValueError(f"{layer}: node type {t!r}: expected a row for each of its {rows} nodes, "
                         f"found {x.shape[0]} rows")
