"""Graph-side helpers of the samplers: argument normalisation, per-graph arrays (CSR and
scratch space), and the node-induced subgraph with excluded edges removed and an optional
per-node in-edge cap.
"""
from __future__ import annotations

import copy
import weakref
from collections.abc import Mapping

import dgl
import numpy as np
import torch

from .segments import capped_rows


def seeds_by_type(g, seed_nodes, check_distinct: bool = True) -> tuple:
    """``seed_nodes`` as ``{ntype: int64 numpy array}`` over every node type of ``g``.

    A plain tensor is accepted for a graph with one node type. Returns ``(seeds, was_dict)``.
    Raises ``ValueError`` on an unknown node type, an out-of-range id or (unless
    ``check_distinct`` is false: the caller checks) a repeated seed.
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
            if check_distinct and len(np.unique(s)) != len(s):
                raise ValueError(repeated_seeds(ntype))
        seeds[ntype] = s
    return seeds, was_dict


def repeated_seeds(ntype) -> str:
    return f"seed ids of node type {ntype!r} repeat; seeds must be distinct"


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

    Node and edge types are merged into one id space, so that one array operation serves every
    relation at once (the per-relation Python loop and its numpy calls would cost more than
    the work on Last.FM-sized batches):

    * global node id = ``node_offset[ntype] + id``, in the order of ``g.ntypes``; global edge
      id = ``edge_offset[etype] + eid``, in the order of ``g.canonical_etypes``;
    * ``merged("out")``: one CSR whose rows are ``(relation, source node)`` pairs, row
      ``row_offset[etype] + u`` listing the global ids of ``u``'s out-neighbours under the
      relation and the global edge ids; ``merged("in")`` the same over in-neighbours (rows are
      ``(relation, destination node)``);
    * ``position``: the position of each global edge id in the merged out-CSR, and
      ``row_of_position`` the row of each position;
    * scratch space, one slot per global node or edge, that a batch fills and then resets for
      the entries it touched, so that per-batch work never scans a whole node or edge set:
      ``budget`` (float64), ``state`` (int8) and ``local`` (int64) over nodes,
      ``row_excluded`` (int32) over merged out-CSR rows, ``excluded`` and
      ``excluded_reverse`` (bool) over merged out-CSR positions, so that looking up the edges
      of gathered rows reads the flags in row order, not at random edge ids (on ML-1M's
      2·10⁶ edges the random look-ups cost more than the rest of the induction).

    The entry for a graph lives while that graph object does and keeps its node and edge
    counts (DGL graphs are mutable). Scratch space makes a sampler unsafe to share between
    threads; DataLoader workers are processes with their own copy, which starts empty.
    """

    def __init__(self):
        self._clear()

    def _clear(self):
        self._graph, self._stamp = None, None
        self._merged, self._scratch = {}, {}

    def bind(self, g) -> GraphArrays:
        stamp = tuple(g.num_nodes(t) for t in g.ntypes) + tuple(
            g.num_edges(e) for e in g.canonical_etypes
        )
        if self._graph is None or self._graph() is not g or self._stamp != stamp:
            self._clear()
            self._graph, self._stamp = weakref.ref(g), stamp
            counts = np.array([g.num_nodes(t) for t in g.ntypes], dtype=np.int64)
            self.node_offset = dict(zip(g.ntypes, np.r_[0, np.cumsum(counts)[:-1]].tolist()))
            self.num_nodes = int(counts.sum())
            ecounts = np.array([g.num_edges(e) for e in g.canonical_etypes], dtype=np.int64)
            self.edge_offset = dict(zip(g.canonical_etypes, np.r_[0, np.cumsum(ecounts)[:-1]].tolist()))
            self.num_edges = int(ecounts.sum())
            self.etypes = list(g.canonical_etypes)
        return self

    @property
    def graph(self):
        return self._graph()

    def merged(self, direction: str) -> tuple:
        """``(indptr, neighbours, eids, row_offset)`` of the merged CSR (``"out"`` or ``"in"``)."""
        if direction not in self._merged:
            g, fmt = self.graph, "csr" if direction == "out" else "csc"
            indptrs, nbrs, eids, row_offset, rows = [np.zeros(1, dtype=np.int64)], [], [], {}, 0
            for etype in self.etypes:
                indptr, nbr, eid = (t.numpy().astype(np.int64, copy=False) for t in g.adj_tensors(fmt, etype))
                other = etype[2] if direction == "out" else etype[0]
                row_offset[etype] = rows
                rows += len(indptr) - 1
                indptrs.append(indptr[1:] + self.edge_offset[etype])
                nbrs.append(nbr + self.node_offset[other])
                eids.append(eid + self.edge_offset[etype])
            # neighbour and edge ids in 32 bits where they fit: the compiled loops read them at
            # random rows, and half the bytes is half the cache misses
            nbr_t = np.int32 if self.num_nodes < 2**31 else np.int64
            eid_t = np.int32 if self.num_edges < 2**31 else np.int64
            self._merged[direction] = (np.concatenate(indptrs), np.concatenate(nbrs).astype(nbr_t),
                                       np.concatenate(eids).astype(eid_t), row_offset)
        return self._merged[direction]

    @property
    def reverse_pairs(self) -> dict:
        """``{etype: reverse etype}`` for pairs of relations in which edge *i* of one is edge *i*
        of the other reversed (hetrec's schema builds every relation with its reverse this
        way). Found by comparing the edge lists once per graph; a relation whose own direction
        is also its reverse (``friend``) is never paired."""
        if "reverse_pairs" not in self._merged:
            g, pairs, taken = self.graph, {}, set()
            for a in self.etypes:
                for b in self.etypes:
                    if (a == b or a in taken or b in taken or (a[0], a[2]) != (b[2], b[0])
                            or g.num_edges(a) != g.num_edges(b)):
                        continue
                    sa, da = g.edges(etype=a)
                    sb, db = g.edges(etype=b)
                    if torch.equal(sa, db) and torch.equal(da, sb):
                        pairs[a] = b
                        taken |= {a, b}
            self._merged["reverse_pairs"] = pairs
        return self._merged["reverse_pairs"]

    def buffer(self, key, shape) -> np.ndarray:
        """An int64 work array of at least ``shape`` (its last axis may be longer), kept and
        reused by later batches (grown by doubling): the per-batch outputs of the compiled
        loops are written there and only their used part copied out, so that a batch does not
        fault in megabytes of fresh pages."""
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        buf = self._scratch.get(("buffer", key))
        if buf is None or buf.shape[:-1] != shape[:-1] or buf.shape[-1] < shape[-1]:
            grown = 2 * buf.shape[-1] if buf is not None and buf.shape[:-1] == shape[:-1] else 0
            buf = self._scratch[("buffer", key)] = np.empty(shape[:-1] + (max(shape[-1], grown),), dtype=np.int64)
        return buf

    def keep_buffer(self, key, buf: np.ndarray):
        """Keep ``buf`` (a work array a compiled loop replaced by a larger one) for later batches."""
        self._scratch[("buffer", key)] = buf

    def _scratch_array(self, key, size, dtype, fill):
        if key not in self._scratch:
            self._scratch[key] = np.full(size, fill, dtype=dtype)
        return self._scratch[key]

    @property
    def budget(self):
        return self._scratch_array("budget", self.num_nodes, np.float64, 0.0)

    @property
    def state(self):
        """Scratch: each node's state in the current batch (:mod:`~hetrec.sampling.kernels`:
        ``UNSEEN`` 0, ``CANDIDATE`` 1, ``SAMPLED`` 2), int8."""
        return self._scratch_array("state", self.num_nodes, np.int8, 0)

    @property
    def local(self):
        """Scratch for the position of a node in the subgraph; -1 when not in it."""
        return self._scratch_array("local", self.num_nodes, np.int64, -1)

    @property
    def position(self) -> np.ndarray:
        """Position of every global edge id in the merged out-CSR (int32 when it fits)."""
        if "position" not in self._merged:
            eids = self.merged("out")[2]
            pos = np.empty(len(eids), dtype=np.int32 if len(eids) < 2**31 else np.int64)
            pos[eids] = np.arange(len(eids), dtype=pos.dtype)
            self._merged["position"] = pos
        return self._merged["position"]

    @property
    def row_excluded(self):
        """Scratch: the number of excluded edges in each row of the merged out-CSR."""
        return self._scratch_array("row_excluded", len(self.merged("out")[0]) - 1, np.int32, 0)

    @property
    def row_of_position(self) -> np.ndarray:
        """The merged out-CSR row of each position (int32 when it fits): where an excluded
        edge's row is, without a binary search per edge (built on the first exclusion)."""
        if "row_of_position" not in self._merged:
            indptr = self.merged("out")[0]
            rows = len(indptr) - 1
            self._merged["row_of_position"] = np.repeat(
                np.arange(rows, dtype=np.int32 if rows < 2**31 else np.int64), np.diff(indptr))
        return self._merged["row_of_position"]

    @property
    def relation_types(self) -> list:
        """``(same, src type, dst type)`` per relation, in ``g.canonical_etypes`` order:
        whether both ends have one node type (DGL's unit graphs count node types so)."""
        if "relation_types" not in self._merged:
            g = self.graph
            self._merged["relation_types"] = [(e[0] == e[2], e[0], e[2]) for e in g.canonical_etypes]
        return self._merged["relation_types"]

    @property
    def excluded(self):
        """Scratch flags over merged out-CSR positions: the edge there is excluded."""
        return self._scratch_array("excluded", self.num_edges, bool, False)

    @property
    def excluded_reverse(self):
        """Scratch flags over merged out-CSR positions: the edge with the same id in the
        relation's id-aligned reverse (:attr:`reverse_pairs`) is excluded."""
        return self._scratch_array("excluded_reverse", self.num_edges, bool, False)

    def __getstate__(self):  # pickled into DataLoader workers: start empty there
        return {}

    def __setstate__(self, state):
        self._clear()


