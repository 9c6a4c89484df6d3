"""Serving trained runs (docs/serving.md): the top-k items of many users at once, written to
CSV or Parquet; new users given by the items they interacted with ("folding in"); the user and
item vectors of embedding models, with an optional FAISS index for approximate top-k.

Examples
--------
>>> import hetrec
>>> run = hetrec.load_run("runs/ml-1m-bprmf")              # doctest: +SKIP
>>> run.recommend([1, 2], k=10)                            # doctest: +SKIP
>>> run.recommend_items([1193, 661, 914], k=10)            # doctest: +SKIP

``recommend`` gives a DataFrame with columns user, rank, item, item_name, score;
``recommend_items`` the same for a new user given by its items.
"""
from .errors import ServeError
from .files import (
    EMBEDDING_FORMATS,
    TABLE_FORMATS,
    build_faiss_index,
    output_format,
    read_user_ids,
    write_embeddings,
    write_faiss_index,
    write_table,
)
from .run import COLUMNS, ServedRun, load_run
from .topk import top_k_unseen

__all__ = ["load_run", "ServedRun", "ServeError", "top_k_unseen", "read_user_ids", "write_table", "write_embeddings",
           "build_faiss_index", "write_faiss_index", "output_format", "COLUMNS", "TABLE_FORMATS", "EMBEDDING_FORMATS"]
