"""What dense item x item models cost, checked before they allocate it.

EASE and a dense GF-CF hold matrices of ``items²`` entries: 17,632 Last.FM artists in float64 are
2.5 GB per copy. :func:`check_dense_fits` refuses, with one line that names the model, the item
count and both figures, a model whose matrices would not fit in the memory available now (or in
``limit_gb`` when the user sets one), instead of letting the process be killed mid-run.
"""
from __future__ import annotations


def available_memory_bytes() -> int | None:
    """Memory the kernel says a new allocation can use now (``MemAvailable``), or None where
    that cannot be read (then only an explicit limit is enforced)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_dense_fits(model: str, num_items: int, copies: int, itemsize: int, limit_gb: float | None = None,
                     hint: str = "") -> int:
    """Raise ``ValueError`` when ``copies`` dense ``num_items x num_items`` arrays of ``itemsize``
    bytes need more than ``limit_gb`` (default: 90 % of the available memory). Returns the bytes."""
    need = copies * num_items * num_items * itemsize
    if limit_gb is not None:
        limit, what = limit_gb * 1e9, f"the limit max_memory_gb={limit_gb:g}"
    else:
        avail = available_memory_bytes()
        if avail is None:
            return need
        limit, what = 0.9 * avail, f"90 % of the {avail / 1e9:.1f} GB of memory available now"
    if need > limit:
        raise ValueError(f"{model}: {copies} dense item x item matrices of {num_items:,} items need "
                         f"{need / 1e9:.1f} GB ({copies} x items² x {itemsize} bytes), more than {what}"
                         f"{'; ' + hint if hint else ''}")
    return need


__all__ = ["available_memory_bytes", "check_dense_fits"]