class ExcludedEdges:
    """The excluded edges marked in the ``excluded`` scratch flags (by merged out-CSR position)
    while used as a context manager, and in ``excluded_reverse`` at the position of the edge
    with the same id in the relation's id-aligned reverse, and counted by row of the merged
    out-CSR in ``row_excluded``, so that a row's number of excluded edges is known without
    reading the row; unmarked on exit."""

    def __init__(self, g, arrays: GraphArrays, excluded: dict):
        self.arrays = arrays
        self.eids = (np.concatenate([arrays.edge_offset[e] + ids for e, ids in excluded.items()])
                     if excluded else np.empty(0, dtype=np.int64))
        self.pos = self.reverse_pos = np.empty(0, dtype=np.int64)
        if excluded:
            self.pos = arrays.position[self.eids].astype(np.int64)
            pairs = arrays.reverse_pairs
            partner = {**pairs, **{b: a for a, b in pairs.items()}}
            mirrored = [arrays.edge_offset[partner[e]] + ids for e, ids in excluded.items() if e in partner]
            if mirrored:
                self.reverse_pos = arrays.position[np.concatenate(mirrored)].astype(np.int64)
        self.rows = arrays.row_of_position[self.pos] if excluded else self.pos

    def _mark(self, on: bool):
        from .kernels import mark_excluded

        a = self.arrays
        mark_excluded(self.pos, self.reverse_pos, self.rows, a.excluded, a.excluded_reverse, a.row_excluded, on)

    def __enter__(self):
        self._mark(True)
        return self

    def __exit__(self, *exc):
        self._mark(False)


