"""The files of serving: user id lists in, recommendation tables and embeddings out (CSV,
Parquet, NumPy), an optional FAISS index; every output written atomically (hetrec/_io.py)."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from .._io import atomic_write_bytes
from .errors import ServeError

#: output formats by file extension
TABLE_FORMATS = {".csv": "csv", ".parquet": "parquet"}
EMBEDDING_FORMATS = {".npz": "npz", ".parquet": "parquet"}


def output_format(path, formats: dict = TABLE_FORMATS) -> str:
    """The format of output file ``path`` from its extension, checked before any work is done:
    a known extension, and a folder that exists."""
    path = Path(path)
    fmt = formats.get(path.suffix.lower())
    if fmt is None:
        raise ServeError(f"{path}: unsupported extension {path.suffix or '(none)'!r}; use "
                         + " or ".join(sorted(formats)))
    if not path.parent.is_dir():
        raise ServeError(f"{path}: the output folder {str(path.parent)!r} does not exist")
    if path.is_dir():
        raise ServeError(f"{path}: is a folder, not a file")
    if fmt == "parquet":
        _require_pyarrow()
    return fmt


def _require_pyarrow():
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise ServeError("Parquet output needs pyarrow: pip install 'hetrec[parquet]' (or write .csv)") from None


def read_user_ids(path, column: str | None = None) -> np.ndarray:
    """Raw user ids from a file, in its order: one integer per line (blank lines skipped), or
    the column ``column`` of a CSV file with a header (or of a Parquet file)."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise ServeError(f"{path}: no such file")
    if column is None and path.suffix.lower() == ".parquet":
        raise ServeError(f"{path}: name the column of user ids with --users-column")
    if column is not None:
        try:
            df = pd.read_parquet(path) if path.suffix.lower() == ".parquet" else pd.read_csv(path, dtype=str)
        except pd.errors.EmptyDataError:
            raise ServeError(f"{path}: no user ids (the file is empty)") from None
        except (ValueError, OSError) as err:
            raise ServeError(f"{path}: cannot read it as a table ({str(err).splitlines()[0]})") from None
        if column not in df.columns:
            raise ServeError(f"{path}: no column {column!r} (columns: {', '.join(map(str, df.columns))})")
        values = df[column].astype(str).str.strip()
        first_line = 2  # line 1 is the header
    else:
        values = pd.Series(path.read_text().splitlines(), dtype=str).str.strip()
        first_line = 1
    values.index = np.arange(first_line, first_line + len(values))  # line numbers
    values = values[values != ""]
    if len(values) == 0:
        raise ServeError(f"{path}: no user ids (the file is empty)")
    bad = ~values.str.fullmatch(r"[+-]?\d+")
    if bad.any():
        line, value = next(iter(values[bad].items()))
        hint = " (a CSV file? name its column with --users-column)" if column is None and "," in value else ""
        raise ServeError(f"{path}, line {line}: {value!r} is not a user id (an integer){hint}")
    try:
        return values.to_numpy(dtype=str).astype(np.int64)
    except OverflowError:
        raise ServeError(f"{path}: a user id beyond 64 bits") from None


def write_table(df, path) -> None:
    """``df`` to ``path`` (.csv or .parquet, by extension) atomically: the target appears complete
    or not at all."""
    fmt = output_format(path)
    buf = io.BytesIO()
    if fmt == "csv":
        df.to_csv(buf, index=False)
    else:
        df.to_parquet(buf, index=False)
    atomic_write_bytes(path, buf.getvalue())


def write_embeddings(path, user_ids, user_vectors, item_ids, item_names, item_vectors) -> None:
    """User and item vectors with their raw ids, atomically. ``.npz``: arrays ``user_ids``,
    ``user_embeddings``, ``item_ids``, ``item_names``, ``item_embeddings``. ``.parquet``: one row
    per user then per item, columns ``kind`` ("user" / "item"), ``id`` (raw id), ``name`` (the
    item's name; empty for users) and ``embedding`` (a fixed-size list of float32)."""
    fmt = output_format(path, EMBEDDING_FORMATS)
    user_vectors = np.ascontiguousarray(user_vectors, dtype=np.float32)
    item_vectors = np.ascontiguousarray(item_vectors, dtype=np.float32)
    buf = io.BytesIO()
    if fmt == "npz":
        np.savez(buf, user_ids=np.asarray(user_ids, dtype=np.int64), user_embeddings=user_vectors,
                 item_ids=np.asarray(item_ids, dtype=np.int64), item_names=np.asarray(item_names, dtype=str),
                 item_embeddings=item_vectors)
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        dim = user_vectors.shape[1]
        vectors = np.concatenate([user_vectors, item_vectors]).ravel()
        table = pa.table({
            "kind": pa.array(["user"] * len(user_ids) + ["item"] * len(item_ids)),
            "id": pa.array(np.concatenate([np.asarray(user_ids), np.asarray(item_ids)]).astype(np.int64)),
            "name": pa.array([""] * len(user_ids) + [str(n) for n in item_names]),
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors), dim),
        })
        pq.write_table(table, buf)
    atomic_write_bytes(path, buf.getvalue())


def faiss_module():
    """``faiss``, or a :class:`ServeError` that names the extra to install."""
    try:
        import faiss
    except ImportError:
        raise ServeError("a FAISS index needs faiss-cpu: pip install 'hetrec[serve]' (or pip install faiss-cpu)") from None
    return faiss


def build_faiss_index(item_vectors, kind: str = "hnsw", hnsw_m: int = 32, ef_search: int = 128):
    """A FAISS inner-product index of the item vectors (row ``i`` = item node ``i``).
    ``kind="flat"``: exact (``IndexFlatIP``), the reference; ``"hnsw"``: approximate
    (``IndexHNSWFlat`` with ``METRIC_INNER_PRODUCT``, ``hnsw_m`` links a node, ``efSearch``
    ``ef_search``)."""
    faiss = faiss_module()
    x = np.ascontiguousarray(item_vectors, dtype=np.float32)
    if kind == "flat":
        index = faiss.IndexFlatIP(x.shape[1])
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(x.shape[1], hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = max(40, 2 * hnsw_m)
        index.hnsw.efSearch = ef_search
    else:
        raise ServeError(f"unknown FAISS index kind {kind!r}: use 'hnsw' or 'flat'")
    index.add(x)
    return index


def write_faiss_index(index, path) -> None:
    """A FAISS index to ``path`` atomically (read it back with ``faiss.read_index``)."""
    faiss = faiss_module()
    atomic_write_bytes(path, faiss.serialize_index(index).tobytes())


__all__ = ["read_user_ids", "write_table", "write_embeddings", "build_faiss_index", "write_faiss_index",
           "output_format", "TABLE_FORMATS", "EMBEDDING_FORMATS"]
