"""Shared by the benchmark scripts: the machine description, atomic CSV output and the finished
`hetrec tune` studies of `--tuned DIR[,DIR...]`."""
from __future__ import annotations

import csv
import io
import json
import os
import platform
import sys
from pathlib import Path

os.environ.setdefault("DGLBACKEND", "pytorch")


def machine() -> str:
    """CPU model, core count, torch threads and library versions, for every printed table."""
    import dgl
    import numpy as np
    import torch

    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}; "
            f"Python {platform.python_version()}, torch {torch.__version__}, dgl {dgl.__version__}, "
            f"numpy {np.__version__}")


def write_csv_atomically(rows, path) -> None:
    """Write dict rows as CSV through a temporary file renamed into place."""
    from hetrec.data.files import atomic_write_bytes

    keys = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys)
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(Path(path), buf.getvalue().encode())


class PeakRSS:
    """High-water mark of the resident set above its value at entry, in MiB (Linux only).

    glibc's ``malloc_trim`` first returns freed heap, so that reused memory shows as growth,
    then ``/proc/self/clear_refs`` resets VmHWM; ``mib`` is ``None`` where that is not
    permitted. Heap reuse can still hide allocations: read it as an order of magnitude.
    """

    def __enter__(self):
        import ctypes

        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):
            pass
        try:
            Path("/proc/self/clear_refs").write_text("5")
            self.base = status_kib("VmRSS")
        except OSError:
            self.base = None
        return self

    def __exit__(self, *exc):
        self.mib = None if self.base is None else (status_kib("VmHWM") - self.base) / 1024


def status_kib(field: str) -> int:
    """A ``/proc/self/status`` field (VmRSS, VmHWM, ...) in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise OSError(field)


def run_cells(script, sizes, cells: Path, args_for_cell, timeout: float, summary) -> list:
    """Run ``script --cell N ARGS`` in its own process for each size ``N`` without a finished
    cell under ``cells`` (``<N>.json``, written atomically from the last stdout line), stopping
    at the first timeout or failure (larger sizes skipped); ``summary(row)`` is printed per new
    cell. Returns every finished cell's row."""
    import json
    import subprocess
    import sys

    from hetrec._io import atomic_write_text

    cells.mkdir(parents=True, exist_ok=True)
    for n in sizes:
        path = cells / f"{int(n)}.json"
        if path.exists():
            continue
        print(f"== {int(n):,} interactions", file=sys.stderr, flush=True)
        cmd = [sys.executable, str(script), "--cell", str(n), *args_for_cell]
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            print(f"   {int(n):,}: over {timeout:.0f} s, stopped; larger sizes skipped", file=sys.stderr)
            break
        if res.returncode != 0:
            tail = res.stderr.strip().splitlines()[-1:] or ["(no message)"]
            print(f"   {int(n):,}: failed ({tail[0]}); larger sizes skipped", file=sys.stderr)
            break
        row = json.loads(res.stdout.strip().splitlines()[-1])
        atomic_write_text(path, json.dumps(row, indent=1))
        print(f"   {summary(row)}", file=sys.stderr, flush=True)
    return [json.loads(f.read_text()) for f in sorted(cells.glob("*.json"))]


def tuned_dirs(tuned) -> list:
    """The folders of ``--tuned DIR[,DIR...]``."""
    return [Path(d) for d in str(tuned).split(",") if d.strip()] if tuned else []


def tuned_best(tuned, dataset: str, model: str) -> dict | None:
    """The best finished study of ``model`` among ``<DIR>/<dataset>/<model>/best.json`` of the
    ``--tuned`` folders (``hetrec tune``'s results; the highest validation value, the first
    folder on a tie), or ``None``. Every study scores the same fold's validation set, so studies
    of one model (a protocol-1 and a protocol-2 study, say) compare directly; choosing among
    them gives the model their trials together, which tuning_seconds counts."""
    best = None
    for folder in tuned_dirs(tuned):
        found = _study_best(folder / dataset / model / "best.json", dataset, model)
        if found is not None and (best is None or found["value"] > best["value"]):
            best = found
    return best


def first_study(tuned, dataset: str, models) -> tuple:
    """``(model, best)`` of the first of ``models`` (``None`` entries skipped) with a finished
    study under the ``--tuned`` folders (:func:`tuned_best`), or ``(None, None)``: a model's own
    study first, then the one it borrows."""
    for model in models:
        best = tuned_best(tuned, dataset, model) if model else None
        if best is not None:
            return model, best
    return None, None


def _study_best(path: Path, dataset: str, model: str) -> dict | None:
    if not path.is_file():
        return None
    best = json.loads(path.read_text())
    if (best.get("dataset"), best.get("model")) != (dataset, model):
        raise SystemExit(f"{path} is the study of {best.get('dataset')} / {best.get('model')}, not {dataset} / {model}")
    if best.get("trials", 0) < best.get("budget", 0):  # a stopped study: its best is not the budget's
        print(f"{path}: a study stopped after {best['trials']} of {best['budget']} trials; {model} keeps the "
              f"registry's settings until it is finished (hetrec tune ... --trials {best['budget']} --out "
              f"{path.parent})", file=sys.stderr)
        return None
    return best
