r"""Mini-batch propagation with historical embeddings and control variates (MTHGT's ``minibatch``
training mode).

MTHGT's recipe propagates ID embeddings with :class:`~hetrec.nn.LightHGTLayer` (relation or no
attention): layer :math:`l` of node :math:`t` is a *linear* function of layer :math:`l-1`,

.. math::

    H^l_t = \sum_{e=(s, r, t)} a^l_r(t)\, c(e)\, H^{l-1}_s , \qquad
    a^l_r(t) = \frac{e^{b^l_r}\, C(t)}{\sum_{r'} S(t, r')\, e^{b^l_{r'}}} ,

per head, with :math:`c(e)` LightGCN's symmetric normalisation, :math:`S(t, r)` the sum of
:math:`c` over :math:`t`'s in-edges of relation :math:`r`, :math:`C(t) = \sum_r S(t, r)` and
:math:`b^l` the layer's relation logits (all zero without attention: :math:`a = 1`).

Full-graph training computes every :math:`H^l` of every node at every step. This module computes
them only for the nodes a step needs, at a cost bounded by the batch, with the control-variate
estimator of VR-GCN (Chen, Zhu & Song, ICML 2018) and historical embeddings in the spirit of
GNNAutoScale (Fey et al., ICML 2021):

* a **snapshot** holds, for every node, :math:`\bar H^0 .. \bar H^L` from one exact full-graph
  inference pass (no gradient) and the relation logits :math:`\bar b` it used, so
  :math:`\bar H^l_t = \sum_e \bar a_r(t) c(e) \bar H^{l-1}_s` holds exactly;
* a step needs :math:`H^l` on a frontier :math:`F_l` (``F_L`` = the batch's users and items,
  :math:`F_{l-1} = F_l \cup` the sources of ``fanout`` in-edges drawn per node of :math:`F_l`
  with probability :math:`c(e) / C(t)`; a node with at most ``fanout`` in-edges uses all of
  them, exactly), and estimates

  .. math::

      H^l_t \approx \bar H^l_t + \frac{C(t)}{k} \sum_{j=1}^{k}
          \big(a^l_{r_j}(t)\, H^{l-1}_{s_j} - \bar a^l_{r_j}(t)\, \bar H^{l-1}_{s_j}\big) ,

  which is unbiased for the exact layer given the sources' values, exact when the parameters
  still equal the snapshot's (the bracket vanishes), and of low variance while they stay close;
  gradients reach the ID embeddings and relation logits of every sampled node on every hop.
  ``fanout=None`` takes every in-edge with its weight :math:`c(e)` instead (exact; for tests).

The snapshot is refreshed by the model (once per epoch by default): an inference pass over the
whole graph, the cost of one evaluation, amortised over the epoch's steps. Between refreshes a
step touches :math:`|F_0| \le |F_L| (1 + k)^L` nodes and :math:`k \sum_l |F_l|` edges, whatever
the graph's size.
"""
from __future__ import annotations

import torch

from ..nn.sparse import edge_sum


def unique_inverse(x: torch.Tensor, n: int) -> tuple:
    """``torch.unique(x, return_inverse=True)`` for ids in ``[0, n)``: the sorted distinct ids and
    each entry's position among them. Where ``n`` is small against ``len(x)`` (a step that covers
    much of a small graph) it marks the ids in an ``n``-long mask and counts instead of sorting
    ``x``, which costs ``O(n + len(x))``; otherwise it sorts, ``O(len(x) log len(x))``, so the cost
    stays bounded by the step on large graphs."""
    if n > 4 * len(x):
        return torch.unique(x, return_inverse=True)
    mark = torch.zeros(n, dtype=torch.bool, device=x.device)
    mark[x] = True
    uniq = mark.nonzero().squeeze(1)
    position = torch.cumsum(mark, 0) - 1
    return uniq, position[x]


def unique_edges(parts: list, num_nodes: int, num_relations: int) -> tuple:
    """The distinct edges of several :meth:`HistoricalPropagation.hidden_edges` tuples ``(src, dst,
    rel, c)`` (global ids), as one such tuple: an edge named twice (a link-prediction positive
    drawn twice, or also an interaction's reverse) is hidden once, as :meth:`~HistoricalPropagation.propagate`
    expects."""
    src, dst, rel, c = (torch.cat(x) for x in zip(*parts))
    key = (dst * num_nodes + src) * max(num_relations, 1) + rel
    uniq, inverse = torch.unique(key, return_inverse=True)
    first = torch.full((len(uniq),), len(key), dtype=torch.long,
                       device=key.device).scatter_reduce(0, inverse, torch.arange(len(key), device=key.device),
                                                         reduce="amin")
    return src[first], dst[first], rel[first], c[first]


