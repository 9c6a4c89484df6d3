"""Graph-side helpers of the samplers: argument normalisation, per-graph arrays (CSR and
scratch space), and the node-induced subgraph with excluded edges removed and an optional
per-node in-edge cap.
"""
from __future__ import annotations

import weakref
from collections.abc import Mapping

import dgl
import numpy as np
import torch

from .segments import cap_segments


def seeds_by_type(g, seed_nodes) -> tuple:
    """``seed_nodes`` as ``{ntype: int64 numpy array}`` over every node type of ``g``.

    A plain tensor is accepted for a graph with one node type. Returns ``(seeds, was_dict)``.
    Raises ``ValueError`` on an unknown node type, an out-of-range id or a repeated seed.
    """
    was_dict = isinstance(seed_nodes, Mapping)
    if not was_dict:
        if len(g.ntypes) != 1:
            raise ValueError("seed_nodes must be a dict by node type on a graph with several node types")
        seed_nodes = {g.ntypes[0]: seed_nodes}
    unknown = set(seed_nodes) - set(g.ntypes)
    if unknown:
        raise ValueError(f"unknown node types in seed_nodes: {sorted(unknown)}")
    seeds = {}
    for ntype in g.ntypes:
        s = np.asarray(torch.as_tensor(seed_nodes.get(ntype, []), device="cpu"), dtype=np.int64).reshape(-1)
        if len(s):
            if s.min() < 0 or s.max() >= g.num_nodes(ntype):
                raise ValueError(f"seed ids of node type {ntype!r} out of range")
            if len(np.unique(s)) != len(s):
                raise ValueError(f"seed ids of node type {ntype!r} repeat; seeds must be distinct")
        seeds[ntype] = s
    return seeds, was_dict


def excluded_by_etype(g, exclude_eids) -> dict:
    """``exclude_eids`` as ``{canonical etype: int64 numpy array}`` (relations without any omitted)."""
    if exclude_eids is None:
        return {}
    if not isinstance(exclude_eids, Mapping):
        if len(g.canonical_etypes) != 1:
            raise ValueError("exclude_eids must be a dict by edge type on a graph with several edge types")
        exclude_eids = {g.canonical_etypes[0]: exclude_eids}
    out = {}
    for etype, eids in exclude_eids.items():
        eids = np.asarray(torch.as_tensor(eids, device="cpu"), dtype=np.int64).reshape(-1)
        if len(eids):
            out[g.to_canonical_etype(etype)] = eids
    return out


class GraphArrays:
    """Arrays of one graph that every batch reuses, built on first use.

    * ``csr(etype)``: ``(indptr, indices, eids)`` as int64 numpy arrays, the out-edge view
      (rows are source nodes).
    * scratch space, one slot per node or edge, that a batch fills and then resets for the
      entries it touched, so that per-batch work never scans a whole node or edge set:
      ``budget(t)`` (float64), ``flag(t)`` (bool, "sampled"), ``excluded(etype)`` (bool).

    The entry for a graph lives while that graph object does and keeps its node and edge
    counts (DGL graphs are mutable). Scratch space makes a sampler unsafe to share between
    threads; DataLoader workers are processes with their own copy, which starts empty.
    """

    def __init__(self):
        self._clear()

    def _clear(self):
        self._graph, self._stamp = None, None
        self._csr, self._scratch = {}, {}

    def bind(self, g) -> GraphArrays:
        stamp = tuple(g.num_nodes(t) for t in g.ntypes) + tuple(
            g.num_edges(e) for e in g.canonical_etypes
        )
        if self._graph is None or self._graph() is not g or self._stamp != stamp:
            self._clear()
            self._graph, self._stamp = weakref.ref(g), stamp
        return self

    @property
    def graph(self):
        return self._graph()

    def _adj(self, store, fmt, etype):
        if etype not in store:
            store[etype] = tuple(t.numpy().astype(np.int64, copy=False)
                                 for t in self.graph.adj_tensors(fmt, etype))
        return store[etype]

    def csr(self, etype):
        return self._adj(self._csr, "csr", etype)

    def _scratch_array(self, key, size, dtype, fill):
        if key not in self._scratch:
            self._scratch[key] = np.full(size, fill, dtype=dtype)
        return self._scratch[key]

    def budget(self, ntype):
        return self._scratch_array(("budget", ntype), self.graph.num_nodes(ntype), np.float64, 0.0)

    def flag(self, ntype):
        return self._scratch_array(("flag", ntype), self.graph.num_nodes(ntype), bool, False)

    def excluded(self, etype):
        return self._scratch_array(("excluded", etype), self.graph.num_edges(etype), bool, False)

    def __getstate__(self):  # pickled into DataLoader workers: start empty there
        return {}

    def __setstate__(self, state):
        self._clear()


