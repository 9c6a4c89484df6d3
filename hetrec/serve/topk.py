"""The vectorised core of batch serving: chunked scores, seen items masked, ``torch.topk``."""
from __future__ import annotations

from typing import Callable

import numpy as np
import scipy.sparse as sp
import torch

#: about this many score entries (users x items) are computed at once, 2**24 float32 or 64 MiB a chunk
CHUNK_ENTRIES = 2**24


def chunk_rows(num_items: int, chunk_entries: int = CHUNK_ENTRIES) -> int:
    """Users per chunk so that a chunk's scores hold about ``chunk_entries`` entries."""
    return max(1, chunk_entries // max(num_items, 1))


def top_k_unseen(score_fn: Callable, rows: np.ndarray, k: int, exclude: sp.csr_matrix | None = None,
                 chunk_size: int | None = None) -> tuple:
    r"""The top ``k`` items of many users, without the items each has seen.

    ``score_fn(positions)`` returns the ``(len(positions), num_items)`` scores of the users at
    those positions of ``rows`` (a chunk at a time: ``positions`` is a slice of
    ``arange(len(rows))``); ``exclude`` (``len(rows)`` x items, or None) holds in row ``p`` the
    items never to recommend to user ``p``. Per chunk: the scores, :math:`-\infty` at the
    excluded entries (one indexed assignment from the sparse rows), ``torch.topk``; no Python
    loop over users.

    Returns numpy arrays ``(position, rank, item, score)``, one entry per recommendation, ordered
    by position then rank (1 first); a user with fewer than ``k`` items left gets fewer entries.
    """
    n = len(rows)
    parts = []
    for start in range(0, n, chunk_size or n or 1):
        positions = np.arange(start, min(start + (chunk_size or n), n))
        with torch.no_grad():
            scores = score_fn(positions)
        if exclude is not None:
            block = exclude[positions]
            r = np.repeat(np.arange(len(positions)), np.diff(block.indptr))
            scores[torch.from_numpy(r).to(scores.device), torch.from_numpy(block.indices.astype(np.int64)).to(scores.device)] = \
                -float("inf")
        vals, idx = torch.topk(scores, min(k, scores.shape[1]), dim=1)
        parts.append((vals.cpu(), idx.cpu(), start))
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty, np.zeros(0, dtype=np.float32)
    vals = torch.cat([p[0] for p in parts]).numpy()
    idx = torch.cat([p[1] for p in parts]).numpy()
    kk = vals.shape[1]
    keep = np.isfinite(vals).ravel()  # -inf sorts last: the kept entries of a row are its first ones
    position = np.repeat(np.arange(n, dtype=np.int64), kk)[keep]
    rank = np.tile(np.arange(1, kk + 1, dtype=np.int64), n)[keep]
    return position, rank, idx.ravel().astype(np.int64)[keep], vals.ravel()[keep]


__all__ = ["top_k_unseen", "chunk_rows", "CHUNK_ENTRIES"]
