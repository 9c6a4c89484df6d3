"""Reading delimited text tables with errors that name the file, line and field.

pandas would raise from deep inside its parser, or silently turn a bad id into NaN; here each
table is split into lines and fields with vectorised string operations, and every check that
fails reports the first offending line (1-based, counting the header) and field.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataError

_INT_PATTERN = r"-?[0-9]+"  # ASCII digits only: \d would also accept "١٢٣"
_FLOAT_PATTERN = r"[-+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?"


def read_table(path, columns: dict, sep: str, *, encoding: str = "utf-8", header: bool = False,
               layout: str = "") -> pd.DataFrame:
    """Read a delimited file into a DataFrame with one column per entry of ``columns``.

    ``columns`` maps column name to kind: ``"int"`` (int64), ``"float"`` (float64) or ``"str"``.
    ``layout`` describes the expected line format for error messages. Lines may end in LF or
    CRLF; trailing empty lines are ignored, an empty line elsewhere is an error.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"file not found; expected {layout or 'a delimited table'}", path)
    raw = path.read_bytes()
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise DataError(f"cannot decode as {encoding}: {err.reason}", path, line) from None
    lines = pd.Series(text.splitlines(), dtype=object)
    first = 1
    if header:
        lines = lines.iloc[1:]
        first = 2
    # drop trailing empty lines only
    nonempty = np.flatnonzero(lines.str.len().to_numpy() > 0)
    lines = lines.iloc[: nonempty[-1] + 1] if len(nonempty) else lines.iloc[:0]
    lines.index = np.arange(first, first + len(lines))
    names = list(columns)
    if len(lines) == 0:
        return pd.DataFrame({c: pd.Series(dtype=_dtype(k)) for c, k in columns.items()})
    counts = lines.str.count(_escape(sep)).to_numpy() + 1
    bad = np.flatnonzero(counts != len(names))
    if len(bad):
        ln = int(lines.index[bad[0]])
        found = 0 if lines.iloc[bad[0]] == "" else int(counts[bad[0]])
        raise DataError(f"expected {len(names)} fields ({layout or sep.join(names)}), found {found}",
                        path, ln)
    parts = lines.str.split(sep, n=len(names) - 1, regex=False, expand=True)
    parts.columns = names
    out = {}
    for name, kind in columns.items():
        col = parts[name]
        if kind == "str":
            out[name] = col.to_numpy(dtype=object)
            continue
        stripped = col.str.strip()
        ok = stripped.str.fullmatch(_INT_PATTERN if kind == "int" else _FLOAT_PATTERN).to_numpy(bool)
        if not ok.all():
            i = int(np.flatnonzero(~ok)[0])
            what = "an integer" if kind == "int" else "a number"
            raise DataError(f"expected {what}, found {col.iloc[i]!r}", path, int(lines.index[i]), name)
        if kind == "int":
            _check_int64(stripped, path, lines.index, name)
        else:
            values = stripped.astype(np.float64)
            bad = ~np.isfinite(values.to_numpy())
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise DataError(f"expected a finite number, found {col.iloc[i]!r}", path, int(lines.index[i]), name)
        out[name] = stripped.astype(_dtype(kind)).to_numpy()
    df = pd.DataFrame(out)
    df.index = lines.index  # keep line numbers for later checks
    return df


_INT64_MAX = 2**63 - 1


def _check_int64(digits: pd.Series, path, line_numbers, name) -> None:
    """Raise naming the first integer that does not fit int64 (pandas would wrap it around or
    raise OverflowError from deep inside); only numbers of 19 or more digits are inspected."""
    long = np.flatnonzero(digits.str.lstrip("-").str.len().to_numpy() >= 19)
    for i in long:
        v = int(digits.iloc[i])
        if not -_INT64_MAX - 1 <= v <= _INT64_MAX:
            raise DataError(f"value {digits.iloc[i]} does not fit a 64-bit integer", path,
                            int(line_numbers[i]), name)


def check_range(df: pd.DataFrame, column: str, low, high, path) -> None:
    """Raise naming the first line whose ``column`` lies outside ``[low, high]``."""
    v = df[column].to_numpy()
    bad = np.flatnonzero((v < low) | (v > high))
    if len(bad):
        i = bad[0]
        raise DataError(f"value {v[i]} outside the valid range {low}..{high}", path,
                        int(df.index[i]), column)


def check_unique(df: pd.DataFrame, columns: list, path) -> None:
    """Raise naming the first line that repeats an earlier line's ``columns``."""
    dup = df.duplicated(subset=columns, keep="first").to_numpy()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        key = ", ".join(f"{c}={df[c].iloc[i]}" for c in columns)
        raise DataError(f"duplicate entry ({key})", path, int(df.index[i]))


def _escape(sep: str) -> str:
    import re

    return re.escape(sep)


def _dtype(kind: str):
    return {"int": np.int64, "float": np.float64, "str": object}[kind]