def _without_edges(sub, drop: dict):
    """``sub`` without the edges ``drop`` (``{etype: sorted local edge ids}``), every other
    relation, the node data and the kept edges' data shared, not rebuilt.

    The relations not touched keep their graph index; only the touched ones are re-created
    from COO. This reaches below DGL's public API (``HeteroGraphIndex``, frames) because the
    public routes (``dgl.remove_edges``, ``dgl.edge_subgraph``) rebuild every relation and
    cost more than the node-induced subgraph itself; if those internals change, the public
    ``dgl.remove_edges`` is used instead (same result, slower).
    """
    try:
        from dgl import heterograph_index as hgi
        from dgl.heterograph import DGLGraph

        rels = [sub._graph.get_relation_graph(i) for i in range(len(sub.canonical_etypes))]
        frames = list(sub._edge_frames)
        for etype, ids in drop.items():
            i = sub.get_etype_id(etype)
            keep = np.ones(sub.num_edges(etype), dtype=bool)
            keep[ids] = False
            keep = torch.from_numpy(np.flatnonzero(keep)).to(sub.idtype)
            src, dst = sub.edges(etype=etype)
            s_t, d_t = sub.get_ntype_id(etype[0]), sub.get_ntype_id(etype[2])
            rels[i] = hgi.create_unitgraph_from_coo(1 if s_t == d_t else 2, sub.num_nodes(etype[0]),
                                                    sub.num_nodes(etype[2]), src[keep], dst[keep], ["coo", "csr", "csc"])
            frames[i] = frames[i].subframe(keep)
        counts = dgl.utils.toindex([sub.num_nodes(t) for t in sub.ntypes], "int64")
        gidx = hgi.create_heterograph_from_relations(sub._graph.metagraph, rels, counts)
        return DGLGraph(gidx, sub.ntypes, sub.etypes, sub._node_frames, frames)
    except (AttributeError, ImportError, TypeError):  # pragma: no cover - other DGL versions
        for etype, ids in drop.items():
            sub = dgl.remove_edges(sub, torch.from_numpy(ids).to(sub.idtype), etype=etype)
        return sub


