"""Bring your own data: user-supplied tables -> a heterograph in the hetrec schema.

>>> ds = from_tables(interactions_df,
...                  user_attributes={"country": users_df[["user", "country"]]},
...                  item_attributes={"genre": genres_df},        # one row per (item, genre)
...                  item_names=items_df[["item", "title"]])
>>> g = ds.graph

A table is a pandas DataFrame or a path to a ``.csv``/``.tsv``/``.parquet`` file. The
interactions table needs the columns ``user`` and ``item`` (names configurable); every other
numeric column (``rating``, ``weight``, ``timestamp``, ...) becomes edge data. An attribute table
has the owner column (``user`` or ``item``) and one value column; each attribute becomes a node
type of its own with relations ``has_<attr>`` / ``<attr>_of``. A folder with
``interactions.csv``, ``user_<attr>.csv``, ``item_<attr>.csv`` and optionally ``items.csv``
(``item``, ``name``) is read by :func:`load_tables_dir`.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from .builder import Relation, SingleGraph, build_graph, encode_values, index_of
from .errors import DataError
from .schema import INTERACTS, ITEM, USER

_RESERVED = {USER, ITEM}


def _read(table, what: str, id_cols=()) -> tuple:
    """(DataFrame, source name for messages). In text files the ``id_cols`` are read as text,
    so that ids are parsed strictly by :func:`_ids` ("1e3" or "7.0" is not an id)."""
    if isinstance(table, pd.DataFrame):
        return table, what
    path = Path(table)
    if not path.is_file():
        raise DataError(f"{what} table not found", path)
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path), str(path)
        sep = "\t" if path.suffix in (".tsv", ".tab") else ","
        return pd.read_csv(path, sep=sep, dtype={c: str for c in id_cols}), str(path)
    except (ValueError, pd.errors.ParserError, ImportError, OSError) as err:
        raise DataError(f"cannot read {what} table: {err}", path) from None


_INT64_MAX = 2**63 - 1


def _ids(df: pd.DataFrame, col: str, src: str) -> np.ndarray:
    """Integer ids of ``col`` as int64. Ids are labels: any integer that fits 64 bits, negative
    ones included. The first value that is not such an integer (text, a fraction, NaN, a number
    beyond int64, a boolean) is reported with its row (line) and column."""
    if col not in df.columns:
        raise DataError(f"missing column {col!r}; columns are {list(df.columns)}", src)
    v = df[col]

    def fail(i, what="expected an integer id"):
        raise DataError(f"{what}, found {v.iloc[i]!r}", src, _line(src, i), col)

    if pd.api.types.is_bool_dtype(v):
        fail(0)
    if pd.api.types.is_integer_dtype(v):
        if v.dtype == np.uint64:
            big = np.flatnonzero(v.to_numpy() > np.uint64(_INT64_MAX))
            if len(big):
                fail(int(big[0]), "id does not fit a 64-bit integer")
        return v.to_numpy(np.int64)
    if pd.api.types.is_float_dtype(v):
        x = v.to_numpy(np.float64)
        bad = ~np.isfinite(x) | (x != np.floor(x)) | (np.abs(x) >= 2.0**63)
        if bad.any():
            fail(int(np.flatnonzero(bad)[0]))
        return x.astype(np.int64)
    text = v.astype(str).str.strip()
    ok = text.str.fullmatch(r"[-+]?[0-9]+").to_numpy(bool) & v.notna().to_numpy(bool)
    if not ok.all():
        fail(int(np.flatnonzero(~ok)[0]))
    for i in np.flatnonzero(text.str.lstrip("+-").str.len().to_numpy() >= 19):
        if not -_INT64_MAX - 1 <= int(text.iloc[i]) <= _INT64_MAX:
            fail(int(i), "id does not fit a 64-bit integer")
    return text.astype(np.int64).to_numpy()


def _numeric_column(col: pd.Series, src: str, name: str):
    """The column as a numeric array (edge data), ``None`` for a text column (not used). A
    column that is numbers except for some cells is corrupt: the first such cell is an error."""
    if pd.api.types.is_bool_dtype(col):
        return None
    if pd.api.types.is_numeric_dtype(col):
        return col.to_numpy()
    num = pd.to_numeric(col, errors="coerce")
    parsed = num.notna().to_numpy()
    if not parsed.any():
        return None
    bad = ~parsed
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(f"expected a number, found {col.iloc[i]!r}", src, _line(src, i), name)
    return num.to_numpy(np.float64)


def _line(src: str, i: int):
    """Line number of row ``i`` in a CSV file with a header (None for DataFrames)."""
    return i + 2 if Path(src).suffix in (".csv", ".tsv", ".tab") else None


#: the characters a node-type name may not hold (hetrec joins relation names with a colon in
#: partition metadata, and derives file and relation names from node types)
_FORBIDDEN = set(":/\\\0")


def name_problem(name) -> str | None:
    """Why ``name`` cannot name a node type (an attribute), or None: empty, surrounding
    whitespace, characters that are not printable or that hetrec's relation and file names use as
    separators (``:``, ``/``, ``\\``), or over 100 characters."""
    if not isinstance(name, str) or not name:
        return "a name must be non-empty text"
    if name != name.strip():
        return "a name may not begin or end with whitespace"
    if not name.isprintable():
        return "a name may not hold control characters"
    bad = sorted(set(name) & _FORBIDDEN)
    if bad:
        return f"a name may not hold {' '.join(repr(c) for c in bad)}"
    if len(name) > 100:
        return f"a name may have at most 100 characters, this one has {len(name)}"
    return None


class TablesDataset(SingleGraph):
    """The result of :func:`from_tables`: same attributes as the file-backed datasets."""

    name = "tables"

    def __init__(self, graph, names: dict, dropped: dict):
        self.graph, self.names, self.dropped, self.verified = graph, names, dropped, True


def from_tables(interactions, user_attributes: dict | None = None, item_attributes: dict | None = None,
                item_names=None, *, user_col: str = USER, item_col: str = ITEM) -> TablesDataset:
    """Build a hetrec heterograph from tables (see the module docstring).

    Users and items are the ids found in any table; rows repeating a (user, item) pair are
    merged (the last one wins, with a warning that says how many).
    """
    inter, src = _read(interactions, "interactions", (user_col, item_col))
    if len(inter) == 0:
        raise DataError("the interaction table is empty", src)
    u_raw, i_raw = _ids(inter, user_col, src), _ids(inter, item_col, src)
    user_attributes, item_attributes = user_attributes or {}, item_attributes or {}
    attr_tables = {}
    for owner, col, tables in ((USER, user_col, user_attributes), (ITEM, item_col, item_attributes)):
        for attr, table in tables.items():
            problem = name_problem(attr)
            if problem:
                raise DataError(f"attribute name {attr!r} (from {owner}_{attr}): {problem}")
            if attr in _RESERVED or attr in attr_tables:
                raise DataError(f"attribute name {attr!r} is used twice or clashes with a node type")
            df, asrc = _read(table, f"{owner} attribute {attr!r}", (col,))
            ids = _ids(df, col, asrc)
            values = [c for c in df.columns if c != col]
            if len(values) != 1:
                raise DataError(f"an attribute table needs the column {col!r} and exactly one value "
                                f"column, found {list(df.columns)}", asrc)
            vals = df[values[0]]
            if vals.isna().any():
                i = int(np.flatnonzero(vals.isna().to_numpy())[0])
                raise DataError("missing attribute value", asrc, _line(asrc, i), values[0])
            attr_tables[attr] = (owner, ids, vals)
    user_ids = np.unique(np.concatenate([u_raw] + [a[1] for a in attr_tables.values() if a[0] == USER]))
    item_ids = np.unique(np.concatenate([i_raw] + [a[1] for a in attr_tables.values() if a[0] == ITEM]))

    pair = pd.DataFrame({"u": index_of(u_raw, user_ids), "i": index_of(i_raw, item_ids)})
    dup = pair.duplicated(keep="last").to_numpy()
    if dup.any():
        warnings.warn(f"{src}: {int(dup.sum())} rows repeat an earlier (user, item) pair; kept the last", stacklevel=2)
    keep = ~dup
    edata = {}
    for c in inter.columns:
        if c in (user_col, item_col):
            continue
        values = _numeric_column(inter[c], src, c)
        if values is None:
            warnings.warn(f"{src}: column {c!r} is not numeric; it is not used", stacklevel=2)
            continue
        bad = ~np.isfinite(values.astype(np.float64))
        if bad.any():  # a NaN / inf rating would poison every model that reads it
            i = int(np.flatnonzero(bad)[0])
            raise DataError(f"expected a finite number, found {inter[c].iloc[i]!r}", src, _line(src, i), c)
        edata[c] = values[keep]
    rels = {INTERACTS: Relation(pair["u"].to_numpy()[keep], pair["i"].to_numpy()[keep], edata)}
    num_nodes = {USER: len(user_ids), ITEM: len(item_ids)}
    raw_ids = {USER: user_ids, ITEM: item_ids}
    names = {}
    for attr, (owner, ids, vals) in attr_tables.items():
        known = user_ids if owner == USER else item_ids
        codes, raw, vnames = encode_values(vals)
        rels[(owner, f"has_{attr}", attr)] = Relation(index_of(ids, known), codes)
        num_nodes[attr], raw_ids[attr], names[attr] = len(raw), raw, vnames
    if item_names is not None:
        df, nsrc = _read(item_names, "item names", (item_col,))
        ids = _ids(df, item_col, nsrc)
        name_col = [c for c in df.columns if c != item_col]
        if len(name_col) != 1:
            raise DataError(f"the item names table needs {item_col!r} and one name column", nsrc)
        pos = index_of(ids, item_ids)
        listed = np.asarray([str(x) for x in item_ids], dtype=object)
        listed[pos[pos >= 0]] = df[name_col[0]].astype(str).to_numpy()[pos >= 0]
        names[ITEM] = listed.tolist()
    return TablesDataset(build_graph(num_nodes, rels, raw_ids), names, {})


def load_tables_dir(folder) -> TablesDataset:
    """Read a folder laid out as ``interactions.{csv,tsv,parquet}``, ``user_<attr>.*``,
    ``item_<attr>.*`` and optionally ``items.*`` (item names)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError("tables folder not found", folder)

    def find(stem):
        hits = [p for p in sorted(folder.glob(stem + ".*")) if p.suffix in (".csv", ".tsv", ".parquet")]
        return hits[0] if hits else None

    inter = find("interactions")
    if inter is None:
        raise DataError("no interactions.csv (or .tsv/.parquet) in the tables folder; expected "
                        "interactions.csv with columns user,item[,rating|weight|timestamp...], "
                        "optional user_<attr>.csv / item_<attr>.csv and items.csv", folder)
    files = sorted(p for p in folder.iterdir() if p.suffix in (".csv", ".tsv", ".parquet"))
    users = {p.stem[len("user_"):]: p for p in files if p.stem.startswith("user_")}
    items = {p.stem[len("item_"):]: p for p in files if p.stem.startswith("item_")}
    return from_tables(inter, users, items, item_names=find("items"))
