"""What hetrec reads back must be what it wrote: one mechanism for every artefact.

Every file hetrec writes and later reads (a run's ``config.json``, each fold's ``model.pt``,
``checkpoint.pt`` and ``metrics.json``, the run summary, the dataset cache, partition metadata)
carries an ``integrity`` record::

    "integrity": {"belongs_to": {"run": "9f1c…", "fold": 0, "split": "<sha256>", ...},
                  "sha256": "<sha256 of the content and of belongs_to>"}

``belongs_to`` says what the file is part of (a run's identity, the fold, the data and split
digests, the model and its settings); ``sha256`` is the digest of everything else in the file
(tensors by dtype, shape and bytes; other values by their JSON form). Reading a file back
(:func:`read_json`, :func:`load_pt`) checks the schema of the file (:mod:`hetrec._schemas`), the
digest (a flipped bit, an edited value) and that ``belongs_to`` holds the values the reader
expects (a file of another run, fold, model or split): any difference is an
:class:`IntegrityError`, one line that names the file and what to do.

Checkpoints stay loadable with ``torch.load(..., weights_only=True)``: the record is plain text
and integers.
"""
from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

from . import _schemas
from ._io import atomic_torch_save, atomic_write_text

FIELD = "integrity"


class IntegrityError(ValueError):
    """A file that is not what hetrec wrote for the thing being read (damaged, edited, from
    another run, or unreadable); the message names the file and what to do."""


class Unsealed(IntegrityError):
    """A file without an integrity record (written by hetrec before it recorded them)."""


# -- digests ---------------------------------------------------------------------------------
def _feed(h, obj) -> None:
    """Hash ``obj`` unambiguously: containers with their sizes and (sorted) keys, tensors by
    layout, dtype, shape and bytes, scalars by their JSON form (floats exactly, by ``repr``)."""
    import torch

    if isinstance(obj, dict):
        h.update(b"{" + struct.pack("<q", len(obj)))
        for k in sorted(obj, key=lambda k: (type(k).__name__, str(k))):
            _feed(h, k)
            _feed(h, obj[k])
    elif isinstance(obj, (list, tuple)):
        h.update(b"[" + struct.pack("<q", len(obj)))
        for v in obj:
            _feed(h, v)
    elif isinstance(obj, torch.Tensor):
        t = obj.detach().cpu()
        h.update(f"T{t.layout}|{t.dtype}|{tuple(t.shape)}|".encode())
        if t.layout == torch.sparse_coo:
            t = t.coalesce()
            parts = (t.indices(), t.values())
        elif t.layout == torch.sparse_csr:
            parts = (t.crow_indices(), t.col_indices(), t.values())
        else:
            parts = (t,)
        for p in parts:
            p = p.contiguous().reshape(-1)
            h.update(struct.pack("<q", p.numel()))
            if p.numel():
                h.update(p.view(torch.uint8).numpy().tobytes() if p.dtype != torch.bool else p.numpy().tobytes())
    elif isinstance(obj, float):
        h.update(b"f" + repr(obj).encode() + b";")
    elif obj is None or isinstance(obj, (bool, int, str)):
        h.update(b"j" + json.dumps(obj).encode() + b";")
    else:
        raise TypeError(f"cannot digest a {type(obj).__name__}")


def content_digest(obj) -> str:
    """sha256 of ``obj`` (nested dicts, lists, tensors and JSON scalars)."""
    h = hashlib.sha256()
    _feed(h, obj)
    return h.hexdigest()


def seal(payload: dict, belongs_to: dict) -> dict:
    """``payload`` with its integrity record (``payload`` itself is not changed)."""
    payload = {k: v for k, v in payload.items() if k != FIELD}
    belongs_to = dict(belongs_to)
    return {**payload, FIELD: {"belongs_to": belongs_to,
                               "sha256": content_digest({"content": payload, "belongs_to": belongs_to})}}


def _short(v) -> str:
    return f"{v[:12]}…" if isinstance(v, str) and len(v) > 16 else repr(v)


#: how a message names a differing ``belongs_to`` key
_OTHER = {"run": "another run", "fold": "another fold", "data": "other data", "split": "another split",
          "model": "another model", "settings": "other settings", "fold_split": "another split of the fold",
          "dataset": "another dataset", "files": "other raw files", "cache_version": "another cache version",
          "graph": "another graph"}


