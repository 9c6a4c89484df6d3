"""The schema of every file hetrec writes and reads back, in one place.

A schema is built from a few small specs (:data:`INT`, :data:`NUMBER`, :func:`Optional`,
:func:`ListOf`, :func:`MapOf`, :func:`Record`, ...). :func:`check` walks a value read back (a
parsed JSON document or a ``torch.load``-ed dict) against one and raises :class:`SchemaError`
naming the file and the field (``config.json: field train.seed: expected an integer, got the
text '0'``). Files are checked when they are read, so that nothing further in hetrec ever sees
a value of the wrong type.

This module imports nothing of hetrec (the data layer uses it too).
"""
from __future__ import annotations

import math


class SchemaError(ValueError):
    """A value of a hetrec file that does not have the type (or shape) its schema says."""


def _describe(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"the text {value[:40]!r}"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


class _Spec:
    what = "a value"

    def check(self, value, where: str) -> None:
        raise NotImplementedError


class _Scalar(_Spec):
    def __init__(self, what, test):
        self.what, self.test = what, test

    def check(self, value, where):
        if not self.test(value):
            raise SchemaError(f"{where}: expected {self.what}, got {_describe(value)}")


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return _is_int(v) or isinstance(v, float)


#: an integer (booleans are not integers here)
INT = _Scalar("an integer", _is_int)
#: an integer of at least 0
COUNT = _Scalar("an integer of at least 0", lambda v: _is_int(v) and v >= 0)
#: an integer or a float, NaN included (metrics of users without items)
NUMBER = _Scalar("a number", _is_number)
#: a finite number
FINITE = _Scalar("a finite number", lambda v: _is_number(v) and math.isfinite(v))
STR = _Scalar("text", lambda v: isinstance(v, str))
#: 64 lowercase hexadecimal digits
SHA256 = _Scalar("a sha256 (64 hexadecimal digits)",
                 lambda v: isinstance(v, str) and len(v) == 64 and all(c in "0123456789abcdef" for c in v))
BOOL = _Scalar("a boolean", lambda v: isinstance(v, bool))
ANY = _Scalar("any value", lambda v: True)


class _Tensor(_Spec):
    what = "a tensor"

    def check(self, value, where):
        import torch

        if not isinstance(value, torch.Tensor):
            raise SchemaError(f"{where}: expected a tensor, got {_describe(value)}")


TENSOR = _Tensor()


class Optional(_Spec):
    """``spec`` or null."""

    def __init__(self, spec):
        self.spec = spec
        self.what = f"{spec.what} or null"

    def check(self, value, where):
        if value is not None:
            self.spec.check(value, where)


class OneOf(_Spec):
    """One of several specs (the first that fits)."""

    def __init__(self, *specs):
        self.specs = specs
        self.what = " or ".join(s.what for s in specs)

    def check(self, value, where):
        for s in self.specs:
            try:
                s.check(value, where)
                return
            except SchemaError:
                continue
        raise SchemaError(f"{where}: expected {self.what}, got {_describe(value)}")


class ListOf(_Spec):
    def __init__(self, item):
        self.item = item
        self.what = "a list"

    def check(self, value, where):
        if not isinstance(value, (list, tuple)):
            raise SchemaError(f"{where}: expected a list, got {_describe(value)}")
        for i, v in enumerate(value):
            self.item.check(v, f"{where}[{i}]")


class MapOf(_Spec):
    """An object whose keys are text and whose values all fit ``value``."""

    def __init__(self, value):
        self.value = value
        self.what = "an object"

    def check(self, value, where):
        if not isinstance(value, dict):
            raise SchemaError(f"{where}: expected an object, got {_describe(value)}")
        for k, v in value.items():
            if not isinstance(k, str):
                raise SchemaError(f"{where}: expected text keys, got {_describe(k)}")
            self.value.check(v, f"{where}.{k}")


class Record(_Spec):
    """An object with named fields: ``required`` must be there, ``optional`` may be; any other
    field is an error unless ``extra`` (a newer hetrec's file is refused, not half-read)."""

    what = "an object"

    def __init__(self, required: dict, optional: dict | None = None, extra: bool = False):
        self.required, self.optional, self.extra = required, optional or {}, extra

    def check(self, value, where):
        if not isinstance(value, dict):
            raise SchemaError(f"{where}: expected an object, got {_describe(value)}")
        missing = [k for k in self.required if k not in value]
        if missing:
            raise SchemaError(f"{where}.{missing[0]}: missing" if where else f"field {missing[0]}: missing")
        for k, v in value.items():
            spec = self.required.get(k) or self.optional.get(k)
            if spec is None:
                if self.extra:
                    continue
                raise SchemaError(f"{where}.{k}: unknown field" if where else f"field {k}: unknown")
            spec.check(v, f"{where}.{k}" if where else f"field {k}")


def check(value, schema: _Spec, source) -> None:
    """Check ``value`` (read from the file ``source``) against ``schema``; a mismatch is a
    :class:`SchemaError` whose message starts with the file and names the field."""
    try:
        schema.check(value, "")
    except SchemaError as err:
        msg = str(err)
        msg = msg[2:] if msg.startswith(": ") else msg
        if msg.startswith("."):
            msg = "field " + msg[1:]
        raise SchemaError(f"{source}: {msg}") from None


# -- the integrity record every artefact carries (hetrec/_integrity.py) ---------------------------
INTEGRITY = Record({"belongs_to": MapOf(OneOf(STR, INT)), "sha256": SHA256})

# -- run folders (hetrec/train) -------------------------------------------------------------------
#: ``TrainConfig`` (hetrec/train/trainer.py); values are range-checked by its ``__post_init__``
TRAIN_CONFIG = Record({}, {
    "epochs": INT, "lr": FINITE, "weight_decay": FINITE, "patience": INT, "min_epochs": INT, "metric": STR,
    "ns": ListOf(INT),
    "seed": INT, "max_batches": Optional(INT), "num_threads": Optional(INT), "progress": Optional(BOOL),
    "grad_clip": Optional(FINITE)})

#: ``config.json`` of a run folder (``ExperimentConfig``); model settings are checked by the model
RUN_CONFIG = Record(
    {"dataset": STR, "model": STR, "folds": ListOf(INT), "k": INT, "seed": INT},
    {"val_ratio": FINITE, "data_dir": Optional(STR), "verify": BOOL, "tables": Optional(STR),
     "model_overrides": MapOf(ANY), "train": TRAIN_CONFIG, "data_digest": Optional(SHA256),
     "split_digest": Optional(SHA256), "nproc": INT, "hetrec_version": STR, "run_id": Optional(STR),
     "model_config": Optional(MapOf(ANY)), "integrity": INTEGRITY})

_METRICS = MapOf(NUMBER)
#: ``fold-<f>/metrics.json`` (the Trainer's, plus the run's timings)
FOLD_METRICS = Record(
    {"best_epoch": COUNT, "val": _METRICS, "test": Optional(_METRICS)},
    {"model_sha256": SHA256, "wall_seconds": FINITE, "train_seconds": FINITE, "epochs": COUNT,
     "step_seconds_median": Optional(FINITE), "sampling_share": Optional(FINITE), "integrity": INTEGRITY})

#: ``metrics.json`` of a run folder (the summary over its folds)
RUN_SUMMARY = Record({"dataset": STR, "model": STR, "folds": MapOf(FOLD_METRICS), "test_mean_std": MapOf(ANY)},
                     {"integrity": INTEGRITY})

#: ``fold-<f>/model.pt``
MODEL_FILE = Record({"model_name": STR, "model": MapOf(TENSOR), "model_config": MapOf(ANY)},
                    {"best_epoch": COUNT, "integrity": INTEGRITY})

#: ``fold-<f>/checkpoint.pt``
CHECKPOINT_FILE = Record(
    {"model_name": STR, "model": MapOf(TENSOR), "optimizer": MapOf(ANY),
     "state": Record({"epoch": COUNT, "best_metric": NUMBER, "best_epoch": COUNT, "bad": COUNT,
                      "best_state": MapOf(TENSOR), "history": ListOf(MapOf(ANY)), "train_seconds": FINITE})},
    {"train_config": MapOf(ANY), "model_config": MapOf(ANY), "integrity": INTEGRITY})

# -- the processed-dataset cache (hetrec/data/datasets.py) ----------------------------------------
CACHE_INFO = Record({"names": MapOf(ListOf(STR)), "dropped": MapOf(COUNT), "bin_sha256": SHA256,
                     "integrity": INTEGRITY})

# -- partition folders (hetrec/distributed/partition.py) ------------------------------------------
_COUNTS = MapOf(COUNT)
PARTITION_META = Record(
    {"format": INT, "fold": COUNT, "k": INT, "seed": COUNT, "val_ratio": FINITE, "graph_digest": SHA256,
     "split_digest": SHA256, "num_parts": INT, "method": STR, "graph_name": STR, "dgl_config": STR,
     "files": MapOf(Record({"sha256": SHA256, "bytes": COUNT})), "integrity": INTEGRITY},
    {"hetrec_version": STR, "dgl_version": STR, "source": MapOf(ANY), "train_graph_digest": SHA256,
     "method_requested": STR, "random_seed": Optional(INT), "halo_hops": COUNT,
     "train_graph": Record({"num_nodes": _COUNTS, "num_edges": _COUNTS}),
     "heldout": Record({"val": COUNT, "test": COUNT}),
     "parts": ListOf(Record({"nodes": _COUNTS, "edges": _COUNTS})),
     "cut_edges": COUNT, "edges": COUNT, "seconds": FINITE, "bytes": COUNT})

# -- a job of DGL's launch.py (hetrec/distributed/worker.py, ``dist-train --prepare``) ---------------
LAUNCH_JOB = Record(
    {"launcher": BOOL, "partition_dir": STR, "part_config": STR, "num_parts": INT, "num_trainers": INT, "model": STR,
     "config": MapOf(ANY), "out_dir": STR, "integrity": INTEGRITY},
    {"graph_name": STR, "threads": INT, "fail_trainer": ANY, "fail_signal": ANY, "shm_tag": Optional(STR),
     "return_embeddings": BOOL, "probe": Optional(STR), "result": Optional(STR),
     "split": Record({"fold": COUNT, "k": INT, "seed": COUNT, "val_ratio": FINITE}), "hetrec_version": STR})


__all__ = ["SchemaError", "check", "Optional", "OneOf", "ListOf", "MapOf", "Record", "INT", "COUNT", "NUMBER",
           "FINITE", "STR", "SHA256", "BOOL", "ANY", "TENSOR", "INTEGRITY", "TRAIN_CONFIG", "RUN_CONFIG",
           "FOLD_METRICS", "RUN_SUMMARY", "MODEL_FILE", "CHECKPOINT_FILE", "CACHE_INFO", "PARTITION_META",
           "LAUNCH_JOB"]