def _over_in_cap(sub, etype, bad: np.ndarray, cap: int, rng) -> np.ndarray:
    """Mask of the edges of ``etype`` to drop so that every node keeps at most ``cap`` of its
    incoming non-``bad`` edges, drawn uniformly: the subgraph's in-edge lists (CSC) are capped
    row by row with :func:`~hetrec.sampling.segments.capped_rows`, so no edge list is sorted."""
    indptr, _, eids = (t.numpy().astype(np.int64, copy=False) for t in sub.adj_tensors("csc", etype))
    lengths = np.diff(indptr)
    usable = lengths
    if bad.any():
        dst = sub.edges(etype=etype)[1].numpy()
        usable = lengths - np.bincount(dst[bad], minlength=len(lengths))
    over = np.flatnonzero(usable > cap)
    drop = np.zeros(len(bad), dtype=bool)
    if len(over):
        pos, _ = capped_rows(indptr[over], lengths[over], usable[over], cap, rng, eids, bad)
        in_over = np.zeros(len(lengths), dtype=bool)
        in_over[over] = True
        drop[eids[np.flatnonzero(np.repeat(in_over, lengths))]] = True  # every in-edge of a capped node ...
        drop[eids[pos]] = False  # ... but the drawn ones
    return drop


def _relation_edges(g, arrays: GraphArrays, nodes: dict, excluded) -> dict:
    """The induced edges of every relation as ``{etype: (src, dst, eid)}`` numpy arrays: local
    endpoints (positions in ``nodes``) and edge ids in ``g``.

    One gather over the merged out-CSR (``GraphArrays.merged("out")``) serves every relation:
    the out-rows of its sampled sources, with the far ends kept if sampled and the edge not
    excluded. Of two relations in which edge *i* of one is edge *i* of the other reversed
    (:attr:`GraphArrays.reverse_pairs`, e.g. ``interacts`` / ``interacted_by``) only the one
    with fewer entries to read is read; the other's induced edges are the same edges reversed,
    each relation minus its own excluded edges.
    """
    off, local = arrays.node_offset, arrays.local
    indptr, nbrs, eids, row_offset = arrays.merged("out")

    def rows_of(etype):
        return row_offset[etype] + nodes[etype[0]]

    mirror, read = {}, []  # mirror: {read relation: relation built from it}
    paired = set()
    for a, b in arrays.reverse_pairs.items():
        ra, rb = rows_of(a), rows_of(b)
        cost_a = int((indptr[ra + 1] - indptr[ra]).sum())
        cost_b = int((indptr[rb + 1] - indptr[rb]).sum())
        (first, rows), other = ((a, ra), b) if cost_a <= cost_b else ((b, rb), a)
        read.append((first, rows))
        mirror[first] = other
        paired |= {a, b}
    read += [(e, rows_of(e)) for e in arrays.etypes if e not in paired]
    gids = [off[t] + n for t, n in nodes.items()]
    for gid in gids:
        local[gid] = np.arange(len(gid))
    from . import kernels

    def induce(read, flags, other):
        rows = np.concatenate([r for _, r in read]).astype(np.int64, copy=False)
        bounds = np.r_[0, np.cumsum([len(r) for _, r in read])].astype(np.int64)
        room = int((indptr[rows + 1] - indptr[rows]).sum()) + 1
        work = arrays.buffer("induced", (3, room))  # every entry read is written, then kept or not
        cut, differs = np.empty(len(read) + 1, dtype=np.int64), np.zeros(len(read), dtype=bool)
        kernels.induced_edges(indptr, nbrs, eids, rows, bounds,
                              np.array([arrays.edge_offset[e] for e, _ in read], dtype=np.int64), local,
                              flags is not None, arrays.excluded if flags is None else flags,
                              arrays.excluded if other is None else other, work, cut, differs)
        src, dst, eid = work[:, :cut[-1]].copy()  # the kept edges, owned by the subgraph
        return [(src[cut[j]:cut[j + 1]], dst[cut[j]:cut[j + 1]], eid[cut[j]:cut[j + 1]])
                for j in range(len(read))], differs

    try:
        if excluded is None:
            found, differs = induce(read, None, None)
        else:
            found, differs = induce(read, excluded, arrays.excluded_reverse)
        edges = {}
        again = []  # mirrored relations whose reverse excludes other edges: read with its flags
        for (etype, rows), part, diff in zip(read, found, differs):
            edges[etype] = part
            if etype in mirror:  # the reverse relation: the same edges reversed, its own exclusions
                if diff:
                    again.append((etype, rows))
                else:
                    edges[mirror[etype]] = (part[1], part[0], part[2])
        if again:
            for (etype, _), (src, dst, eid) in zip(again, induce(again, arrays.excluded_reverse, None)[0]):
                edges[mirror[etype]] = (dst, src, eid)
    finally:
        for gid in gids:
            local[gid] = -1
    return edges