class ExcludedEdges(dict):
    """``{etype: bool array over edge ids}`` marking the excluded edges in scratch space while
    used as a context manager (unmarked on exit); ``rows[etype]`` holds the sorted source
    nodes of the excluded edges."""

    def __init__(self, g, arrays: GraphArrays, excluded: dict):
        super().__init__((etype, arrays.excluded(etype)) for etype in excluded)
        self.eids = excluded
        self.rows = {etype: np.sort(g.find_edges(torch.from_numpy(e).to(g.idtype), etype=etype)[0].numpy())
                     for etype, e in excluded.items()}

    def __enter__(self):
        for etype, eids in self.eids.items():
            self[etype][eids] = True
        return self

    def __exit__(self, *exc):
        for etype, eids in self.eids.items():
            self[etype][eids] = False


def induced_subgraph(g, nodes: dict, excluded: dict, max_in_edges=None, rng=None):
    """The subgraph of ``g`` induced by ``nodes`` (``{ntype: distinct int64 ids}``, kept in order).

    Node ``i`` of type ``t`` in the result is ``nodes[t][i]`` (stored in ``dgl.NID``); every edge
    of ``g`` between two of the nodes is kept, except those flagged in ``excluded``
    (``{etype: bool array over edge ids}``), with its id in ``g`` in ``dgl.EID``. Node and edge
    features are copied (``dgl.node_subgraph`` does the induction, in C++).

    With ``max_in_edges = k``, each node keeps at most ``k`` of its incoming edges of each
    relation, drawn uniformly without replacement (``rng``, a numpy Generator).
    """
    subg = dgl.node_subgraph(g, {t: torch.from_numpy(n).to(g.idtype) for t, n in nodes.items()})
    kept = {}
    for etype in subg.canonical_etypes:
        flags = excluded.get(etype)
        if flags is None and max_in_edges is None:
            continue
        eid = subg.edges[etype].data[dgl.EID].numpy()
        keep = np.ones(len(eid), dtype=bool) if flags is None else ~flags[eid]
        if max_in_edges is not None:
            idx = np.flatnonzero(keep)
            dst = subg.edges(etype=etype)[1].numpy()[idx]
            keep[idx[~cap_segments(dst, subg.num_nodes(etype[2]), max_in_edges, rng)]] = False
        if not keep.all():
            kept[etype] = torch.from_numpy(np.flatnonzero(keep))
    if not kept:
        return subg
    # rebuild rather than dgl.remove_edges: its whole-graph masks are slow on CPU
    data, edata = {}, {}
    for etype in subg.canonical_etypes:
        src, dst = subg.edges(etype=etype)
        frame = dict(subg.edges[etype].data)
        if etype in kept:
            idx = kept[etype]
            src, dst = torch.index_select(src, 0, idx), torch.index_select(dst, 0, idx)
            frame = {k: torch.index_select(v, 0, idx) for k, v in frame.items()}
        data[etype], edata[etype] = (src, dst), frame
    out = dgl.heterograph(data, num_nodes_dict={t: subg.num_nodes(t) for t in subg.ntypes},
                          idtype=subg.idtype)
    for t in subg.ntypes:
        out.nodes[t].data.update(subg.nodes[t].data)
    for etype, frame in edata.items():
        out.edges[etype].data.update(frame)
    return out
