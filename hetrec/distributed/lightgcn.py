r"""LightGCN's propagation computed exactly on a :class:`dgl.distributed.DistGraph`.

The same model as :mod:`hetrec.models.lightgcn`: with :math:`\mathcal N(v)` the neighbours of
*v* in the training graph's user-item interactions (``interacts`` for an item, ``interacted_by``
for a user) and :math:`d_v = |\mathcal N(v)|` its **global** degree,

.. math::

    e_v^{(k+1)} = \sum_{w \in \mathcal N(v)} \frac{1}{\sqrt{d_v\, d_w}}\, e_w^{(k)}, \qquad
    e_v = \frac{1}{K + 1} \sum_{k=0}^{K} e_v^{(k)},

where :math:`e^{(0)}` are the free (layer-0) embeddings, here two
:class:`dgl.distributed.DistEmbedding` tables. Nothing is sampled: a node's K-layer output needs
the layer-0 rows of its whole K-hop neighbourhood, which this module gathers with DGL's
distributed neighbour queries.

* :func:`interaction_frontier` asks the graph servers for every in-edge of some nodes over the two
  interaction relations: :func:`dgl.distributed.sample_etype_neighbors` with fan-out -1 (all) on
  ``interacts`` and ``interacted_by`` and 0 on every other relation (tags, friends, categories are
  not LightGCN's). :func:`dgl.distributed.sample_neighbors` with fan-out -1, which the DGL docs
  suggest for full neighbourhoods, returns the in-edges of *every* relation of a heterograph
  (it samples the partition's homogeneous graph), so it would ship the other relations' edges
  only to drop them. ``etype_sorted=False`` is passed because DGL 2.1's ``partition_graph`` does
  not store partitions sorted by edge type (its ``_save_graphs`` sorts a copy and saves the
  original), which the default ``etype_sorted=True`` assumes. (The stored in-edges happen to come
  in edge-type order, since DGL numbers a partition's edges type by type, and the exactness test
  gives the same output with either setting; nothing in DGL promises that order.)
* :func:`interaction_degrees` counts those in-edges: in a bipartite graph whose two relations are
  each other's reverse, a node's in-degree over them is its degree :math:`d_v` in the symmetric
  adjacency of :func:`hetrec.models._bpr.normalized_adjacency`. It is computed once, each trainer
  for its share of nodes, and kept in a :class:`dgl.distributed.DistTensor`, because the
  normalisation of an edge needs the degree of its *source* too, which a K-hop query does not
  return for the outermost hop.
* :class:`DistLightGCN` computes the output of a batch's nodes: K hops of
  :func:`interaction_frontier`, each turned into a block with :func:`dgl.to_block` (destination
  nodes first among the sources, so each hop's nodes are a prefix of the next hop's), the
  layer-0 rows of the outermost hop pulled from the ``DistEmbedding`` (the only rows that get a
  gradient), then K rounds of message passing inwards, weights :math:`1/\sqrt{d_u d_i}`.
  :meth:`DistLightGCN.propagate_share` computes the final embeddings of *all* nodes layer by
  layer, each trainer for its share (:func:`dgl.distributed.node_split`): one hop per layer,
  the previous layer's rows read from, and the new layer's rows written to, a ``DistTensor``.

hetrec's graphs have one ``interacts`` edge per (user, item) pair (the loaders merge repeats), so
counting edges gives the binary adjacency's degrees that single-machine LightGCN uses.
"""
from __future__ import annotations

import dgl
import dgl.function as fn
import torch

from ..data import INTERACTED_BY, INTERACTS, ITEM, USER

#: the relations LightGCN propagates over (user -> item and item -> user)
INTERACTION_RELATIONS = (INTERACTS, INTERACTED_BY)
NODE_TYPES = (USER, ITEM)


def interaction_frontier(g, nodes: dict) -> dgl.DGLGraph:
    """Every in-edge over ``interacts`` / ``interacted_by`` of ``nodes`` (``{node type: ids}``)
    in the distributed graph ``g``, as a heterograph on all of ``g``'s nodes (DGL's frontier)."""
    fanout = {et: (-1 if et in INTERACTION_RELATIONS else 0) for et in g.canonical_etypes}
    nodes = {nt: ids for nt, ids in nodes.items() if len(ids)}
    return dgl.distributed.sample_etype_neighbors(g, nodes, fanout, etype_sorted=False)


