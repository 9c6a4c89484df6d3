"""Type and range checks of model settings, run before anything is built, read or written.

Every model's ``Config`` is a dataclass; :func:`check_config` checks each field against its
annotation (``int`` takes integers only, ``float`` any finite number, ``bool`` only booleans,
``X | None`` also ``None``, ``int | str`` an integer or a named choice such as ``"auto"``),
against the named choices of string settings and against the range
rules below (by field name, for every model that has the field). The CLI's ``--set`` and
:func:`hetrec.models.create_model` both go through it, so ``--set num_layers=0`` or
``hidden_size=16.5`` fail with one line naming the setting before a run folder is touched.
"""
from __future__ import annotations

import dataclasses
import math

from ..nn.losses import LOSSES

#: integer settings that must be at least 1
POSITIVE_INTS = {
    "hidden_size", "embedding_size", "num_heads", "num_experts", "batch_size", "depth",
    "width", "fanout", "num_negatives", "lp_edges_per_relation", "lp_negatives", "walk_length",
    "walks_per_node", "window", "num_neighbors", "num_random_walks", "num_traversals",
    "inference_random_walks", "k", "block_entries", "num_factors", "full_graph_max_edges", "max_neighbors", "max_in_edges",
    "latent_size", "total_anneal_steps", "cl_layer", "history_fanout", "negative_pool", "history_max_age",
}
#: integer settings that must be at least 0
NON_NEGATIVE_INTS = {"attention_layers", "seed", "num_layers", "history_refresh"}  # 0 layers: LightGCN / NGCF = MF
#: (low, high, low inclusive, high inclusive) for number settings
FLOAT_RANGES = {
    "dropout": (0.0, 1.0, True, False),
    "id_dropout": (0.0, 1.0, True, False),
    "node_dropout": (0.0, 1.0, True, False),
    "message_dropout": (0.0, 1.0, True, False),
    "termination_prob": (0.0, 1.0, False, True),
    "mmoe_alpha": (0.0, 1.0, False, False),
    "temperature": (0.0, math.inf, False, False),
    "init_std": (0.0, math.inf, False, False),
    "reg_weight": (0.0, math.inf, True, False),
    "shrink": (0.0, math.inf, True, False),
    "margin": (0.0, math.inf, True, False),
    "negative_slope": (0.0, math.inf, True, False),
    "anneal_cap": (0.0, math.inf, True, False),
    "eps": (0.0, math.inf, True, False),
    "cl_eps": (0.0, math.inf, True, False),
    "noise_std": (0.0, math.inf, True, False),
    "cl_weight": (0.0, math.inf, True, False),
    "cl_temperature": (0.0, math.inf, False, False),
    "cold_map_l2": (0.0, math.inf, False, False),
    "ials_alpha": (0.0, math.inf, False, False),
}
#: allowed values of string settings (a model class may add its own in ``_CHOICES``)
CHOICES = {"loss": LOSSES, "lp_loss": ("bpr", "softmax"), "regularization": ("step", "sigmoid")}


def _kinds(annotation) -> tuple:
    """``("int", True)`` for ``"int | None"``: the base kind and whether None is allowed."""
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    parts = [p.strip() for p in text.split("|")]
    optional = "None" in parts
    base = [p for p in parts if p != "None"]
    return (base[0] if len(base) == 1 else " | ".join(base)), optional


def _fmt(low, high, lo_in, hi_in) -> str:
    return f"{'[' if lo_in else '('}{low:g}, {'∞' if high == math.inf else f'{high:g}'}{']' if hi_in else ')'}"


def check_config(cfg, choices: dict | None = None, model: str = "", minimums: dict | None = None) -> None:
    """Raise ``ValueError`` naming the first setting of ``cfg`` with a wrong type or value.
    ``minimums`` overrides the lower bound of integer settings for one model."""
    where = f"model {model!r}: " if model else ""
    minimums = minimums or {}
    allowed = {**CHOICES, **(choices or {})}
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        kind, optional = _kinds(f.type)
        if v is None:
            if optional:
                continue
            raise ValueError(f"{where}setting {f.name} cannot be null (expects {kind})")
        if kind == "int | str":  # an integer, or one of the named choices (e.g. "auto")
            if isinstance(v, str):
                if v not in allowed.get(f.name, ()):
                    raise ValueError(f"{where}setting {f.name} expects an integer or one of "
                                     f"{', '.join(map(repr, allowed.get(f.name, ())))}, got {v!r}")
                continue
            kind = "int"
        if kind == "int | list[int]":  # one integer, or one per layer (e.g. history_fanout)
            if isinstance(v, (list, tuple)):
                if not v or any(isinstance(x, bool) or not isinstance(x, int) for x in v):
                    raise ValueError(f"{where}setting {f.name} expects an integer or a non-empty list of "
                                     f"integers, got {v!r}")
                low = 1 if f.name in POSITIVE_INTS else 0 if f.name in NON_NEGATIVE_INTS else None
                if low is not None and min(v) < low:
                    raise ValueError(f"{where}setting {f.name} must be at least {low} everywhere, got {v}")
                continue
            kind = "int"
        if kind == "int":
            if isinstance(v, bool) or not isinstance(v, int):
                raise ValueError(f"{where}setting {f.name} expects an integer, got {v!r}")
            low = minimums.get(f.name, 1 if f.name in POSITIVE_INTS else 0 if f.name in NON_NEGATIVE_INTS else None)
            if low is not None and v < low:
                raise ValueError(f"{where}setting {f.name} must be at least {low}, got {v}")
        elif kind == "float":
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"{where}setting {f.name} expects a finite number, got {v!r}")
            if f.name in FLOAT_RANGES:
                low, high, lo_in, hi_in = FLOAT_RANGES[f.name]
                ok = (v >= low if lo_in else v > low) and (v <= high if hi_in else v < high)
                if not ok:
                    raise ValueError(f"{where}setting {f.name} must lie in {_fmt(*FLOAT_RANGES[f.name])}, got {v}")
        elif kind == "bool":
            if not isinstance(v, bool):
                raise ValueError(f"{where}setting {f.name} expects true or false, got {v!r}")
        elif kind == "str":
            if not isinstance(v, str):
                raise ValueError(f"{where}setting {f.name} expects text, got {v!r}")
            if f.name in allowed and v not in allowed[f.name]:
                raise ValueError(f"{where}setting {f.name} must be one of "
                                 f"{', '.join(map(repr, allowed[f.name]))}, got {v!r}")
    fanout, layers = getattr(cfg, "history_fanout", None), getattr(cfg, "num_layers", None)
    if isinstance(fanout, (list, tuple)) and layers is not None and len(fanout) != layers:
        raise ValueError(f"{where}history_fanout needs one entry per layer (num_layers={layers}), got {list(fanout)}")
    size, heads = getattr(cfg, "hidden_size", None), getattr(cfg, "num_heads", None)
    if size is not None and heads is not None and size % heads:
        raise ValueError(f"{where}hidden_size ({size}) must be a multiple of num_heads ({heads})")


__all__ = ["check_config", "CHOICES", "FLOAT_RANGES", "POSITIVE_INTS", "NON_NEGATIVE_INTS"]
