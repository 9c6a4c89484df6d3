"""Shared by the benchmark scripts: the machine description and atomic CSV output."""
from __future__ import annotations

import csv
import io
import os
import platform
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
