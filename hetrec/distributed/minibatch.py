r"""MTHGT's mini-batch mode (historical embeddings and control variates) on a
:class:`dgl.distributed.DistGraph`.

On one machine the mode (:mod:`hetrec.models._history`, ``training="minibatch"``) estimates each
light layer of a step's nodes from a *snapshot* of every layer of every node and a few in-edges
drawn per node, so a step costs what its batch costs, not what the graph costs. On partitions the
estimator is the same (:meth:`HistoricalPropagation.propagate
<hetrec.models._history.HistoricalPropagation.propagate>` runs unchanged); :class:`DistHistory`
supplies what it reads from the graph, from the servers instead of one machine's arrays:

* **the snapshot**: :math:`\bar H^0 .. \bar H^L` of every node in one
  :class:`~dgl.distributed.DistTensor` per layer and node type, filled by an exact layer-wise
  pass over the partitions (:func:`snapshot_layers`: each trainer computes its own nodes on its
  local graph, as validation does) at the start of each epoch and after ``history_max_age``
  steps; every trainer refreshes at the same step (the steps are collective);
* **the in-edges a step uses**: a node with at most ``k`` in-edges (its global in-degree, over
  all relations) takes all of them (DGL's distributed neighbour query with fan-out −1, weight
  :math:`c(e)`); a larger one draws, **in each relation** :math:`r`, ``k`` in-edges with
  replacement with probability :math:`c(e) / S(t, r)` (DGL's
  :func:`~dgl.distributed.sample_etype_neighbors` with ``prob`` and ``replace=True`` on the
  servers that own the node), each weighted :math:`S(t, r) / k`. That is the single-machine
  ``"norm"`` draw stratified by relation: unbiased for the layer, exact at the snapshot, with at
  most ``k`` draws per relation instead of ``k`` in all (DGL's distributed sampler takes a
  fan-out per relation, not per node);
* :math:`S(t, r)` and :math:`C(t)`: one ``(N, R)`` DistTensor per node type, filled by each
  node's owner from its in-edges (complete in its partition) and the global out-degrees of their
  sources; :math:`c(e) = d_{out}(s)^{-1/2} d_{in}(t)^{-1/2}` from the global degrees
  (``norm="node"``), and the draw's weight per edge, :math:`d_{out}(s)^{-1/2}`, as edge data of
  the DistGraph (:data:`PROB`), filled by the edges' owners.

The ID embeddings are ``DistEmbedding`` rows trained by ``SparseAdam``; the relation logits are
replicated and all-reduced, as in the sampled modes (:mod:`hetrec.distributed.mthgt`).

**Not reproducible bit for bit**: the in-edge draws are made by DGL's samplers, on the servers
that own the nodes, with the servers' random streams, which the order in which trainers' requests
arrive interleaves. Everything a trainer draws itself (its batches, negatives) follows the seed.
"""
from __future__ import annotations

import torch

from ..data import INTERACTED_BY, INTERACTS
from ..models._history import HistoricalPropagation

#: name of the edge data (every relation) holding the in-edge draw's weight d_out(source)^-1/2
PROB = "hetrec_history_prob"


