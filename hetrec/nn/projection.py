"""Node-type projection: per-type ID embeddings and/or features into one hidden space."""
import dgl
import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_features

__all__ = ["NodeTypeProjection"]


class NodeTypeProjection(nn.Module):
    r"""Eq. (3) of MTHGT: map every node type into a common hidden space.

    .. math::

        H^0[v] = \sigma\big(W_{\tau(v)}\, x_v + b_{\tau(v)}\big), \qquad
        x_v = e_v \,\Vert\, f_v

    where :math:`e_v` is a learned ID embedding of node :math:`v` (for types listed in
    ``num_nodes``), :math:`f_v` its given input features (for types listed in ``in_feats``),
    :math:`\Vert` concatenation (a type may have either or both), :math:`W_\tau, b_\tau` a
    per-type linear map and :math:`\sigma` the ``activation``.

    ID embeddings are indexed by node IDs of the full graph the table was sized for, taken
    from ``node_ids`` if given, else ``g.srcnodes[t].data[dgl.NID]`` (set by
    :func:`dgl.node_subgraph` and friends), else ``arange(num_src_nodes(t))`` (``g`` is the
    full graph). Note that a block made by :func:`dgl.to_block` from a *subgraph* stores
    subgraph IDs in ``dgl.NID``; map them to full-graph IDs and pass them as ``node_ids``.

    Parameters
    ----------
    ntypes : list[str]
        Node types to project.
    num_nodes : dict[str, int] or None
        Number of nodes per type in the full graph, for types that get an ID embedding.
    in_feats : dict[str, int] or None
        Input feature size per type, for types that have given features.
    out_size : int
        Common hidden size.
    activation : callable or None
        :math:`\sigma`; default :func:`torch.nn.functional.gelu`, ``None`` for identity.
    embed_size : int or None
        Size of the ID embeddings; default ``out_size``.
    feat_name : str
        Node-data field read when :meth:`forward` gets no ``feats`` for a featured type.
    sparse : bool
        Give the ID embeddings sparse gradients (``nn.Embedding(..., sparse=True)``): a step
        then costs the rows it uses, not the whole table. Needs an optimizer that takes sparse
        gradients (:class:`torch.optim.SparseAdam`; hetrec's trainer picks it by itself,
        :func:`hetrec.train.optim.make_optimizer`).

    Examples
    --------
    >>> import dgl, torch
    >>> from hetrec.nn import NodeTypeProjection
    >>> g = dgl.heterograph({('user', 'buys', 'item'): ([0, 1], [1, 2])})
    >>> proj = NodeTypeProjection(g.ntypes, {'user': 2, 'item': 3}, {'item': 5}, 16)
    >>> h = proj(g, {'item': torch.randn(3, 5)})
    >>> {t: tuple(x.shape) for t, x in h.items()}
    {'item': (3, 16), 'user': (2, 16)}
    """

    def __init__(
        self,
        ntypes,
        num_nodes,
        in_feats,
        out_size,
        activation=F.gelu,
        embed_size=None,
        feat_name="feat",
        sparse=False,
    ):
        super().__init__()
        num_nodes = dict(num_nodes or {})
        in_feats = dict(in_feats or {})
        self.ntypes = list(ntypes)
        unknown = (set(num_nodes) | set(in_feats)) - set(self.ntypes)
        if unknown:
            raise ValueError(f"num_nodes/in_feats name unknown node types {sorted(unknown)}")
        bare = [t for t in self.ntypes if t not in num_nodes and t not in in_feats]
        if bare:
            raise ValueError(
                f"node types {bare} have neither an ID embedding (num_nodes) nor features (in_feats)"
            )
        self.out_size = out_size
        self.embed_size = embed_size or out_size
        self.activation = activation
        self.feat_name = feat_name
        self.in_feats = in_feats
        self.embeddings = nn.ModuleDict(
            {t: nn.Embedding(n, self.embed_size, sparse=sparse) for t, n in num_nodes.items()}
        )
        self.linears = nn.ModuleDict(
            {
                t: nn.Linear(
                    (self.embed_size if t in num_nodes else 0) + in_feats.get(t, 0), out_size
                )
                for t in self.ntypes
            }
        )
        self.reset_parameters()

    def reset_parameters(self):
        """Re-initialise every parameter (called by ``__init__``)."""
        for emb in self.embeddings.values():
            nn.init.xavier_uniform_(emb.weight)
        for lin in self.linears.values():
            lin.reset_parameters()

    def forward(self, g, feats=None, node_ids=None):
        """Return :math:`H^0` for the (source) nodes of ``g``.

        Parameters
        ----------
        g : DGLGraph
            The full graph, a subgraph carrying ``dgl.NID``, or a block (source nodes).
        feats : dict[str, Tensor] or None
            Input features of the (source) nodes by type, for the types in ``in_feats``;
            a type missing here is read from ``g.srcnodes[t].data[feat_name]``.
        node_ids : dict[str, Tensor] or None
            Full-graph IDs of the (source) nodes by type, overriding ``dgl.NID``.

        Returns
        -------
        dict[str, Tensor]
            ``(num_src_nodes(t), out_size)`` per node type of ``g`` known to this module.
        """
        feats = feats or {}
        node_ids = node_ids or {}
        out = {}
        # a uni-bipartite graph has distinct src/dst types even when it is not a block
        if g.is_block:
            ntypes, nodes, count = g.srctypes, g.srcnodes, g.num_src_nodes
        else:
            ntypes, nodes, count = g.ntypes, g.nodes, g.num_nodes
        for t in ntypes:
            if t not in self.linears:
                continue
            parts = []
            if t in self.embeddings:
                data = nodes[t].data
                if t in node_ids:
                    ids = node_ids[t]
                elif dgl.NID in data:
                    ids = data[dgl.NID]
                else:
                    ids = torch.arange(count(t), device=g.device)
                parts.append(self.embeddings[t](ids))
            if t in self.in_feats:
                x = feats[t] if t in feats else nodes[t].data[self.feat_name]
                check_features("NodeTypeProjection", t, x, self.in_feats[t], count(t))
                parts.append(x.to(self.linears[t].weight.dtype))
            x = parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)
            y = self.linears[t](x)
            out[t] = self.activation(y) if self.activation is not None else y
        return out

    def extra_repr(self):
        return (
            f"out_size={self.out_size}, embedded={sorted(self.embeddings)}, "
            f"featured={sorted(self.in_feats)}"
        )
