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