class DistHistory(HistoricalPropagation):
    """The graph side of the mini-batch estimator on a DistGraph (see the module's docstring).

    Global node ids are the DistGraph's homogeneous ids (``map_to_homo_nid`` of its partition
    book); relations are indexed in ``g.canonical_etypes`` order, the order of the model's layers
    (built on a schema graph of the same relations).

    Parameters
    ----------
    g : dgl.distributed.DistGraph
    degrees : dict
        ``{node type: DistTensor (N, 2)}``: every node's global in- and out-degree over all
        relations.
    sums : dict
        ``{node type: DistTensor (N, R)}``: :math:`S(t, r)` of every node (:func:`fill_sums`).
    layers : list of dict
        ``L + 1`` of ``{node type: DistTensor (N, d)}``: the snapshot's layers.
    """

    def __init__(self, g, degrees: dict, sums: dict, layers: list):
        self.g, self.book = g, g.get_partition_book()
        self.ntypes = list(self.book.ntypes)
        self.etypes = [tuple(r) for r in g.canonical_etypes]
        self._rel = {r: i for i, r in enumerate(self.etypes)}
        self.degrees, self.sums, self.layers = degrees, sums, layers
        self.num_nodes = int(sum(g.num_nodes(t) for t in self.ntypes))
        self.draw = "norm"
        self.logits: list | None = None

    # -- ids ---------------------------------------------------------------------------------
    def global_ids(self, ntype: str, ids: torch.Tensor) -> torch.Tensor:
        flat = ids.reshape(-1).long()
        return self.book.map_to_homo_nid(flat, ntype).long().reshape(ids.shape)

    def _by_type(self, ids: torch.Tensor):
        """``(type index, per-type id)`` of global ids, type indices in ``self.ntypes`` order."""
        t, i = self.book.map_to_per_ntype(ids)
        return t.long(), i.long()

    def _rows(self, tables: dict, ids: torch.Tensor, width: int, column=None) -> torch.Tensor:
        """Rows of ``{node type: DistTensor}`` for global ids (one pull per type present)."""
        tid, pid = self._by_type(ids)
        out = torch.zeros((len(ids), width) if column is None else (len(ids),))
        for ti, t in enumerate(self.ntypes):
            m = tid == ti
            if bool(m.any()):
                rows = tables[t][pid[m]]
                out[m] = rows if column is None else rows[:, column]
        return out

    def layer0(self, tables: dict, ids: torch.Tensor) -> torch.Tensor:
        """Current layer-0 rows of global ids from the ``DistEmbedding`` tables (with the trace
        ``SparseAdam`` needs)."""
        tid, pid = self._by_type(ids)
        out = None
        for ti, t in enumerate(self.ntypes):
            m = tid == ti
            if not bool(m.any()):
                continue
            rows = tables[t](pid[m])
            if out is None:
                out = rows.new_zeros(len(ids), rows.shape[1])
            out = out.index_put((m.nonzero().flatten(),), rows)
        return out

    # -- snapshot ----------------------------------------------------------------------------
    def refresh(self, layers_out=None, logits=None) -> None:
        """Record the relation logits the snapshot's layers were computed with (the layers
        themselves are in the DistTensors, written by :func:`snapshot_layers`)."""
        self.logits = [None if b is None else b.detach().clone() for b in logits]

    def invalidate(self) -> None:
        self.logits = None

    def snapshot_rows(self, layer: int, ids: torch.Tensor) -> torch.Tensor:
        width = self.layers[layer][self.ntypes[0]].shape[1]
        return self._rows(self.layers[layer], ids, width)

    def node_sums(self, nodes: torch.Tensor) -> tuple:
        S = self._rows(self.sums, nodes, len(self.etypes))
        return S, S.sum(1)

    # -- edges -------------------------------------------------------------------------------
    def _frontier_edges(self, frontier, nodes: torch.Tensor):
        """``(row, global source, relation index, DistGraph edge id)`` of a sampled frontier's
        edges, rows by the destination's place in ``nodes`` (sorted global ids)."""
        parts = []
        for et in frontier.canonical_etypes:
            s, d = frontier.edges(etype=et)
            if not len(s):
                continue
            row = torch.searchsorted(nodes, self.global_ids(et[2], d))
            parts.append((row, self.global_ids(et[0], s), torch.full_like(row, self._rel[et]),
                          frontier.edges[et].data["_ID"].long()))
        if not parts:
            z = torch.zeros(0, dtype=torch.int64)
            return z, z, z, z
        return tuple(torch.cat(x) for x in zip(*parts))

    def _query(self, nodes: torch.Tensor, mask: torch.Tensor, fanout, **kw):
        import dgl

        tid, pid = self._by_type(nodes[mask])
        seeds = {t: pid[tid == ti] for ti, t in enumerate(self.ntypes) if bool((tid == ti).any())}
        if not seeds:
            z = torch.zeros(0, dtype=torch.int64)
            return z, z, z, z
        frontier = dgl.distributed.sample_etype_neighbors(self.g, seeds, fanout, etype_sorted=False, **kw)
        return self._frontier_edges(frontier, nodes)

    def c_of(self, src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
        """:math:`c(e) = d_{out}(s)^{-1/2} d_{in}(t)^{-1/2}` of edges given by global ids."""
        out_deg = self._rows(self.degrees, src, 2, column=1)
        in_deg = self._rows(self.degrees, dst, 2, column=0)
        return out_deg.clamp(min=1).pow(-0.5) * in_deg.clamp(min=1).pow(-0.5)

    def _draw(self, nodes: torch.Tensor, fanout, generator):
        in_deg = self._rows(self.degrees, nodes, 2, column=0)
        small = torch.ones(len(nodes), dtype=torch.bool) if fanout is None else in_deg <= fanout
        e_row, e_src, e_rel, _ = self._query(nodes, small, -1)
        scale = self.c_of(e_src, nodes[e_row])
        if fanout is None or bool(small.all()):
            return e_row, e_src, e_rel, scale, len(e_row), None
        big = ~small
        s_row, s_src, s_rel, _ = self._query(nodes, big, int(fanout), prob=PROB, replace=True)
        S, _ = self.node_sums(nodes)
        s_scale = S[s_row, s_rel] / fanout
        return (torch.cat([e_row, s_row]), torch.cat([e_src, s_src]), torch.cat([e_rel, s_rel]),
                torch.cat([scale, s_scale]), len(e_row), big)

    def hidden_edges(self, relation, src_local, dst_local, hide_reverse: tuple | None = None):
        """``(src, dst, rel, c)`` (global ids) of edges of ``relation`` between the DistGraph ids
        ``src_local`` and ``dst_local``, and with ``hide_reverse`` their reverses."""
        parts = []
        for rel, s, d in ((relation, src_local, dst_local), (hide_reverse, dst_local, src_local)):
            if rel is None:
                continue
            gs, gd = self.global_ids(rel[0], s), self.global_ids(rel[2], d)
            parts.append((gs, gd, torch.full_like(gs, self._rel[tuple(rel)]), self.c_of(gs, gd)))
        return tuple(torch.cat(x) for x in zip(*parts))


def fill_sums(local, share_local: dict, share: dict, dist_of: dict, degrees: dict, sums: dict,
              etypes: list) -> None:
    """Write :math:`S(t, r)` of this trainer's nodes (``share``: DistGraph ids, ``share_local``:
    their ids in the local graph, inner nodes with every in-edge there) to ``sums``, from the
    global ``degrees`` (written and visible: call after a barrier)."""
    rel = {tuple(r): i for i, r in enumerate(etypes)}
    for t, ids in share_local.items():
        if not len(ids):
            continue
        S = torch.zeros(len(ids), len(etypes))
        in_deg = degrees[t][share[t]][:, 0]
        for et in local.canonical_etypes:
            if et[2] != t:
                continue
            s, d = local.in_edges(ids, etype=et)
            if not len(s):
                continue
            pos = torch.searchsorted(ids, d) if bool((ids[1:] >= ids[:-1]).all()) else None
            if pos is None:
                order = torch.argsort(ids)
                pos = order[torch.searchsorted(ids[order], d)]
            out_deg = degrees[et[0]][dist_of[et[0]][s]][:, 1]
            c = out_deg.clamp(min=1).pow(-0.5) * in_deg[pos].clamp(min=1).pow(-0.5)
            S[:, rel[tuple(et)]].index_add_(0, pos, c)
        sums[t][share[t]] = S


def fill_prob(g, local, dist_of: dict, degrees: dict, probs: dict, edge_share: dict) -> None:
    """Write the draw weight :math:`d_{out}(s)^{-1/2}` of the edges ``edge_share`` (``{relation:
    local edge ids}``, edges this machine owns) to ``probs`` (``{relation: DistTensor}``)."""
    for et, eids in edge_share.items():
        if not len(eids):
            continue
        s, _ = local.find_edges(eids, etype=et)
        out_deg = degrees[et[0]][dist_of[et[0]][s]][:, 1]
        probs[et][local.edges[et].data["dist_id"][eids]] = out_deg.clamp(min=1).pow(-0.5)


def snapshot_layers(model, block, tables: dict, src_dist: dict, share: dict, layers: list, degrees: dict,
                    barrier) -> list:
    """Every layer :math:`\\bar H^0 .. \\bar H^L` of every node, written to ``layers`` (``L + 1``
    of ``{node type: DistTensor}``) by the nodes' trainers: each computes its share (the block's
    destination nodes, ``share`` their DistGraph ids) on the block of their in-edges in its local
    graph, layer ``l`` of the sources read from ``layers[l]`` once every trainer has written it.
    Layer 0 is copied from the ``DistEmbedding`` tables first, so each layer of the snapshot is
    exactly the light layer of the one below it. Collective; returns the relation logits used."""
    from .local import set_global_degrees

    ntypes = list(block.srctypes)
    barrier()  # every trainer's previous step (its SparseAdam update included) is over
    with torch.no_grad(), block.local_scope():
        set_global_degrees(block, degrees, src_dist, share)
        for t in ntypes:
            if len(share[t]):
                layers[0][t][share[t]] = tables[t].weight[share[t]]
        barrier()
        for k, conv in enumerate(model.gnns[0]):
            h_src = {t: layers[k][t][src_dist[t]] for t in ntypes}
            h = conv(block, h_src)
            for t in ntypes:
                if len(share[t]):
                    layers[k + 1][t][share[t]] = h[t] if t in h else torch.zeros(len(share[t]), h_src[t].shape[1])
            barrier()
    return model._relation_logits()


def interaction_keys(users, items, num_items: int) -> torch.Tensor:
    """Sorted ``user * num_items + item`` of training interactions (DistGraph ids)."""
    return torch.unique(torch.as_tensor(users).long() * num_items + torch.as_tensor(items).long())


def step_loss(model, hp: DistHistory, tables: dict, users, pos_items, num_items: int, gen, train_keys):
    """The loss of one mini-batch step of this trainer: its interactions ``(users, pos_items)``
    (DistGraph ids), ``num_negatives`` negatives each from a pool of ``negative_pool`` uniform
    items (as :class:`~hetrec.batching.MiniBatches` draws them), the step's interactions and their
    reverses hidden from message passing, :meth:`MTHGT.history_loss
    <hetrec.models.mthgt.MTHGT.history_loss>` on ``hp``."""
    from .._random import draw_seed

    cfg = model.config
    pool = torch.randint(0, num_items, (cfg.negative_pool,), generator=gen)
    neg = pool[torch.randint(0, len(pool), (len(users), cfg.num_negatives), generator=gen)]
    seed = draw_seed(gen)
    hidden = None
    if cfg.drop_batch_edges:
        pairs = torch.unique(users * num_items + pos_items)
        hidden = hp.hidden_edges(INTERACTS, pairs // num_items, pairs % num_items, INTERACTED_BY)
    return model.history_loss(hp, users, pos_items, neg, seed, lambda ids: hp.layer0(tables, ids), hidden,
                              train_keys, num_items)


def probe_history(spec: dict, model, hp: DistHistory, tables: dict, share: dict, refresh, dgl_id: dict, orig: dict,
                  barrier) -> dict:
    """For tests (``train_distributed(..., probe={..., "history": spec})``): the estimator on this
    trainer's nodes, with the parameters the probe loaded (A) and then ``spec``'s (B).

    ``spec``: ``{"fanout": k, "draws": n, "hidden": (user ids, item ids), "tables": {node type:
    table}, "state": dense state}`` (ids and tables in the dataset graph's ids). After a snapshot of
    A: ``"exact"`` (every in-edge, no snapshot involved), ``"exact_hidden"`` (the same without the
    ``hidden`` interactions and their reverses) and ``"snapshot"`` (``k`` draws, the hidden edges
    left out; layer 1 deterministic at the snapshot), all layers
    side by side; with B loaded and A's snapshot kept: ``"exact_b"`` and the mean and standard
    error of the last layer over ``n`` draws (``"mean_b"``, ``"se_b"``). Returns ``{name: (width,
    {node type: (DistGraph ids, rows)})}``. Collective."""
    cfg = model.config
    heads, k, draws = cfg.num_heads, int(spec["fanout"]), int(spec["draws"])
    targets = torch.unique(torch.cat([hp.global_ids(t, ids) for t, ids in share.items() if len(ids)]))
    gen = torch.Generator().manual_seed(0)

    def h0(ids):
        return hp.layer0(tables, ids)

    users, items = (torch.as_tensor(x).long() for x in spec["hidden"])
    hidden = hp.hidden_edges(INTERACTS, dgl_id["user"][users], dgl_id["item"][items], INTERACTED_BY)
    refresh()
    out = {}
    with torch.no_grad():
        logits = model._relation_logits()
        out["exact"] = torch.cat(hp.propagate(targets, h0, logits, heads, None, gen)[0], 1)
        out["exact_hidden"] = torch.cat(hp.propagate(targets, h0, logits, heads, None, gen, hidden)[0], 1)
        out["snapshot"] = torch.cat(hp.propagate(targets, h0, logits, heads, k, gen, hidden)[0], 1)
        barrier()  # every trainer is done with A
        model.load_state_dict(spec["state"], strict=False)
        for t, ids in share.items():
            if len(ids):
                tables[t].weight[ids] = spec["tables"][t][orig[t][ids]].to(torch.float32)
        barrier()  # B everywhere
        logits = model._relation_logits()
        out["exact_b"] = torch.cat(hp.propagate(targets, h0, logits, heads, None, gen)[0], 1)
        acc = acc2 = 0
        for _ in range(draws):
            x = hp.propagate(targets, h0, logits, heads, k, gen)[0][-1].double()
            acc, acc2 = acc + x, acc2 + x * x
        mean = acc / draws
        var = (acc2 / draws - mean * mean).clamp(min=0) * draws / max(draws - 1, 1)
        out["mean_b"], out["se_b"] = mean.float(), (var / draws).sqrt().float()
    tid, pid = hp._by_type(targets)
    got = {}
    for name, rows in out.items():
        got[name] = (rows.shape[1], {t: (pid[tid == ti], rows[tid == ti]) for ti, t in enumerate(hp.ntypes)
                                     if bool((tid == ti).any())})
    return got


__all__ = ["DistHistory", "PROB", "fill_prob", "fill_sums", "interaction_keys", "probe_history", "snapshot_layers",
           "step_loss"]
