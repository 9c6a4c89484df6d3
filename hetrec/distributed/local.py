"""The dense sampler on one machine's partition: its own nodes plus one hop of HALO nodes.

A partition folder of ``hetrec partition`` holds, for partition :math:`p`, the nodes :math:`p`
owns (*inner* nodes), one hop of HALO nodes (copies of other partitions' nodes adjacent to an
inner node) and every training edge with at least one inner end: DGL 2.1's ``partition_graph``
with ``num_hops=1`` keeps an inner node's in-edges (which :math:`p` owns) and its out-edges
(owned by the partition of their destination). :func:`local_graph` turns that file into a
hetrec-schema heterograph, which :class:`LocalDenseSampler` samples with
:class:`~hetrec.sampling.DenseSubgraphSampler` without asking any other machine.

What the local graph changes for the dense sampler, against the whole training graph:

* an **inner node** has all its edges, in both directions, so the budget it spreads
  (:math:`1/\\mathrm{deg}_r(u)` to each neighbour) is exactly the full graph's;
* a **HALO node** has only its edges to and from inner nodes. When it is sampled it spreads its
  budget over its inner neighbours only, with its *local* degree (so each receives more than in
  the full graph), and nothing to the nodes beyond the partition it would reach in the full graph;
* nodes outside the partition and its HALO (two hops away from every inner node) cannot be
  sampled at all.

``docs/distributed.md`` ("The dense sampler on a partition") gives the measured effect on
Last.FM and MovieLens-1M (``benchmarks/local_sampling.py``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..data import INTERACTED_BY, INTERACTS
from ..data.schema import reverse_etypes
from .partition import ORIG_IDS_FILE, PartitionError, _etype_key, check_partition, read_partition_graph

#: Name of the node and edge data of a local graph that holds the id in the partitioned graph,
#: i.e. the :class:`dgl.distributed.DistGraph` id of the folder (per type / per relation).
DIST_ID = "dist_id"
#: Name of the node and edge data of a local graph that holds the id in the dataset graph (edge
#: ids of ``interacts`` / ``interacted_by`` are the full graph's, as in ``orig_ids.npz``).
DATASET_ID = "dataset_id"
#: Name of the node and edge data of a local graph that is ``True`` for a node the partition owns
#: (not a HALO copy) and for an edge it owns (its destination is an inner node).
INNER = "inner"
#: The id spaces :meth:`LocalDenseSampler.sample` accepts and returns ids in.
ID_SPACES = (DIST_ID, DATASET_ID)


def local_graph(partition_dir, part_id: int, *, splits=None, verify: bool = True):
    """Partition ``part_id`` of a partition folder as a hetrec-schema heterograph.

    The graph has every node type and every relation (reverses included) of the partitioned
    training graph, the partition's inner nodes plus its HALO nodes, and the edges the
    partition's ``graph.dgl`` holds (every training edge with at least one inner end; none
    between two HALO nodes). Node ``i`` of a type is the ``i``-th of the partition's nodes of
    that type in the dataset graph's id order, and a relation's edges are in the order of their
    dataset edge ids: a one-partition folder gives back the fold's training graph, node for node
    and edge for edge.

    Node data: :data:`DIST_ID` (the :class:`dgl.distributed.DistGraph` id, to pull rows of
    ``DistEmbedding`` / ``DistTensor``), :data:`DATASET_ID` and :data:`INNER` (owned, not a
    HALO copy). Edge data: :data:`DIST_ID`, :data:`DATASET_ID` and :data:`INNER` (owned by this
    partition). No features: those of the owned nodes and edges live in the partition's
    ``node_feat.dgl`` / ``edge_feat.dgl``, the others on other machines.

    Parameters
    ----------
    partition_dir : path
        A folder written by :func:`~hetrec.distributed.partition_fold` / ``hetrec partition``.
    part_id : int
        The partition (machine).
    splits : KFold, optional
        If given, the folder must partition this split (:func:`check_partition`).
    verify : bool
        Check the sha256 of the files read (DGL's configuration, ``part<i>/graph.dgl``,
        ``orig_ids.npz``) against ``hetrec_partition.json``.

    Raises
    ------
    PartitionError
        No such folder or partition, a file changed since it was written, or another split.
    """
    import dgl

    out = Path(partition_dir)
    check_partition(out, splits, files=False)  # the metadata, and the split when given
    meta, part, book = read_partition_graph(out, part_id, verify=verify)
    expected_ntypes = set(meta["train_graph"]["num_nodes"])
    expected_etypes = set(meta["train_graph"]["num_edges"])
    etypes = [tuple(et) for et in book.canonical_etypes]
    if set(book.ntypes) != expected_ntypes or {_etype_key(et) for et in etypes} != expected_etypes:
        raise PartitionError(f"{out / meta['dgl_config']}: DGL's partition book has node types {sorted(book.ntypes)} "
                             f"and relations {sorted(map(_etype_key, etypes))}; hetrec_partition.json records "
                             f"{sorted(expected_ntypes)} and {sorted(expected_etypes)}")
    # orig_ids.npz maps the whole graph (8 bytes a node and an edge): read whole on every machine
    with np.load(out / ORIG_IDS_FILE, allow_pickle=False) as z:
        orig = {k: z[k] for k in z.files}

    ntype_of, dist_node = (x.numpy().astype(np.int64) for x in book.map_to_per_ntype(part.ndata[dgl.NID]))
    inner_node = part.ndata["inner_node"].numpy().astype(bool)
    local_index = np.empty(part.num_nodes(), dtype=np.int64)  # DGL's partition-local id -> per-type local id
    ndata = {}
    for t_id, t in enumerate(book.ntypes):
        members = np.flatnonzero(ntype_of == t_id)
        dataset = orig[f"node:{t}"][dist_node[members]]
        order = np.argsort(dataset, kind="stable")
        local_index[members[order]] = np.arange(len(members))
        ndata[t] = {DIST_ID: dist_node[members[order]], DATASET_ID: dataset[order], INNER: inner_node[members[order]]}

    src, dst = (x.numpy() for x in part.edges())
    etype_of, dist_edge = (x.numpy().astype(np.int64) for x in book.map_to_per_etype(part.edata[dgl.EID]))
    inner_edge = part.edata["inner_edge"].numpy().astype(bool)
    graph_data, edata = {}, {}
    for e_id, et in enumerate(etypes):
        members = np.flatnonzero(etype_of == e_id)
        dataset = orig[f"edge:{_etype_key(et)}"][dist_edge[members]]
        members = members[np.argsort(dataset, kind="stable")]
        graph_data[et] = (torch.from_numpy(local_index[src[members]]), torch.from_numpy(local_index[dst[members]]))
        edata[et] = {DIST_ID: dist_edge[members], DATASET_ID: orig[f"edge:{_etype_key(et)}"][dist_edge[members]],
                     INNER: inner_edge[members]}
    g = dgl.heterograph(graph_data, num_nodes_dict={t: len(ndata[t][DIST_ID]) for t in book.ntypes}, idtype=torch.int64)
    for t, data in ndata.items():
        for k, v in data.items():
            g.nodes[t].data[k] = torch.from_numpy(v)
    for et, data in edata.items():
        for k, v in data.items():
            g.edges[et].data[k] = torch.from_numpy(v)
    return g


def set_global_degrees(block, degrees: dict, src_dist: dict, share: dict) -> None:
    """Give an inference block the global degrees its light layers normalise with (a HALO node's
    local degree is not its degree): sources' out-degrees and destinations' in-degrees from
    ``degrees`` (``{node type: DistTensor (N, 2)}``), by their DistGraph ids ``src_dist`` / ``share``."""
    from ..nn.light_hgt import IN_DEGREE, OUT_DEGREE

    for t in block.srctypes:
        if block.num_src_nodes(t):
            block.srcnodes[t].data[OUT_DEGREE] = degrees[t][src_dist[t]][:, 1]
        if block.num_dst_nodes(t):
            block.dstnodes[t].data[IN_DEGREE] = degrees[t][share[t]][:, 0]


class LocalDenseSampler:
    """:class:`~hetrec.sampling.DenseSubgraphSampler` on one partition's :func:`local_graph`,
    with seeds and sampled nodes in :class:`~dgl.distributed.DistGraph` ids (or the dataset's).

    A trainer on machine :math:`p` samples around its seed interactions from what the machine
    holds, then pulls the sampled nodes' rows from ``DistEmbedding`` / ``DistTensor`` by their
    DistGraph ids. The sample is the dense sampler's on the local graph, with its contract
    (seeds first and in the given order, every local edge among the sampled nodes except the
    excluded ones), so it differs from a sample of the whole training graph only by what the
    local graph lacks (the module's docstring; ``docs/distributed.md``).

    Seeds must be nodes of the local graph (inner or HALO): a trainer's own interactions are,
    both ends of an edge the partition owns being in it. Negative items drawn from the whole
    catalogue need not be; :meth:`local_nodes` names those that are not.

    Parameters
    ----------
    sampler : DenseSubgraphSampler
        The sampler (its ``depth``, ``width``, caps and generator are used as they are).
    local : DGLGraph
        :func:`local_graph` of the partition.
    """

    def __init__(self, sampler, local):
        missing = [k for k in (DIST_ID, DATASET_ID, INNER) for t in local.ntypes if k not in local.nodes[t].data]
        missing += [k for k in (DIST_ID, DATASET_ID) for et in local.canonical_etypes if k not in local.edges[et].data]
        if missing:
            raise ValueError(f"not a local graph of a partition (node or edge data {sorted(set(missing))} missing): "
                             "build it with hetrec.distributed.local_graph")
        self.sampler = sampler
        self.local = local
        self._sorted = {}  # (id space, type) -> (sorted ids, local ids in that order)

    def __repr__(self):
        n = {t: self.local.num_nodes(t) for t in self.local.ntypes}
        return f"{type(self).__name__}({self.sampler!r}, local graph of {sum(n.values())} nodes)"

    def _lookup(self, by: str, key):
        if by not in ID_SPACES:
            raise ValueError(f"by must be one of {', '.join(map(repr, ID_SPACES))}, got {by!r}")
        if (by, key) not in self._sorted:
            data = self.local.edges[key].data if isinstance(key, tuple) else self.local.nodes[key].data
            ids = data[by].numpy()
            order = np.argsort(ids, kind="stable")
            self._sorted[(by, key)] = (ids[order], order)
        return self._sorted[(by, key)]

    def _to_local(self, ids, by: str, key, what: str) -> np.ndarray:
        ids = np.asarray(ids.numpy() if isinstance(ids, torch.Tensor) else ids, dtype=np.int64).reshape(-1)
        known, order = self._lookup(by, key)
        pos = np.searchsorted(known, ids).clip(max=max(len(known) - 1, 0))
        found = (known[pos] == ids) if len(known) else np.zeros(len(ids), dtype=bool)
        if not found.all():
            bad = ids[~found]
            raise ValueError(f"{len(bad)} of the {len(ids)} {key} {what} ids ({by}: {', '.join(map(str, bad[:5]))}"
                             f"{', …' if len(bad) > 5 else ''}) are not in this local graph (the partition's nodes "
                             "and its HALO nodes, the edges with an end there)")
        return order[pos]

    def local_nodes(self, nodes: dict, by: str = DIST_ID) -> dict:
        """``{ntype: ids}`` in the id space ``by`` (:data:`DIST_ID` or :data:`DATASET_ID`) →
        local node ids (int64 tensors); a ``ValueError`` names ids that are not in the graph."""
        out = {}
        for t, ids in nodes.items():
            if t not in self.local.ntypes:
                raise ValueError(f"no node type {t!r} in the local graph (it has {', '.join(self.local.ntypes)})")
            out[t] = torch.from_numpy(self._to_local(ids, by, t, "node"))
        return out

    def local_edges(self, edges: dict, by: str = DIST_ID) -> dict:
        """``{canonical etype: edge ids}`` in the id space ``by`` → local edge ids (int64
        tensors); a ``ValueError`` names ids that are not in the graph."""
        out = {}
        for et, ids in edges.items():
            et = self.local.to_canonical_etype(et)
            out[et] = torch.from_numpy(self._to_local(ids, by, et, "edge"))
        return out

    def sample(self, seed_nodes: dict, exclude_eids: dict | None = None, by: str = DIST_ID):
        """The dense sampler around ``seed_nodes`` on the local graph.

        ``seed_nodes`` (``{ntype: distinct ids}``) and ``exclude_eids`` (``{etype: edge ids}``)
        are in the id space ``by``. Returns ``(input_nodes, seed_nodes, subgraph)`` as
        :meth:`DenseSubgraphSampler.sample <hetrec.sampling.DenseSubgraphSampler.sample>` does,
        with ``input_nodes`` (each type's seeds first) in the id space ``by``; the subgraph's
        node data holds ``dgl.NID`` (local ids) and :data:`DIST_ID`, :data:`DATASET_ID` and
        :data:`INNER`, its edge data ``dgl.EID`` (local ids), :data:`DIST_ID`,
        :data:`DATASET_ID` and :data:`INNER`.
        """
        seeds = self.local_nodes(seed_nodes, by)
        exclude = self.local_edges(exclude_eids, by) if exclude_eids else None
        _, _, subgraph = self.sampler.sample(self.local, seeds, exclude)
        input_nodes = {t: subgraph.nodes[t].data[by] for t in subgraph.ntypes}
        return input_nodes, seed_nodes, subgraph

    def interaction_seeds(self, eids, etype=INTERACTS, by: str = DIST_ID) -> tuple:
        """The seeds of a batch of interactions, as a link-prediction batch seeds the sampler.

        ``eids`` are ids of ``etype`` (:data:`~hetrec.data.INTERACTS` or
        :data:`~hetrec.data.INTERACTED_BY`) in the id space ``by``. Returns ``(seed_nodes,
        exclude_eids, (src, dst))`` in local ids: the distinct users and items of the
        interactions (ascending), the interactions in both directions (edge ``i`` of
        ``interacts`` and of ``interacted_by`` are one fact, with one dataset id), as
        ``exclude="reverse_types"`` excludes them on one machine, and the position among the
        seeds of each interaction's source and destination, in the order of ``eids``.
        """
        et = self.local.to_canonical_etype(etype)
        if et not in (INTERACTS, INTERACTED_BY):
            raise ValueError(f"interactions are edges of {INTERACTS} or {INTERACTED_BY}, got {et}")
        rev = reverse_etypes(self.local)[et]
        edges = self.local_edges({et: eids}, by)[et]
        src, dst = (x[edges] for x in self.local.edges(etype=et))
        stype, _, dtype = et
        seeds = {stype: torch.unique(src), dtype: torch.unique(dst)}
        facts = self.local.edges[et].data[DATASET_ID][edges]  # the same facts in the reverse relation
        exclude = {et: edges, rev: torch.from_numpy(self._to_local(facts, DATASET_ID, rev, "edge"))}
        return seeds, exclude, (torch.searchsorted(seeds[stype], src), torch.searchsorted(seeds[dtype], dst))

    def sample_interactions(self, eids, etype=INTERACTS, by: str = DIST_ID):
        """The dense sampler around a batch of interactions (:meth:`interaction_seeds`).

        Returns ``(input_nodes, (src, dst), subgraph)``: ``input_nodes`` and ``subgraph`` as in
        :meth:`sample`, and the positions in the subgraph (node ids of the source and of the
        destination type) of each interaction's two ends, in the order of ``eids``.
        """
        seeds, exclude, pairs = self.interaction_seeds(eids, etype, by)
        _, _, subgraph = self.sampler.sample(self.local, seeds, exclude)
        input_nodes = {t: subgraph.nodes[t].data[by] for t in subgraph.ntypes}
        return input_nodes, pairs, subgraph


__all__ = ["local_graph", "LocalDenseSampler", "DIST_ID", "DATASET_ID", "INNER", "ID_SPACES"]
