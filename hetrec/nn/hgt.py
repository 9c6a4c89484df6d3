"""Heterogeneous Graph Transformer layer (HGT) with a per-type gated residual."""
import math

import torch
import torch.nn.functional as F
from dgl import function as fn
from torch import nn

from ._checks import check_features

__all__ = ["HGTLayer"]


class HGTLayer(nn.Module):
    r"""One HGT layer (Hu et al., WWW 2020) as used by MTHGT, Eq. (4)–(11).

    For an edge :math:`e = (s, r, t)` of relation :math:`r = \phi(e)` from a source
    node :math:`s` of type :math:`\tau(s)` to a target :math:`t`, with :math:`h` heads of
    size :math:`d = \text{out\_size} / h` and head index :math:`i`:

    .. math::

        K^i(s) &= \text{K-Linear}^i_{\tau(s)}\big(H^{k-1}[s]\big), \qquad
        Q^i(t) = \text{Q-Linear}^i_{\tau(t)}\big(H^{k-1}[t]\big) \\
        \text{ATT-head}^i(s, e, t) &= \big(K^i(s)\, W^{ATT}_{\phi(e), i}\, Q^i(t)^\top\big)
            \cdot \frac{\mu_{\langle\tau(s), \phi(e), \tau(t)\rangle, i}}{\sqrt{d}}
            \hspace{6em} (5\text{–}6) \\
        \text{Attention}(s, e, t) &= \operatorname*{Softmax}_{\forall s' \in N(t)}
            \big(\Vert_{i} \text{ATT-head}^i(s', e', t)\big) \hspace{9em} (7) \\
        \text{MSG-head}^i(s, e, t) &= \text{M-Linear}^i_{\tau(s)}\big(H^{k-1}[s]\big)\,
            W^{MSG}_{\phi(e), i}, \qquad
        \text{Message}(s, e, t) = \Vert_{i} \text{MSG-head}^i(s, e, t) \hspace{2em} (8\text{–}9) \\
        \tilde H^k[t] &= \bigoplus_{\forall s \in N(t)}
            \text{Attention}(s, e, t) \cdot \text{Message}(s, e, t) \hspace{10.5em} (10) \\
        H^k[t] &= \alpha_{\tau(t)}\, \sigma\big(\text{A-Linear}_{\tau(t)}(\tilde H^k[t])\big)
            + \big(1 - \alpha_{\tau(t)}\big)\, P_{\tau(t)} H^{k-1}[t] \hspace{4.4em} (11, 4)

    The softmax in (7) runs over **all** incoming edges of :math:`t`, across every relation
    together (one heterogeneous :func:`dgl.nn.functional.edge_softmax`), not one softmax
    per relation; :math:`\oplus` is a sum. :math:`\alpha_\tau = \text{sigmoid}(a_\tau)` with
    a learnable :math:`a_\tau` per node type, :math:`\sigma` is ``activation`` (GELU by
    default; dropout is applied to :math:`\sigma(\cdot)`), and :math:`P_\tau` is a per-type
    bias-free linear projection when ``in_size != out_size`` and the identity otherwise.

    A node that receives no message in the batch (zero in-degree, or a node type with no
    incoming relation) has :math:`\tilde H^k[t] = 0` and keeps a representation through the
    residual path: :math:`\alpha\,\sigma(b_{\tau}) + (1-\alpha) P_\tau H^{k-1}[t]`, where
    :math:`b_\tau` is the A-Linear bias. Its output is never dropped.

    Implementation note: since everything before the softmax and after the aggregation is
    linear, :math:`W^{ATT}` (with :math:`\mu/\sqrt d`) is folded into the query of the target,
    :math:`K W Q^\top = K (Q W^\top)^\top`, and :math:`W^{MSG}` is applied after the
    per-relation sum, :math:`\sum_e a_e V_s W = (\sum_e a_e V_s) W`. Both transforms therefore
    cost one (h, d, d) product per *destination node and relation*, and the per-edge work is a
    dot product and a weighted sum (DGL built-ins), whatever the number of edges.

    Parameters
    ----------
    in_size : int
        Input feature size :math:`|H^{k-1}|`.
    out_size : int
        Output feature size; must be divisible by ``num_heads``.
    ntypes : list[str]
        Node types (``g.ntypes``); one set of K/Q/M/A linears, α, (P) per type.
    canonical_etypes : list[tuple[str, str, str]]
        Relations (``g.canonical_etypes``); one :math:`W^{ATT}`, :math:`W^{MSG}`, :math:`\mu`
        per relation. The graph passed to :meth:`forward` may only use these relations.
    num_heads : int
        Number of heads :math:`h`.
    dropout : float
        Dropout on :math:`\sigma(\text{A-Linear}(\tilde H))` before the residual.
    use_norm : bool
        Apply a per-type ``LayerNorm`` to the output.
    activation : callable
        :math:`\sigma` of Eq. (4). Default :func:`torch.nn.functional.gelu`.

    Examples
    --------
    >>> import dgl, torch
    >>> from hetrec.nn import HGTLayer
    >>> g = dgl.heterograph({('user', 'buys', 'item'): ([0, 1], [1, 2]),
    ...                      ('item', 'bought_by', 'user'): ([1, 2], [0, 1])})
    >>> layer = HGTLayer(8, 16, g.ntypes, g.canonical_etypes, num_heads=2)
    >>> h = {t: torch.randn(g.num_nodes(t), 8) for t in g.ntypes}
    >>> {t: tuple(x.shape) for t, x in layer(g, h).items()}
    {'item': (3, 16), 'user': (2, 16)}
    """

    def __init__(
        self,
        in_size,
        out_size,
        ntypes,
        canonical_etypes,
        num_heads=4,
        dropout=0.2,
        use_norm=False,
        activation=F.gelu,
    ):
        super().__init__()
        if out_size % num_heads != 0:
            raise ValueError(
                f"out_size ({out_size}) must be divisible by num_heads ({num_heads})"
            )
        self.in_size = in_size
        self.out_size = out_size
        self.num_heads = num_heads
        self.head_size = out_size // num_heads
        self.ntypes = list(ntypes)
        self.canonical_etypes = [tuple(r) for r in canonical_etypes]
        self._rel_index = {r: i for i, r in enumerate(self.canonical_etypes)}
        self.activation = activation
        self.use_norm = use_norm

        def per_type(make):
            return nn.ModuleDict({t: make() for t in self.ntypes})

        self.k_linears = per_type(lambda: nn.Linear(in_size, out_size))
        self.q_linears = per_type(lambda: nn.Linear(in_size, out_size))
        self.m_linears = per_type(lambda: nn.Linear(in_size, out_size))
        self.a_linears = per_type(lambda: nn.Linear(out_size, out_size))
        self.residual_projs = (
            per_type(lambda: nn.Linear(in_size, out_size, bias=False))
            if in_size != out_size
            else None
        )
        self.norms = per_type(lambda: nn.LayerNorm(out_size)) if use_norm else None

        num_rels, h, d = len(self.canonical_etypes), num_heads, self.head_size
        self.relation_att = nn.Parameter(torch.empty(num_rels, h, d, d))
        self.relation_msg = nn.Parameter(torch.empty(num_rels, h, d, d))
        self.relation_pri = nn.Parameter(torch.empty(num_rels, h))
        # alpha_tau = sigmoid(skip[tau]) keeps the mixing weight in (0, 1)
        self.skip = nn.Parameter(torch.empty(len(self.ntypes)))
        self.dropout = nn.Dropout(dropout)
        self.reset_parameters()

    def reset_parameters(self):
        """Re-initialise every parameter (called by ``__init__``)."""
        for linears in (self.k_linears, self.q_linears, self.m_linears, self.a_linears):
            for lin in linears.values():
                lin.reset_parameters()
        if self.residual_projs is not None:
            for lin in self.residual_projs.values():
                lin.reset_parameters()
        if self.norms is not None:
            for norm in self.norms.values():
                norm.reset_parameters()
        for w in (self.relation_att, self.relation_msg):
            # one xavier-initialised d x d matrix per relation and head
            bound = math.sqrt(6.0 / (2 * self.head_size))
            nn.init.uniform_(w, -bound, bound)
        nn.init.ones_(self.relation_pri)
        nn.init.zeros_(self.skip)  # alpha = 0.5 at start

    def forward(self, g, h):
        """Compute :math:`H^k` from :math:`H^{k-1}`.

        Parameters
        ----------
        g : DGLGraph
            A heterograph, a subgraph of one, or a block (message-flow graph). Its relations
            must be among ``canonical_etypes``.
        h : dict[str, Tensor]
            :math:`H^{k-1}` by node type, shape ``(num_src_nodes(t), in_size)``, for every
            source node type of ``g``. For a block the destination features are the first
            ``g.num_dst_nodes(t)`` rows, as produced by :func:`dgl.to_block`.

        Returns
        -------
        dict[str, Tensor]
            :math:`H^k` for every destination node type of ``g`` (``(num_dst_nodes(t),
            out_size)``), including types that receive no message.
        """
        h_src, h_dst = self._inputs(g, h)
        agg, _ = self._aggregate(g, h_src, h_dst)
        out = {}
        for t, x_dst in h_dst.items():
            idx = self.ntypes.index(t)
            alpha = torch.sigmoid(self.skip[idx])
            update = self.dropout(self.activation(self.a_linears[t](agg[t])))
            prev = self.residual_projs[t](x_dst) if self.residual_projs is not None else x_dst
            y = alpha * update + (1 - alpha) * prev
            out[t] = self.norms[t](y) if self.norms is not None else y
        return out

    def aggregate(self, g, h, return_attention=False):
        r"""Eq. (5)–(10): the attention-weighted sum :math:`\tilde H^k` by destination type.

        Returns a dict of ``(num_dst_nodes(t), out_size)`` tensors (zeros for nodes that
        receive no message) and, with ``return_attention=True``, also the attention by
        relation, a dict of ``(num_edges(r), num_heads)`` tensors.
        """
        agg, attention = self._aggregate(g, *self._inputs(g, h))
        return (agg, attention) if return_attention else agg

    def _aggregate(self, g, h_src, h_dst):
        nh, d = self.num_heads, self.head_size
        with g.local_scope():
            for t, x in h_src.items():
                g.srcnodes[t].data["k"] = self.k_linears[t](x).view(-1, nh, d)
                g.srcnodes[t].data["v"] = self.m_linears[t](x).view(-1, nh, d)
            receiving = {rel[2] for rel in g.canonical_etypes}
            queries = {
                t: self.q_linears[t](h_dst[t]).view(-1, nh, d) for t in receiving
            }

            scores = {}
            for rel in g.canonical_etypes:
                ri = self._relation_id(rel)
                dst_type = rel[2]
                # K W Q^T = K (Q W^T)^T: the relation transform goes to the target side,
                # and so do mu / sqrt(d) (one d x d product per target, not per edge)
                w_att = self.relation_att[ri] * (
                    self.relation_pri[ri] / math.sqrt(d)
                ).view(nh, 1, 1)
                g.dstnodes[dst_type].data[f"q{ri}"] = torch.einsum(
                    "nhe,hde->nhd", queries[dst_type], w_att
                )
                g.apply_edges(fn.u_dot_v("k", f"q{ri}", "score"), etype=rel)
                scores[rel] = g.edges[rel].data["score"]

            attention = self._softmax_over_relations(g, scores)

            agg = {t: x.new_zeros(x.shape[0], nh, d) for t, x in h_dst.items()}
            for rel in g.canonical_etypes:
                att = attention[rel]
                ri = self._relation_id(rel)
                g.edges[rel].data["a"] = att
                g.update_all(fn.u_mul_e("v", "a", "m"), fn.sum("m", "s"), etype=rel)
                summed = g.dstnodes[rel[2]].data.pop("s")
                # sum_e a_e V W^MSG = (sum_e a_e V) W^MSG, per relation and head
                agg[rel[2]] = agg[rel[2]] + torch.einsum(
                    "nhd,hde->nhe", summed, self.relation_msg[ri]
                )
            agg = {t: x.reshape(-1, nh * d) for t, x in agg.items()}
            return agg, {rel: a.squeeze(-1) for rel, a in attention.items()}

    @staticmethod
    def _softmax_over_relations(g, scores):
        """Eq. 7: softmax of each target over its incoming edges of all relations together.

        Same result as :func:`dgl.nn.functional.edge_softmax` on the heterograph (which
        crashes on blocks in DGL 2.1), written with built-ins that work on graphs and
        blocks alike. The per-target maximum is a constant shift for numerical stability
        and needs no gradient.
        """
        with g.local_scope():
            shift = {}
            for rel, s in scores.items():
                g.edges[rel].data["s"] = s
                if g.num_edges(rel) == 0:
                    continue
                g.edges[rel].data["s_const"] = s.detach()
                g.update_all(fn.copy_e("s_const", "m"), fn.max("m", "smax"), etype=rel)
                # zero in-degree gives 0 from fn.max; it must not take part in the maximum
                smax = g.dstnodes[rel[2]].data.pop("smax")
                no_edge = (g.in_degrees(etype=rel) == 0).view(-1, *([1] * (smax.dim() - 1)))
                smax = smax.masked_fill(no_edge, float("-inf"))
                shift[rel[2]] = smax if rel[2] not in shift else torch.maximum(shift[rel[2]], smax)
            for t, smax in shift.items():
                g.dstnodes[t].data["smax"] = smax.masked_fill(torch.isinf(smax), 0.0)
            live = [rel for rel in scores if g.num_edges(rel) > 0]
            for rel in live:
                g.apply_edges(fn.e_sub_v("s", "smax", "shifted"), etype=rel)
                g.edges[rel].data["exp"] = torch.exp(g.edges[rel].data["shifted"])
            g.multi_update_all(
                {rel: (fn.copy_e("exp", "m"), fn.sum("m", "denom")) for rel in live}, "sum"
            )
            attention = {rel: s.new_zeros(s.shape) for rel, s in scores.items()}
            for rel in live:
                g.apply_edges(fn.e_div_v("exp", "denom", "a"), etype=rel)
                attention[rel] = g.edges[rel].data["a"]
            return attention

    def _relation_id(self, rel):
        try:
            return self._rel_index[tuple(rel)]
        except KeyError:
            raise KeyError(
                f"relation {rel} is not among the canonical_etypes this layer was built "
                f"with: {self.canonical_etypes}"
            ) from None

    def _inputs(self, g, h):
        """H^{k-1} of the source and of the destination nodes by type.

        Destination features are the first rows of the source features for a block; a type
        absent from ``h`` is accepted only if ``g`` has no node of that type.
        """
        if not g.is_block:
            # full graph or subgraph; a uni-bipartite one has distinct src and dst types
            missing = [t for t in g.ntypes if t not in h and g.num_nodes(t) > 0]
            if missing:
                raise KeyError(f"no input features for node type(s) {missing}")
            for t in g.ntypes:
                if t in h and g.num_nodes(t) > 0:
                    check_features("HGTLayer", t, h[t], self.in_size, g.num_nodes(t))
            like = next(iter(h.values()))
            full = {t: h[t] if t in h else like.new_zeros(0, self.in_size) for t in g.ntypes}
            return ({t: full[t] for t in g.srctypes}, {t: full[t] for t in g.dsttypes})
        missing = [t for t in g.srctypes if t not in h and g.num_src_nodes(t) > 0]
        if missing:
            raise KeyError(f"no input features for node type(s) {missing}")
        for t in g.srctypes:
            if t in h and g.num_src_nodes(t) > 0:
                check_features("HGTLayer", t, h[t], self.in_size, g.num_src_nodes(t))
        like = next(iter(h.values()))
        h_src = {
            t: h[t] if t in h else like.new_zeros(0, self.in_size) for t in g.srctypes
        }
        h_dst = {
            t: h_src.get(t, like.new_zeros(0, self.in_size))[: g.num_dst_nodes(t)]
            for t in g.dsttypes
        }
        return h_src, h_dst

    def extra_repr(self):
        return (
            f"in_size={self.in_size}, out_size={self.out_size}, num_heads={self.num_heads}, "
            f"ntypes={len(self.ntypes)}, relations={len(self.canonical_etypes)}, "
            f"use_norm={self.use_norm}"
        )