#: the attributes DGLGraph._init sets in DGL 2.1, all that a shallow copy of the parent carries over
_DGLGRAPH_STATE = {"_graph", "_canonical_etypes", "_batch_num_nodes", "_batch_num_edges", "_ntypes",
                   "_srctypes_invmap", "_dsttypes_invmap", "_is_unibipartite", "_etypes", "_etype2canonical",
                   "_etypes_invmap", "_node_frames", "_edge_frames"}


def _build_subgraph(g, nodes: dict, edges: dict, relation_types=None):
    """The DGLGraph of ``edges`` over ``nodes`` with ``g``'s node and edge data (``dgl.NID``,
    ``dgl.EID`` added), as :func:`dgl.node_subgraph` would return it.

    Builds the relations from COO with every sparse format allowed (CSR/CSC are made when first
    asked for) through DGL's graph-index constructors, which skip the public constructor's
    per-relation checks; with another DGL where those internals differ, ``dgl.heterograph``
    builds the same graph.
    """
    nid = [torch.from_numpy(nodes[t]) for t in g.ntypes]
    eid = [torch.from_numpy(edges[e][2]) for e in g.canonical_etypes]
    idtype = g.idtype
    idx = lambda a: torch.from_numpy(a).to(idtype)  # noqa: E731
    try:
        from dgl import heterograph_index as hgi
        from dgl.heterograph import DGLGraph

        rels = []
        if relation_types is None:
            relation_types = [(e[0] == e[2], e[0], e[2]) for e in g.canonical_etypes]
        for etype, (same, s_type, d_type) in zip(g.canonical_etypes, relation_types):
            src, dst, _ = edges[etype]
            rels.append(hgi.create_unitgraph_from_coo(1 if same else 2, len(nodes[s_type]), len(nodes[d_type]),
                                                      idx(src), idx(dst), ["coo", "csr", "csc"]))
        counts = dgl.utils.toindex([len(n) for n in nid], "int64")
        gidx = hgi.create_heterograph_from_relations(g._graph.metagraph, rels, counts)
        node_frames = [g._node_frames[i].subframe(n) for i, n in enumerate(nid)]
        edge_frames = [g._edge_frames[i].subframe(e) for i, e in enumerate(eid)]
        for frame, ids in zip(node_frames, nid):
            frame[dgl.NID] = ids.to(idtype)  # dgl.node_subgraph's dtype
        for frame, ids in zip(edge_frames, eid):
            frame[dgl.EID] = ids.to(idtype)
        # DGLGraph(gidx, g.ntypes, g.etypes, node_frames, edge_frames), without recomputing the
        # type maps from the metagraph (the same as g's): DGL's own shallow copy of g with the
        # graph index and frames replaced (its __dict__ holds nothing else)
        sub = copy.copy(g)
        if not isinstance(sub, DGLGraph) or set(sub.__dict__) != _DGLGRAPH_STATE:
            return DGLGraph(gidx, g.ntypes, g.etypes, node_frames, edge_frames)
        sub._graph, sub._node_frames, sub._edge_frames = gidx, node_frames, edge_frames
        sub._batch_num_nodes = sub._batch_num_edges = None
        return sub
    except (AttributeError, ImportError, TypeError):  # pragma: no cover - other DGL versions
        sub = dgl.heterograph({e: (idx(edges[e][0]), idx(edges[e][1])) for e in g.canonical_etypes},
                              {t: len(nodes[t]) for t in g.ntypes}, idtype=g.idtype)
        for i, t in enumerate(g.ntypes):
            for key, value in g.nodes[t].data.items():
                sub.nodes[t].data[key] = value[nid[i]]
        for i, e in enumerate(g.canonical_etypes):
            for key, value in g.edges[e].data.items():
                sub.edges[e].data[key] = value[eid[i]]
        for i, t in enumerate(g.ntypes):
            sub.nodes[t].data[dgl.NID] = nid[i].to(g.idtype)
        for i, e in enumerate(g.canonical_etypes):
            sub.edges[e].data[dgl.EID] = eid[i].to(g.idtype)
        return sub