def interaction_block(g, nodes: dict) -> dgl.DGLGraph:
    """:func:`interaction_frontier` of ``nodes`` as a block whose destination nodes are ``nodes``
    in the given order (and the first source nodes of each type too); ``block.srcdata[dgl.NID]``
    holds the sources' ids in ``g``."""
    frontier = interaction_frontier(g, nodes)
    dst = {nt: nodes.get(nt, torch.zeros(0, dtype=torch.int64)) for nt in frontier.ntypes}
    return dgl.to_block(frontier, dst_nodes=dst)


def interaction_degrees(block: dgl.DGLGraph) -> dict:
    """``{"user": d, "item": d}``: the destination nodes' degrees in the interaction graph, from a
    block of their full interaction neighbourhoods (:func:`interaction_block`)."""
    out = {}
    for src, rel, dst in INTERACTION_RELATIONS:
        et = (src, rel, dst)
        out[dst] = (block.in_degrees(etype=et) if et in block.canonical_etypes
                    else torch.zeros(block.num_dst_nodes(dst), dtype=torch.int64))
    return out


def edge_weights(block: dgl.DGLGraph, src_degrees: dict) -> dict:
    r"""``{relation: w}`` with :math:`w_e = 1/\sqrt{d_u d_i}` for every interaction edge of
    ``block``; ``src_degrees[node type]`` are the global degrees of the block's source nodes
    (its destination nodes are their prefix)."""
    weights = {}
    for et in INTERACTION_RELATIONS:
        if et not in block.canonical_etypes or block.num_edges(et) == 0:
            continue
        s, d = block.edges(etype=et)
        deg = src_degrees[et[0]][s.long()] * src_degrees[et[2]][d.long()]
        weights[et] = deg.to(torch.float32).rsqrt().unsqueeze(1)
    return weights


def propagate_block(block: dgl.DGLGraph, h: dict, weights: dict) -> dict:
    """One LightGCN layer over a block: ``{node type: rows of the destination nodes}`` from
    ``h`` (rows of its source nodes) and :func:`edge_weights`. A node without interactions gets a
    zero row, as in the single-machine adjacency."""
    with block.local_scope():
        funcs = {}
        for et, w in weights.items():
            block.srcnodes[et[0]].data["h"] = h[et[0]]
            block.edges[et].data["w"] = w
            funcs[et] = (fn.u_mul_e("h", "w", "m"), fn.sum("m", "out"))
        if funcs:
            block.multi_update_all(funcs, "sum")
        out = {}
        for nt in NODE_TYPES:
            rows = block.dstnodes[nt].data.get("out") if nt in block.dsttypes else None
            if rows is None:
                rows = h[nt].new_zeros((block.num_dst_nodes(nt) if nt in block.dsttypes else 0, h[nt].shape[1]))
            out[nt] = rows
        return out


