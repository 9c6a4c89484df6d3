"""Which device to train on, and moving batches there.

Batches are built on the CPU (negative sampling, random walks and the dense sampler read CPU
graphs and numpy arrays, and are faster there for graphs of this size) and moved to the
training device by :func:`to_device`, with pinned memory and non-blocking copies on CUDA.
"""
from __future__ import annotations

from typing import Any

import torch


def resolve_device(spec=None) -> torch.device:
    """``"auto"`` / ``None`` (CUDA if available, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"``
    or a ``torch.device``; a CUDA device that does not exist here is a clear ``ValueError``."""
    if isinstance(spec, torch.device):
        device = spec
    else:
        spec = "auto" if spec is None else str(spec).strip().lower()
        if spec == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        try:
            device = torch.device(spec)
        except RuntimeError:
            raise ValueError(f"unknown device {spec!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"unsupported device {str(device)!r}; use auto, cpu, cuda or cuda:N")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {str(device)!r} asked for, but CUDA is not available here "
                             "(torch.cuda.is_available() is False; is the CUDA build of torch and dgl installed?)")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device {str(device)!r} does not exist: {torch.cuda.device_count()} CUDA device(s)")
    return device


def to_device(obj: Any, device: torch.device) -> Any:
    """``obj`` with every tensor and DGL graph in it on ``device``: tensors, DGL graphs and
    blocks, and lists, tuples, named tuples and dicts of them (others are returned as is)."""
    device = torch.device(device)
    if isinstance(obj, torch.Tensor):
        if obj.device == device:
            return obj
        if device.type == "cuda" and obj.device.type == "cpu":
            return obj.pin_memory().to(device, non_blocking=True)
        return obj.to(device)
    if hasattr(obj, "canonical_etypes") and hasattr(obj, "to"):  # a DGLGraph or block
        return obj if obj.device == device else obj.to(device)
    if isinstance(obj, dict):
        return {k: to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # a NamedTuple batch
        return type(obj)(*(to_device(v, device) for v in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_device(v, device) for v in obj)
    return obj


__all__ = ["resolve_device", "to_device"]