def induced_subgraph(g, arrays: GraphArrays, nodes: dict, excluded=None, max_in_edges=None, rng=None):
    """The subgraph of ``g`` induced by ``nodes`` (``{ntype: distinct int64 ids}``, kept in order).

    Node ``i`` of type ``t`` in the result is ``nodes[t][i]`` (stored in ``dgl.NID``); every edge
    of ``g`` between two of the nodes is kept, except those flagged in ``excluded``
    (:attr:`GraphArrays.excluded` as :class:`ExcludedEdges` marks it, or ``None``), with its id in ``g`` in
    ``dgl.EID``. Node and edge features are copied. The induction is done in numpy over the
    merged CSRs (:func:`_relation_edges`): the same edges as :func:`dgl.node_subgraph` minus the
    excluded ones, in another order within a relation (by the row they were read from).

    With ``max_in_edges = k``, each node keeps at most ``k`` of its incoming edges of each
    relation, drawn uniformly without replacement (``rng``, a numpy Generator).
    """
    sub = _build_subgraph(g, nodes, _relation_edges(g, arrays, nodes, excluded), arrays.relation_types)
    if max_in_edges is None:
        return sub
    drop = {}
    for etype in sub.canonical_etypes:
        bad = _over_in_cap(sub, etype, np.zeros(sub.num_edges(etype), dtype=bool), max_in_edges, rng)
        if bad.any():
            drop[etype] = np.flatnonzero(bad)
    return _without_edges(sub, drop) if drop else sub