def unseal(doc: dict, source, expected: dict | None = None, fix: str = "delete it") -> dict:
    """The payload of ``doc`` (read from ``source``) after checking its digest and that its
    ``belongs_to`` holds every key of ``expected`` with the same value. :class:`Unsealed` when
    it has no integrity record; :class:`IntegrityError` (with ``fix``, what to do) otherwise."""
    record = doc.get(FIELD)
    if record is None:
        raise Unsealed(f"{source}: no integrity record (written by hetrec before it recorded what each file "
                       f"belongs to), so it cannot be checked; {fix}")
    _schemas.check(record, _schemas.INTEGRITY, f"{source} ({FIELD})")
    payload = {k: v for k, v in doc.items() if k != FIELD}
    found = content_digest({"content": payload, "belongs_to": record["belongs_to"]})
    if found != record["sha256"]:
        raise IntegrityError(f"{source}: changed since hetrec wrote it (content sha256 {found[:12]}…, recorded "
                             f"{record['sha256'][:12]}…): damaged or edited; {fix}")
    for key, want in (expected or {}).items():
        have = record["belongs_to"].get(key)
        if have != want:
            raise IntegrityError(f"{source}: is a file of {_OTHER.get(key, f'another {key}')} ({key} "
                                 f"{_short(have)}, expected {_short(want)}); {fix}")
    return payload


def belongs_to(doc: dict) -> dict | None:
    record = doc.get(FIELD) if isinstance(doc, dict) else None
    return record.get("belongs_to") if isinstance(record, dict) else None


def sealed_digest(doc: dict) -> str | None:
    record = doc.get(FIELD) if isinstance(doc, dict) else None
    return record.get("sha256") if isinstance(record, dict) else None


# -- files ----------------------------------------------------------------------------------
def _json_form(payload: dict) -> dict:
    """``payload`` as it will read back from JSON (tuples as lists, keys as text)."""
    return json.loads(json.dumps(payload))


def write_json(path, payload: dict, belongs: dict) -> dict:
    """Write ``payload`` sealed as JSON, atomically; returns what was written."""
    doc = seal(_json_form(payload), belongs)
    atomic_write_text(path, json.dumps(doc, indent=2) + "\n")
    return doc


def parse_json(text: str, source) -> dict:
    """A JSON object, or an :class:`IntegrityError` naming ``source``."""
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise IntegrityError(f"{source}: not valid JSON ({getattr(err, 'msg', err)}"
                             f"{f' at line {err.lineno}' if hasattr(err, 'lineno') else ''})") from None
    if not isinstance(doc, dict):
        raise IntegrityError(f"{source}: expected a JSON object, got {_schemas._describe(doc)}")
    return doc


def read_file_text(path) -> str:
    try:
        return Path(path).read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise IntegrityError(f"{path}: cannot be read ({getattr(err, 'strerror', None) or err})") from None


def read_json(path, schema, expected: dict | None = None, fix: str = "delete it", legacy: bool = False):
    """``(payload, record)`` of a JSON file hetrec wrote (``record`` its integrity record): schema,
    digest and ``expected`` checked. With ``legacy``, a file without an integrity record is
    returned unchecked (``record`` None)."""
    doc = parse_json(read_file_text(path), path)
    return _checked(doc, path, schema, expected, fix, legacy)


def _checked(doc, path, schema, expected, fix, legacy):
    _schemas.check(doc, schema, path)
    if legacy and FIELD not in doc:
        return doc, None
    return unseal(doc, path, expected, fix), doc[FIELD]


def save_pt(path, payload: dict, belongs: dict) -> dict:
    """``torch.save`` ``payload`` sealed, atomically; returns the sealed dict."""
    doc = seal(payload, belongs)
    atomic_torch_save(doc, path)
    return doc


def load_pt_raw(path) -> dict:
    """``torch.load(path, weights_only=True)`` (tensors and plain containers only: a pickle that
    would run code is refused), or an :class:`IntegrityError` naming the file."""
    import torch

    try:
        doc = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file gets one clear message
        why = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise IntegrityError(f"{path}: not a readable hetrec checkpoint ({why})") from None
    if not isinstance(doc, dict):
        raise IntegrityError(f"{path}: not a hetrec file (holds {_schemas._describe(doc)}, not a dict)")
    return doc


def load_pt(path, schema, expected: dict | None = None, fix: str = "delete it", legacy: bool = False):
    """``(payload, record)`` of a ``.pt`` file hetrec wrote; checked like :func:`read_json`."""
    return _checked(load_pt_raw(path), path, schema, expected, fix, legacy)


__all__ = ["IntegrityError", "Unsealed", "content_digest", "seal", "unseal", "belongs_to", "sealed_digest",
           "write_json", "read_json", "parse_json", "save_pt", "load_pt", "load_pt_raw"]