class DistLightGCN:
    """LightGCN's K-layer output over a DistGraph, inside a trainer process (see the module's
    docstring for what is computed and how).

    Parameters
    ----------
    g : dgl.distributed.DistGraph
    tables : dict
        ``{"user": DistEmbedding, "item": DistEmbedding}``: the layer-0 embeddings.
    degrees : dict
        ``{"user": DistTensor, "item": DistTensor}`` of shape ``(N, 1)``: the global degrees
        (filled by :meth:`set_share`); ``None`` for K = 0.
    num_layers : int
        K (0 gives the layer-0 rows: BPR-MF).
    """

    def __init__(self, g, tables: dict, degrees: dict, num_layers: int):
        self.g, self.tables, self.degrees, self.num_layers = g, tables, degrees, num_layers
        self._share = None

    def set_share(self, share: dict) -> None:
        """Take ``share`` (``{node type: ids}``, this trainer's nodes, from
        :func:`dgl.distributed.node_split`) as the nodes whose final embeddings
        :meth:`propagate_share` computes, and write their degrees into the degree tables (K > 0;
        the caller makes every trainer wait for all before the tables are read)."""
        block = None
        if self.num_layers:
            block = interaction_block(self.g, share)
            for nt, deg in interaction_degrees(block).items():
                if len(share[nt]):
                    self.degrees[nt][share[nt]] = deg.to(torch.float32).unsqueeze(1)
        self._share = (share, block)

    def _src_degrees(self, block) -> dict:
        return {nt: self.degrees[nt][block.srcnodes[nt].data[dgl.NID]].squeeze(1) for nt in NODE_TYPES}

    def blocks(self, seeds: dict) -> list:
        """K blocks, outermost hop first, whose last block's destination nodes are ``seeds``."""
        blocks, dst = [], seeds
        for _ in range(self.num_layers):
            block = interaction_block(self.g, dst)
            blocks.insert(0, block)
            dst = {nt: block.srcnodes[nt].data[dgl.NID] for nt in NODE_TYPES}
        return blocks

    def forward(self, seeds: dict) -> tuple:
        """``(final, layer0)``: ``{node type: rows}`` of the K-layer output (layer mean) and of
        the layer-0 embeddings of ``seeds`` (unique ids per type), in their order. The layer-0
        rows of the K-hop neighbourhood are looked up through the ``DistEmbedding`` tables, so
        a backward pass gives them their gradients."""
        blocks = self.blocks(seeds)
        ids = {nt: blocks[0].srcnodes[nt].data[dgl.NID] for nt in NODE_TYPES} if blocks else seeds
        h = {nt: self.tables[nt](ids[nt]) for nt in NODE_TYPES}
        layer0 = {nt: h[nt][:len(seeds[nt])] for nt in NODE_TYPES}
        total = h
        for block in blocks:
            h = propagate_block(block, h, edge_weights(block, self._src_degrees(block)))
            total = {nt: total[nt][:block.num_dst_nodes(nt)] + h[nt] for nt in NODE_TYPES}
        return {nt: total[nt] / (self.num_layers + 1) for nt in NODE_TYPES}, layer0

    def propagate_share(self, layer: dict | None, out: dict) -> dict:
        """The final embeddings of this trainer's share of nodes (the ``share`` given to
        :meth:`set_share`), written to ``out`` (``{node type: DistTensor}``) and returned
        (``{node type: rows}``). ``layer`` (``{node type: DistTensor}``, unused for K < 2) holds one
        layer at a time, every trainer writing its share's rows. Collective: every trainer calls
        it; the barriers keep a layer from being read before all of it is written, or
        overwritten before all have read it."""
        share, block = self._share
        with torch.no_grad():
            if block is None:  # K = 0: the layer-0 rows
                final = {nt: self.tables[nt].weight[share[nt]] for nt in NODE_TYPES}
            else:
                h_src = {nt: self.tables[nt].weight[block.srcnodes[nt].data[dgl.NID]] for nt in NODE_TYPES}
                total = {nt: h_src[nt][:len(share[nt])].clone() for nt in NODE_TYPES}
                weights = edge_weights(block, self._src_degrees(block))
                for k in range(1, self.num_layers + 1):
                    h = propagate_block(block, h_src, weights)
                    total = {nt: total[nt] + h[nt] for nt in NODE_TYPES}
                    if k == self.num_layers:
                        break
                    self.g.barrier()  # every trainer has read the previous layer
                    for nt in NODE_TYPES:
                        if len(share[nt]):
                            layer[nt][share[nt]] = h[nt]
                    self.g.barrier()  # every trainer has written this one
                    h_src = {nt: layer[nt][block.srcnodes[nt].data[dgl.NID]] for nt in NODE_TYPES}
                final = {nt: total[nt] / (self.num_layers + 1) for nt in NODE_TYPES}
            for nt in NODE_TYPES:
                if len(share[nt]):
                    out[nt][share[nt]] = final[nt]
            self.g.barrier()  # every trainer's rows are in ``out``
        return final


__all__ = ["DistLightGCN", "interaction_frontier", "interaction_block", "interaction_degrees", "edge_weights",
           "propagate_block", "INTERACTION_RELATIONS"]
