"""One builder for every dataset: id arrays in, a heterograph in the hetrec schema out.

MovieLens, Last.FM, :func:`from_tables` and :func:`synthetic` all end here, so the schema
(reverse relations in the same edge order, ``raw_id`` per node, edge data on both directions)
is produced by one piece of code.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import dgl
import numpy as np
import pandas as pd
import torch

from .schema import INTERACTS, ITEM, reverse_name


@dataclass
class Relation:
    """Edges of one relation given as node indices; its reverse is added by :func:`build_graph`.

    ``symmetric=True`` marks a relation already stored in both directions (friendship); it is
    its own reverse and gets no second relation.
    """

    src: np.ndarray
    dst: np.ndarray
    data: dict = field(default_factory=dict)
    symmetric: bool = False


def build_graph(num_nodes: dict, relations: dict, raw_ids: dict | None = None) -> dgl.DGLGraph:
    """Build the heterograph.

    ``num_nodes``: node type -> count. ``relations``: canonical edge type -> :class:`Relation`
    (forward direction only). ``raw_ids``: node type -> int array of original ids (default:
    ``arange``). Every relation gets its reverse, named by :func:`hetrec.data.schema.reverse_name`,
    with the same edges in the same order and the same edge data.
    """
    if INTERACTS not in relations:
        raise ValueError(f"the interaction relation {INTERACTS} is required")
    spec, edata = {}, {}
    for (s, r, d), rel in relations.items():
        src = torch.tensor(np.asarray(rel.src, dtype=np.int64))
        dst = torch.tensor(np.asarray(rel.dst, dtype=np.int64))
        spec[(s, r, d)] = (src, dst)
        edata[(s, r, d)] = rel.data
        if not rel.symmetric:
            rev = (d, reverse_name(r), s)
            spec[rev] = (dst, src)
            edata[rev] = rel.data
    g = dgl.heterograph(spec, num_nodes_dict={t: int(n) for t, n in num_nodes.items()})
    for et, data in edata.items():
        for key, value in data.items():
            g.edges[et].data[key] = torch.tensor(np.asarray(value))
    raw_ids = raw_ids or {}
    for t in g.ntypes:
        ids = raw_ids.get(t)
        ids = np.arange(g.num_nodes(t)) if ids is None else np.asarray(ids, dtype=np.int64)
        g.nodes[t].data["raw_id"] = torch.tensor(ids, dtype=torch.int64)
    return g


def index_of(raw: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Position of each ``raw`` id in the sorted-unique array ``known``; -1 when absent."""
    pos = np.searchsorted(known, raw)
    pos = np.minimum(pos, max(len(known) - 1, 0))
    hit = len(known) > 0
    found = (known[pos] == raw) if hit else np.zeros(len(raw), dtype=bool)
    return np.where(found, pos, -1)


def encode_values(values) -> tuple:
    """Categorical values -> (codes, raw_ids, names).

    Integer values keep their own numbers as ``raw_id``; others are numbered in sorted order.
    """
    values = pd.Series(values)
    uniques = np.sort(values.unique())
    codes = np.searchsorted(uniques, values.to_numpy())
    if pd.api.types.is_integer_dtype(values):
        raw = uniques.astype(np.int64)
    else:
        raw = np.arange(len(uniques), dtype=np.int64)
    return codes.astype(np.int64), raw, [str(u) for u in uniques]


def count_pairs(a: np.ndarray, b: np.ndarray) -> tuple:
    """Unique (a, b) pairs and how many times each occurs (vectorised)."""
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    nb = int(b.max()) + 1 if len(b) else 1
    uniq, counts = np.unique(a * nb + b, return_counts=True)  # one int64 key: faster than axis=0
    return uniq // nb, uniq % nb, counts.astype(np.int64)


class SingleGraph:
    """Accessors shared by every hetrec dataset: one graph at index 0, and item display names."""

    graph = None
    names: dict = {}

    def __getitem__(self, idx):
        if idx != 0:
            raise IndexError(f"{type(self).__name__} holds one graph; index {idx} is out of range")
        return self.graph

    def __len__(self):
        return 1

    def item_name(self, item_index: int) -> str:
        """The display name of item node ``item_index`` (its raw id when the source has no names)."""
        names = self.names.get(ITEM)
        return names[item_index] if names else str(int(self.graph.nodes[ITEM].data["raw_id"][item_index]))


def graph_digest(g) -> str:
    """sha256 of a heterograph's content: node counts and raw ids per type, and every
    relation's edges in order. Equal digests mean the same nodes and edges (edge data such as
    ratings is not included: no model reads it)."""
    import hashlib

    h = hashlib.sha256()
    for t in sorted(g.ntypes):
        h.update(f"{t}:{g.num_nodes(t)}|".encode())
        raw = g.nodes[t].data.get("raw_id")
        if raw is not None:
            h.update(raw.numpy().astype(np.int64).tobytes())
    for et in sorted(g.canonical_etypes):
        s, d = g.edges(etype=et)
        h.update(("|".join(et) + f":{len(s)}|").encode())
        h.update(s.numpy().astype(np.int64).tobytes())
        h.update(d.numpy().astype(np.int64).tobytes())
    return h.hexdigest()
