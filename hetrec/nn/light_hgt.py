"""HGT attention over transform-free, degree-normalised propagation (for ID embeddings)."""
import math

import torch
from dgl import function as fn
from torch import nn

from ._checks import check_features

__all__ = ["LightHGTLayer", "OUT_DEGREE", "IN_DEGREE"]

#: Node data that, when a graph given to :class:`LightHGTLayer` carries it (source nodes), is
#: used as the node's out-degree over all relations instead of the graph's own (``norm="node"``):
#: a partition's local graph or a block lacks some edges of its boundary nodes, whose degrees in
#: the whole graph are then given (:mod:`hetrec.distributed.mthgt`).
OUT_DEGREE = "out_degree"
#: The same for the in-degree of destination nodes.
IN_DEGREE = "in_degree"


class LightHGTLayer(nn.Module):
    r"""HGT's heterogeneous attention (MTHGT Eq. 5–7) steering LightGCN-style propagation.

    For an edge :math:`e = (s, r, t)` with relation :math:`r = \phi(e)`, :math:`h` heads of size
    :math:`d = \text{size}/h` and head index :math:`i`:

    .. math::

        \beta^i(e) &= K^i(s)\, W^{ATT}_{\phi(e),i}\, Q^i(t)^\top \cdot
            \frac{\mu_{\phi(e),i}}{\sqrt d}
            \qquad K^i, Q^i \text{ per-type linears of } H^{k-1} \hspace{3em} (5\text{–}6) \\
        c(e) &= \frac{1}{\sqrt{\deg(s)\,\deg(t)}} , \qquad C(t) = \sum_{e' \in N(t)} c(e') \\
        A^i(e) &= C(t)\cdot \operatorname*{Softmax}_{e' \in N(t)}
            \big(\beta^i(e') + \log c(e')\big)[e] \hspace{12em} (7') \\
        H^k[t] &= \Vert_i \sum_{e = (s, r, t)} A^i(e)\; H^{k-1}[s]^{\,i}
            \hspace{14.6em} (8'\text{–}10')

    The softmax runs over **all** incoming edges of :math:`t`, every relation together, as in
    HGT; :math:`H^{k-1}[s]^{\,i}` is head :math:`i`'s slice of the source representation.
    With all :math:`\beta = 0` the weights are exactly :math:`c(e)`, LightGCN's symmetric
    normalisation :math:`D^{-1/2} A D^{-1/2}` over the whole heterograph (``norm="node"``,
    degrees counted over every relation) or within each relation (``norm="relation"``,
    :math:`\deg_r`). The attention only *redistributes* a target's mass :math:`C(t)` over
    its edges and relations, by learned relevance.

    Deviations from HGT (Eq. 8–11), and why: there is no message linear
    (M-Linear, :math:`W^{MSG}`), no output linear (A-Linear), no non-linearity and no gated
    residual. On learned ID embeddings these per-type transforms, trained by a ranking loss,
    made every representation rank worse than the embeddings they were given (measured in
    docs/mthgt.md); without them the layer is a linear propagation whose edge weights
    HGT's attention learns. Layer combination (for example the mean of all layers, which keeps
    :math:`H^0`) is left to the model. The query linears start at zero, so a new layer
    propagates exactly as LightGCN does and learns to deviate from it.

    Use :class:`HGTLayer` for the full HGT with its transforms (rich input features).

    Parameters
    ----------
    size : int
        Representation size (input = output); divisible by ``num_heads``.
    ntypes : list[str]
        Node types (``g.ntypes``): one K and one Q linear per type.
    canonical_etypes : list[tuple[str, str, str]]
        Relations: one :math:`W^{ATT}` and one prior :math:`\mu` per relation and head.
    num_heads : int
        Number of heads :math:`h`.
    norm : str
        ``"node"`` (degrees over all relations) or ``"relation"`` (degree within the relation).
    attention : str or bool
        ``"relation"`` (the default): the logit is one learned :math:`b_{r,i}` per relation and
        head (HGT's relation prior on its own): the layer learns how much of each target's mass
        every relation carries, at the cost of the fixed propagation. ``"edge"`` (or True): the
        HGT attention above, one score per edge and head — 2.5–6× the cost of a step, and
        behind ``"relation"`` in MTHGT's measurements (docs/mthgt.md), hence not the default.
        ``"none"`` (or False): all :math:`\beta = 0`, fixed symmetric normalisation (an ablation).

    Examples
    --------
    >>> import dgl, torch
    >>> from hetrec.nn import LightHGTLayer
    >>> g = dgl.heterograph({('user', 'buys', 'item'): ([0, 1], [1, 2]),
    ...                      ('item', 'bought_by', 'user'): ([1, 2], [0, 1])})
    >>> layer = LightHGTLayer(8, g.ntypes, g.canonical_etypes, num_heads=2)
    >>> h = {t: torch.randn(g.num_nodes(t), 8) for t in g.ntypes}
    >>> {t: tuple(x.shape) for t, x in layer(g, h).items()}
    {'item': (3, 8), 'user': (2, 8)}
    """

    def __init__(self, size, ntypes, canonical_etypes, num_heads=4, norm="node", attention="relation"):
        super().__init__()
        if size % num_heads != 0:
            raise ValueError(f"size ({size}) must be divisible by num_heads ({num_heads})")
        if norm not in ("node", "relation"):
            raise ValueError(f"norm must be 'node' or 'relation', got {norm!r}")
        self.size = size
        self.num_heads = num_heads
        self.head_size = size // num_heads
        self.ntypes = list(ntypes)
        self.canonical_etypes = [tuple(r) for r in canonical_etypes]
        self._rel_index = {r: i for i, r in enumerate(self.canonical_etypes)}
        self.norm = norm
        if attention is True or attention is None:
            attention = "edge" if attention else "none"
        elif attention is False:
            attention = "none"
        if attention not in ("edge", "relation", "none"):
            raise ValueError(f"attention must be 'edge', 'relation' or 'none', got {attention!r}")
        self.attention = attention
        if attention == "relation":
            self.relation_logit = nn.Parameter(torch.empty(len(self.canonical_etypes), num_heads))
        if attention == "edge":
            self.k_linears = nn.ModuleDict({t: nn.Linear(size, size) for t in self.ntypes})
            self.q_linears = nn.ModuleDict({t: nn.Linear(size, size) for t in self.ntypes})
            num_rels, h, d = len(self.canonical_etypes), num_heads, self.head_size
            self.relation_att = nn.Parameter(torch.empty(num_rels, h, d, d))
            self.relation_pri = nn.Parameter(torch.empty(num_rels, h))
        self.reset_parameters()

    def reset_parameters(self):
        """Re-initialise every parameter (called by ``__init__``); queries and relation logits
        start at zero, so a new layer propagates exactly as LightGCN does."""
        if self.attention == "relation":
            nn.init.zeros_(self.relation_logit)
        if self.attention != "edge":
            return
        for lin in self.k_linears.values():
            lin.reset_parameters()
        for lin in self.q_linears.values():
            nn.init.zeros_(lin.weight)
            nn.init.zeros_(lin.bias)
        bound = math.sqrt(6.0 / (2 * self.head_size))
        nn.init.uniform_(self.relation_att, -bound, bound)
        nn.init.ones_(self.relation_pri)

    def _relation_id(self, rel):
        try:
            return self._rel_index[tuple(rel)]
        except KeyError:
            raise KeyError(f"relation {rel} is not among the canonical_etypes this layer was "
                           f"built with: {self.canonical_etypes}") from None

    def _log_norm(self, g):
        """``log c(e)`` per relation: ``log deg(s)^-1/2 + log deg(t)^-1/2`` (degrees >= 1)."""
        out = {}
        for r, (s_norm, d_norm) in self._degree_norms(g).items():
            s, d = g.edges(etype=r)
            out[r] = s_norm[s.long()].log() + d_norm[d.long()].log()
        return out

    def forward(self, g, h, return_attention=False):
        """Propagate ``h`` one step.

        Parameters
        ----------
        g : DGLGraph
            A heterograph, a subgraph or a block; its relations must be among
            ``canonical_etypes``. Degrees are those of ``g`` itself, unless its source nodes
            carry :data:`OUT_DEGREE` and its destination nodes :data:`IN_DEGREE` (degrees over
            all relations in a larger graph, ``norm="node"``).
        h : dict[str, Tensor]
            ``(num_src_nodes(t), size)`` per source node type.
        return_attention : bool
            Also return :math:`A(e)`, a dict by relation of ``(num_edges, num_heads)`` tensors.

        Returns
        -------
        dict[str, Tensor]
            ``(num_dst_nodes(t), size)`` per destination type; zeros for nodes with no in-edge.
        """
        nh, d = self.num_heads, self.head_size
        for t in g.srctypes:
            if g.num_src_nodes(t) > 0:
                if t not in h:
                    raise ValueError(f"LightHGTLayer: node type {t!r}: no input features "
                                     f"(given: {', '.join(map(repr, sorted(h))) or 'none'})")
                check_features("LightHGTLayer", t, h[t], self.size, g.num_src_nodes(t))
        rels = [r for r in g.canonical_etypes if g.num_edges(r) > 0]
        log_c = self._log_norm(g) if self.attention == "edge" or return_attention else None
        like = next(iter(h.values()))
        with g.local_scope():
            for t in g.srctypes:
                if g.num_src_nodes(t) > 0:
                    g.srcnodes[t].data["v"] = h[t].view(-1, nh, d)
            logits = {}
            if self.attention == "edge":
                h_dst = {t: h[t][: g.num_dst_nodes(t)] for t in {r[2] for r in rels}}
                for t in {r[0] for r in rels}:
                    g.srcnodes[t].data["k"] = self.k_linears[t](h[t]).view(-1, nh, d)
                queries = {t: self.q_linears[t](x).view(-1, nh, d) for t, x in h_dst.items()}
                for r in rels:
                    ri = self._relation_id(r)
                    # K W Q^T = K (Q W^T)^T: one d x d product per target, not per edge
                    w = self.relation_att[ri] * (self.relation_pri[ri] / math.sqrt(d)).view(nh, 1, 1)
                    g.dstnodes[r[2]].data[f"q{ri}"] = torch.einsum("nhe,hde->nhd", queries[r[2]], w)
                    g.apply_edges(fn.u_dot_v("k", f"q{ri}", "beta"), etype=r)
                    logits[r] = g.edges[r].data["beta"].squeeze(-1) + log_c[r].unsqueeze(-1)
            if self.attention == "edge":
                weights = self._attend(g, rels, logits, log_c, return_attention)
            else:
                scale = self._propagate_fixed(g, rels, h)
                weights = None
                if return_attention:
                    weights = {}
                    for r in rels:
                        w = log_c[r].exp().view(-1, 1, 1).expand(-1, nh, 1)
                        if scale is not None:  # c(e) exp(b_r) C(t) / den(t)
                            dst = g.edges(etype=r)[1].long()
                            w = w * scale[r][dst].unsqueeze(-1)
                        weights[r] = w
            out = {}
            for t in g.dsttypes:
                n = g.num_dst_nodes(t)
                data = g.dstnodes[t].data
                out[t] = data["out"].reshape(n, -1) if "out" in data else like.new_zeros(n, self.size)
        if return_attention:
            return out, {r: w.view(-1, nh) for r, w in weights.items()}
        return out

    def _propagate_fixed(self, g, rels, h):
        r"""Weights that factor per node and relation, computed without per-edge weights.

        ``attention="none"``: :math:`c(e) = \deg(s)^{-1/2} \deg(t)^{-1/2}`: scale the sources,
        sum with ``copy_u`` and scale the targets, as DGL's ``GraphConv(norm="both")`` does
        (several times faster than ``u_mul_e``). ``attention="relation"``: the logit of Eq. 7'
        is one learned :math:`b_{r,i}` per relation and head, so the softmax-with-mass weight
        :math:`c(e)\, e^{b_{r,i}}\, C(t) / \sum_{e'} c(e') e^{b_{r',i}}` is the same factorisation
        times a per-(target, relation, head) factor. Returns that factor by relation, or None.
        """
        nh, d = self.num_heads, self.head_size
        per_rel = {}
        norms = self._degree_norms(g)
        for r in rels:
            s_norm, d_norm = norms[r]
            key = f"vs{self._relation_id(r)}" if self.norm == "relation" else "vs"
            if key not in g.srcnodes[r[0]].data:
                g.srcnodes[r[0]].data[key] = h[r[0]] * s_norm.unsqueeze(-1)
            fn_key = f"o{self._relation_id(r)}"
            g.update_all(fn.copy_u(key, "m"), fn.sum("m", fn_key), etype=r)
            part = g.dstnodes[r[2]].data.pop(fn_key) * d_norm.unsqueeze(-1)
            if self.attention == "relation":
                # S(t, r) = sum of c(e) over t's in-edges of r
                g.srcnodes[r[0]].data["sn"] = s_norm
                g.update_all(fn.copy_u("sn", "m"), fn.sum("m", "S"), etype=r)
                per_rel[r] = (part, g.dstnodes[r[2]].data.pop("S") * d_norm)
                continue
            data = g.dstnodes[r[2]].data
            data["out"] = data["out"] + part if "out" in data else part
        if self.attention != "relation":
            return None
        mass, den, acc = {}, {}, {}
        for r, (part, s_tr) in per_rel.items():
            w = self.relation_logit[self._relation_id(r)].exp()  # (h,)
            t = r[2]
            mass[t] = mass.get(t, 0) + s_tr
            den[t] = den.get(t, 0) + s_tr.unsqueeze(-1) * w
            weighted = part.view(-1, nh, d) * w.view(1, nh, 1)
            acc[t] = acc[t] + weighted if t in acc else weighted
        scale = {}
        for t in acc:
            f = mass[t].unsqueeze(-1) / den[t].clamp(min=1e-30)  # (n, h); 0 without in-edges
            g.dstnodes[t].data["out"] = (acc[t] * f.unsqueeze(-1)).reshape(-1, nh * d)
            scale[t] = f
        w_rel = {r: self.relation_logit[self._relation_id(r)].exp() for r in per_rel}
        return {r: scale[r[2]] * w_rel[r] for r in per_rel}

    def _degree_norms(self, g):
        """``{relation: (deg(s)^-1/2 per source node, deg(t)^-1/2 per target node)}`` for the
        relations of ``g`` with edges; degrees over all relations (``norm="node"``) or within
        each (``norm="relation"``), at least 1."""
        rels = [r for r in g.canonical_etypes if g.num_edges(r) > 0]
        given = any(OUT_DEGREE in g.srcnodes[t].data for t in g.srctypes) or \
            any(IN_DEGREE in g.dstnodes[t].data for t in g.dsttypes)
        if given and self.norm != "node":
            raise ValueError(f"given degrees ({OUT_DEGREE!r} / {IN_DEGREE!r} node data) are totals over all "
                             f"relations: they serve norm='node' only, not norm={self.norm!r}")
        out_deg = {r: g.out_degrees(etype=r).float() for r in rels}
        in_deg = {r: g.in_degrees(etype=r).float() for r in rels}
        if self.norm == "node":
            src_tot, dst_tot = {}, {}
            for r in rels:
                src_tot[r[0]] = src_tot.get(r[0], 0) + out_deg[r]
                dst_tot[r[2]] = dst_tot.get(r[2], 0) + in_deg[r]
            for t in src_tot:  # degrees in the whole graph, where the caller knows them
                if OUT_DEGREE in g.srcnodes[t].data:
                    src_tot[t] = g.srcnodes[t].data[OUT_DEGREE].float()
            for t in dst_tot:
                if IN_DEGREE in g.dstnodes[t].data:
                    dst_tot[t] = g.dstnodes[t].data[IN_DEGREE].float()
            out_deg = {r: src_tot[r[0]] for r in rels}
            in_deg = {r: dst_tot[r[2]] for r in rels}
        return {r: (out_deg[r].clamp(min=1).pow(-0.5), in_deg[r].clamp(min=1).pow(-0.5)) for r in rels}

    @staticmethod
    def _attend(g, rels, logits, log_c, return_attention):
        """Eq. 7'–10' in one message pass: ``out(t) = C(t) · Σ_e exp(l_e) v_s / Σ_e exp(l_e)``
        with ``l_e = β_e + log c(e)``; the denominator rides along as an extra column of ones.

        For stability the logits are shifted by each target's maximum over its in-edges of all
        relations (a constant per target and head, so no gradient is needed through it).
        """
        shift = {}
        for r in rels:
            dst = g.edges(etype=r)[1].long()
            cur = shift.get(r[2])
            if cur is None:
                cur = logits[r].new_full((g.num_dst_nodes(r[2]), logits[r].shape[1]), -torch.inf)
            idx = dst.unsqueeze(1).expand_as(logits[r])
            shift[r[2]] = cur.scatter_reduce(0, idx, logits[r].detach(), "amax")
        for t in {r[0] for r in rels}:
            v = g.srcnodes[t].data["v"]
            g.srcnodes[t].data["v1"] = torch.cat([v, v.new_ones(*v.shape[:2], 1)], -1)
        for r in rels:
            dst = g.edges(etype=r)[1].long()
            g.edges[r].data["e"] = (logits[r] - shift[r[2]][dst]).exp().unsqueeze(-1)
            g.edges[r].data["c"] = log_c[r].exp().view(-1, 1, 1)
        g.multi_update_all({r: (fn.u_mul_e("v1", "e", "m"), fn.sum("m", "acc")) for r in rels}, "sum")
        g.multi_update_all({r: (fn.copy_e("c", "m"), fn.sum("m", "C")) for r in rels}, "sum")
        for t in {r[2] for r in rels}:
            data = g.dstnodes[t].data
            acc = data.pop("acc")
            scale = data["C"] / acc[..., -1:].clamp(min=1e-30)  # 0 only without in-edges
            data["out"] = acc[..., :-1] * scale
            data["scale"] = scale
        if not return_attention:
            return None
        weights = {}
        for r in rels:
            g.apply_edges(fn.e_mul_v("e", "scale", "a"), etype=r)
            weights[r] = g.edges[r].data["a"]
        return weights

    def extra_repr(self):
        return (f"size={self.size}, num_heads={self.num_heads}, ntypes={len(self.ntypes)}, "
                f"relations={len(self.canonical_etypes)}, norm={self.norm!r}, attention={self.attention}")