class HistoricalPropagation:
    """The homogeneous in-edge CSR of a heterograph, its normalisation, and the snapshot.

    Parameters
    ----------
    g : DGLGraph
        The training graph (any device; the arrays live on ``g.device``).
    norm : str
        ``"node"`` (degrees over all relations) or ``"relation"`` (within each), as the layers.
    draw : str
        How a sampled node's in-edges are drawn: ``"norm"`` with probability ``c(e)/C(t)`` (the
        default), ``"uniform"`` (``1/deg(t)``) or ``"dense"`` (in proportion to the source's
        squared degree, the paper's Eq. 2 probabilities). Each draw is weighted by
        ``c(e) / (k p(e))``, so every choice is unbiased; they differ in variance.
    """

    DRAWS = ("norm", "uniform", "dense")

    def __init__(self, g, norm: str = "node", draw: str = "norm"):
        if draw not in self.DRAWS:
            raise ValueError(f"draw must be one of {', '.join(map(repr, self.DRAWS))}, got {draw!r}")
        self.draw = draw
        self.ntypes = list(g.ntypes)
        self.etypes = [tuple(r) for r in g.canonical_etypes]
        dev = g.device
        # host-side bookkeeping (read back as Python ints)
        counts = torch.tensor([g.num_nodes(t) for t in self.ntypes], dtype=torch.int64, device="cpu")
        offsets = torch.zeros(len(counts) + 1, dtype=torch.int64, device="cpu")
        offsets[1:] = torch.cumsum(counts, 0)
        self.offset = {t: int(offsets[i]) for i, t in enumerate(self.ntypes)}
        self.num_nodes = int(offsets[-1])
        srcs, dsts, rels, cs = [], [], [], []
        self.norms = {}  # relation index -> (source norms, target norms) by local id
        out_tot = {t: torch.zeros(g.num_nodes(t), device=dev) for t in self.ntypes}
        in_tot = {t: torch.zeros(g.num_nodes(t), device=dev) for t in self.ntypes}
        for r in self.etypes:
            out_tot[r[0]] += g.out_degrees(etype=r).float()
            in_tot[r[2]] += g.in_degrees(etype=r).float()
        for ri, r in enumerate(self.etypes):
            s, d = (x.long() for x in g.edges(etype=r, order="eid"))
            if norm == "node":
                so, di = out_tot[r[0]], in_tot[r[2]]
            else:
                so, di = g.out_degrees(etype=r).float(), g.in_degrees(etype=r).float()
            self.norms[ri] = (so.clamp(min=1).pow(-0.5), di.clamp(min=1).pow(-0.5))
            c = self.norms[ri][0][s] * self.norms[ri][1][d]
            srcs.append(s + self.offset[r[0]])
            dsts.append(d + self.offset[r[2]])
            rels.append(torch.full_like(s, ri))
            cs.append(c)
        src, dst, rel, c = (torch.cat(x) if x else torch.zeros(0, device=dev) for x in (srcs, dsts, rels, cs))
        order = torch.argsort(dst, stable=True)
        # compact ids (4 and 2 bytes per edge; converted per step where they index)
        small = torch.int32 if self.num_nodes < 2**31 else torch.int64
        self.src, self.rel, self.c = src[order].to(small), rel[order].to(torch.int16), c[order].float()
        dst = dst[order].long()
        deg = torch.bincount(dst, minlength=self.num_nodes)
        self.indptr = torch.zeros(self.num_nodes + 1, dtype=torch.int64, device=dev)
        self.indptr[1:] = torch.cumsum(deg, 0)
        # S(t, r) and C(t); float64 running sums for drawing edges in proportion to c(e)
        self.S = torch.zeros(self.num_nodes, max(len(self.etypes), 1), device=dev)
        self.S.index_put_((dst, self.rel.long()), self.c, accumulate=True)
        del dst, order, src, rel, c
        self.C = self.S.sum(1)
        # the draw's weight per edge (None: c itself) and its float64 running sum
        if draw == "norm":
            self.w = None
        elif draw == "uniform":
            self.w = torch.ones_like(self.c)
        else:
            out_deg = torch.bincount(self.src.long(), minlength=self.num_nodes).float()
            self.w = out_deg[self.src.long()].pow(2)
        self.cum = torch.cumsum((self.c if self.w is None else self.w).double(), 0)
        self.history: list | None = None
        self.logits: list | None = None

    # -- ids ---------------------------------------------------------------------------------
    def global_ids(self, ntype: str, ids: torch.Tensor) -> torch.Tensor:
        """Global node ids (types in ``g.ntypes`` order, each a contiguous range)."""
        return ids.long() + self.offset[ntype]

    def to_global(self, h: dict) -> torch.Tensor:
        """A by-type dict of ``(n_t, d)`` tensors as one ``(num_nodes, d)`` tensor."""
        return torch.cat([h[t] for t in self.ntypes])

    # -- snapshot ----------------------------------------------------------------------------
    def refresh(self, layers_out: list, logits: list) -> None:
        """Store a snapshot: ``layers_out`` = ``[H^0, ..., H^L]`` (each a by-type dict, exact
        full-graph values, detached) and ``logits[l]`` = layer ``l+1``'s relation logits
        ``(R, heads)`` (None: no attention)."""
        self.history = [self.to_global(h).detach() for h in layers_out]
        self.logits = [None if b is None else b.detach().clone() for b in logits]

    def invalidate(self) -> None:
        self.history, self.logits = None, None

    # -- one step ----------------------------------------------------------------------------
    def _in_edges(self, nodes: torch.Tensor, fanout, generator):
        """``(row, edge position, scale)`` of the in-edges a step uses for ``nodes`` (row = the
        node's index there): every in-edge (scale ``c(e)``) of a node with at most ``fanout`` of
        them (all of them with ``fanout=None``), and ``fanout`` in-edges drawn with probability
        ``p(e)`` (``c(e)/C(t)`` by default, see ``draw``; scale ``c(e)/(fanout p(e))``) for the others. The exact edges come first; the
        fourth entry is their number, the fifth the mask of the sampled nodes (None: none)."""
        start, stop = self.indptr[nodes], self.indptr[nodes + 1]
        lens = stop - start
        small = lens <= fanout if fanout is not None else torch.ones_like(lens, dtype=torch.bool)
        rows = torch.arange(len(nodes), device=nodes.device)
        # exact part: every in-edge of the small nodes
        e_lens = torch.where(small, lens, torch.zeros_like(lens))
        e_row = torch.repeat_interleave(rows, e_lens)
        first = torch.repeat_interleave(start - torch.cumsum(e_lens, 0) + e_lens, e_lens)
        e_pos = first + torch.arange(len(e_row), device=nodes.device)
        if fanout is None or bool(small.all()):
            return e_row, e_pos, self.c[e_pos], len(e_row), None
        big = ~small
        start_h, stop_h = start[big], stop[big]
        s_row = rows[big].repeat_interleave(fanout)
        u = torch.rand(len(start_h) * fanout, generator=generator, dtype=torch.float64,
                       device=generator.device if generator is not None else "cpu").to(nodes.device)
        base = torch.where(start_h > 0, self.cum[(start_h - 1).clamp(min=0)], torch.zeros_like(start_h, dtype=torch.float64))
        total = self.cum[stop_h - 1] - base  # the row's sum of c, as the running sum has it
        target = base.repeat_interleave(fanout) + u * total.repeat_interleave(fanout)
        s_pos = torch.searchsorted(self.cum, target, right=True)
        s_pos = torch.minimum(torch.maximum(s_pos, start_h.repeat_interleave(fanout)), stop_h.repeat_interleave(fanout) - 1)
        if self.w is None:  # p(e) = c(e) / C(t): every draw weighs C(t) / k
            s_scale = (self.C[nodes] / fanout)[s_row]
        else:  # p(e) = w(e) / W(t): a draw weighs c(e) W(t) / (k w(e))
            s_scale = (self.c[s_pos] * total.repeat_interleave(fanout).float()) / (fanout * self.w[s_pos])
        scale = torch.cat([self.c[e_pos], s_scale])
        return torch.cat([e_row, s_row]), torch.cat([e_pos, s_pos]), scale, len(e_row), big

    def _draw(self, nodes: torch.Tensor, fanout, generator):
        """The in-edges a step uses for ``nodes`` (global ids) as ``(row, source, relation,
        scale, n_exact, big)``: the edges' rows in ``nodes``, their sources' global ids, their
        relations' indices, their weights, how many of them (the first ones) are every in-edge
        of a node taken exactly, and the mask of the nodes whose in-edges were drawn (None:
        none). :meth:`propagate` needs only this, :meth:`node_sums` and :meth:`snapshot_rows`
        from the graph, so another store of the graph (a partitioned one) can supply them."""
        row, pos, scale, n_exact, big = self._in_edges(nodes, fanout, generator)
        return row, self.src[pos].long(), self.rel[pos].long(), scale, n_exact, big

    def node_sums(self, nodes: torch.Tensor) -> tuple:
        """``(S(t, r), C(t))`` of the global ids ``nodes``: ``(n, R)`` and ``(n,)``."""
        return self.S[nodes], self.C[nodes]

    def snapshot_rows(self, layer: int, ids: torch.Tensor) -> torch.Tensor:
        """The snapshot's layer ``layer`` (:math:`\\bar H^l`) of the global ids ``ids``."""
        return self.history[layer][ids]

    @staticmethod
    def _weights(logits, S, C, rel, heads: int, row=None):
        """``a_r(t)`` per edge ``(E, heads)`` for the edges' relations ``rel`` and targets, whose
        ``S(t, r)`` and ``C(t)`` (:meth:`node_sums`) are ``S`` and ``C`` (one row per edge, or with
        ``row`` the edges' rows in them: the factor ``C(t) / den(t)`` is then computed once per
        node), from relation logits ``(R, heads)`` (None: ones)."""
        if logits is None:
            return torch.ones(len(rel), heads, device=rel.device)
        w, f = HistoricalPropagation._factors(logits, S, C)
        return w[rel] * (f if row is None else f[row])

    @staticmethod
    def _factors(logits, S, C) -> tuple:
        """``(w, f)``: the relation factor ``exp(logits)`` ``(R, heads)`` and the node factor
        ``C(t) / Σ_r S(t, r) w_r`` ``(nodes, heads)`` of the attention ``a_r(t) = w_r f(t)``."""
        w = logits.exp()
        return w, C.unsqueeze(1) / (S @ w).clamp(min=1e-30)

    @staticmethod
    def layer_sum(h, src_idx, row, rel, scale, n_dst: int, logits, S, C, heads: int):
        r"""``Σ_e a_r(t) scale(e) h[src(e)]`` per target row ``(n_dst, d)``, differentiable in ``h``
        and ``logits`` (``None``: no attention, ``a = 1``). The attention factorises as in the
        full-graph layer: per head ``a_r(t) = w_r f(t)`` with ``w = exp(logits)`` and
        ``f(t) = C(t) / Σ_r S(t, r) w_r`` (:meth:`_factors`), so the sum is
        ``f(t) Σ_r w_r M(t, r)`` with ``M(t, r) = Σ_{e ∈ (t, r)} scale(e) h[src(e)]``: one
        :func:`edge_sum` over the edges into their distinct (target, relation) pairs with the
        constant weights ``scale``, then the learnable factors on the pairs (at most one per
        relation and target) — no weight or gradient per edge and head."""
        if logits is None:
            return edge_sum(h, row, src_idx, scale, n_dst)
        num_rel, d = S.shape[1], h.shape[1]
        pairs, pair_of_edge = unique_inverse(row * num_rel + rel, n_dst * num_rel)
        m = edge_sum(h, pair_of_edge, src_idx, scale, len(pairs))  # (pairs, d)
        p_row, p_rel = pairs // num_rel, pairs % num_rel
        w, f = HistoricalPropagation._factors(logits, S, C)  # (R, heads), (n_dst, heads)
        weighted = m.view(len(pairs), heads, d // heads) * (w[p_rel] * f[p_row]).unsqueeze(-1)
        return weighted.new_zeros(n_dst, heads, d // heads).index_add(0, p_row, weighted).reshape(n_dst, d)

    def hidden_edges(self, relation, src_local, dst_local, hide_reverse: tuple | None = None):
        """``(src, dst, rel, c)`` (global ids) of edges of ``relation`` to hide from a step's
        message passing, and with ``hide_reverse`` = the reverse relation, their reverses."""
        parts = []
        for rel, s, d in ((relation, src_local, dst_local), (hide_reverse, dst_local, src_local)):
            if rel is None:
                continue
            ri = self.etypes.index(tuple(rel))
            s, d = s.long(), d.long()
            c = self.norms[ri][0][s] * self.norms[ri][1][d]
            parts.append((self.global_ids(rel[0], s), self.global_ids(rel[2], d), torch.full_like(s, ri), c))
        return tuple(torch.cat(x) for x in zip(*parts))

    def propagate(self, targets: torch.Tensor, h0_fn, logits: list, heads: int, fanout, generator,
                  hidden=None):
        """Estimated ``[H^0_T, ..., H^L_T]`` (each ``(len(targets), d)``) for the global ids
        ``targets`` (unique), with gradients: ``h0_fn(ids)`` gives the current layer-0 rows,
        ``logits[l]`` layer ``l+1``'s current relation logits (None: no attention). Needs a
        snapshot (:meth:`refresh`). ``fanout``: in-edges drawn per node, one number for every
        layer or a list with one per layer (layer 1 first), None for every in-edge.

        ``hidden`` (:meth:`hidden_edges`, unique edges) are left out of every layer's messages,
        as full-graph training hides a step's predicted edges: their snapshot messages are
        subtracted and draws that land on them carry nothing. The normalisation (degrees,
        :math:`C`, :math:`S`) stays that of the whole graph, where full-graph training
        recomputes it without them."""
        if self.logits is None:
            raise RuntimeError("no snapshot: call refresh() before propagate()")
        num_layers = len(logits)
        frontiers, hops = [None] * (num_layers + 1), [None] * (num_layers + 1)
        frontiers[num_layers] = torch.unique(targets)
        n = self.num_nodes
        hidden_keys = torch.sort(hidden[1] * n + hidden[0]).values if hidden is not None and len(hidden[0]) else None
        if isinstance(fanout, (list, tuple)) and len(fanout) != num_layers:
            raise ValueError(f"fanout needs one entry per layer ({num_layers}), got {list(fanout)}")
        for k in range(num_layers, 0, -1):
            nodes = frontiers[k]
            row, src, rel, scale, n_exact, big = self._draw(
                nodes, fanout[k - 1] if isinstance(fanout, (list, tuple)) else fanout, generator)
            below, inverse = unique_inverse(torch.cat([nodes, src]), n)
            if hidden_keys is not None:
                key = nodes[row] * n + src
                at = torch.searchsorted(hidden_keys, key).clamp(max=len(hidden_keys) - 1)
                scale = scale.masked_fill(hidden_keys[at] == key, 0.0)
            hops[k] = (row, rel, scale, inverse[len(nodes):], n_exact, big)
            frontiers[k - 1] = below
        h = h0_fn(frontiers[0])
        outs = [h]
        for k in range(1, num_layers + 1):
            nodes, (row, rel, scale, src_idx, n_exact, big) = frontiers[k], hops[k]
            d = h.shape[1]
            dh = d // heads
            # the step's edges (sources: F_{k-1}, targets: F_k) as sparse products, so that
            # gather, weighting and sum never materialise an (edges x d) message tensor
            att = logits[k - 1] is not None or self.logits[k - 1] is not None
            S, C = self.node_sums(nodes) if att else (None, None)
            out = self.layer_sum(h, src_idx, row, rel, scale, len(nodes), logits[k - 1], S, C, heads)
            if big is not None:
                # a node whose in-edges were all taken is exact as it is; a sampled node adds the
                # snapshot's layer and subtracts its sampled edges' snapshot messages (the control
                # variate), and the snapshot messages of the step's hidden edges into it
                with torch.no_grad():
                    out_bar = self.snapshot_rows(k, nodes) * big.unsqueeze(1)
                    hist_below = self.snapshot_rows(k - 1, frontiers[k - 1])
                    old = self.layer_sum(hist_below, src_idx[n_exact:], row[n_exact:], rel[n_exact:],
                                         scale[n_exact:], len(nodes), self.logits[k - 1], S, C, heads)
                    out_bar = out_bar - old
                    if hidden is not None and len(hidden[0]):
                        h_src, h_dst, h_rel, h_c = hidden
                        at = torch.searchsorted(nodes, h_dst).clamp(max=len(nodes) - 1)
                        inside = (nodes[at] == h_dst) & big[at]
                        if inside.any():
                            a_h = (self._weights(self.logits[k - 1], S, C, h_rel[inside], heads, at[inside])
                                   * h_c[inside].unsqueeze(1))
                            old_h = a_h.unsqueeze(-1) * self.snapshot_rows(k - 1, h_src[inside]).view(-1, heads, dh)
                            out_bar = out_bar.index_add(0, at[inside], -old_h.reshape(-1, d))
                out = out + out_bar
            h = out
            outs.append(h)
        # every frontier contains the targets: their rows in each layer's output
        t = frontiers[num_layers]
        idx = torch.searchsorted(t, targets)
        result = []
        for k, x in enumerate(outs):
            rows = torch.searchsorted(frontiers[k], t)[idx]
            result.append(x[rows])
        return result, frontiers
