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
