r"""Ranking losses shared by every hetrec model (in the spirit of RecBole's ``model/loss.py``).

For a positive score :math:`s^+` and :math:`k` negative scores :math:`s^-_1..s^-_k` of the same
user:

.. math::

    \text{BPR} &= \frac1k \sum_{j} \ln\big(1 + e^{\,s^-_j - s^+}\big)
        \qquad (\text{Rendle et al. 2009; } k = 1 \text{ is the paper's form}) \\
    \text{sampled softmax} &= -\log \frac{e^{s^+/T}}{e^{s^+/T} + \sum_j e^{s^-_j/T}} \\
    \text{full softmax} &= -\log \frac{e^{s_{ui}/T}}{\sum_{j \in I} e^{s_{uj}/T}} \\
    \text{iALS} &= (s_{ui} - 1)^2 + \frac{\alpha}{|I_u|} \sum_{j \in I} s_{uj}^2
        = (s_{ui} - 1)^2 + \frac{\alpha}{|I_u|}\, e_u^\top \Big(\sum_{j \in I} e_j e_j^\top\Big) e_u

all averaged over the positives. The iALS objective (``"ials"``; Hu et al., ICDM 2008, in the
form of Rendle et al., "Revisiting the Performance of iALS on Item Recommendation Benchmarks",
RecSys 2022) is a squared loss: 1 on every training pair and α times the squared score of every
item, each user's part weighted by :math:`1/|I_u|` (its number of training items) so that an
epoch, which visits each training pair once, counts every user's all-item term exactly once.
The all-item sum costs one d x d Gramian of the item table per batch, not a score matrix.

The full softmax (``"full-softmax"``) scores the user against
every item, so it needs no negatives; it costs one ``(B, |I|)`` score matrix per batch (ML-1M:
8,192 x 3,883 floats, 127 MB), affordable for catalogues of up to some ten thousand items.

With uniform negatives the sampled softmax is a biased
estimate of the full softmax over all items; uniform sampling needs no log-Q correction
(every item has the same proposal probability, a constant that cancels).
"""
import dgl
import torch
import torch.nn.functional as F

from .sparse import coo_to_csr, csr_tensor

__all__ = ["LOSSES", "bpr_loss", "dot_scores", "full_softmax_loss", "ials_loss", "ials_user_weights", "info_nce", "ranking_loss",
           "sampled_softmax_loss", "squared_norm_sum"]


def bpr_loss(pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """Mean of ``softplus(neg − pos)`` over all pairs; ``neg`` is ``(B,)`` or ``(B, k)``."""
    if pos.numel() == 0:  # an empty shard (a data-parallel rank's part of a short last batch)
        return (pos.sum() + neg.sum()) * 0.0
    neg = neg.reshape(pos.numel(), -1)
    return F.softplus(neg - pos.reshape(-1, 1)).mean()


def sampled_softmax_loss(pos: torch.Tensor, neg: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Mean over positives of ``−log softmax([pos, neg_1..neg_k] / temperature)[0]``."""
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    if pos.numel() == 0:  # an empty shard (a data-parallel rank's part of a short last batch)
        return (pos.sum() + neg.sum()) * 0.0
    logits = torch.cat([pos.reshape(-1, 1), neg.reshape(pos.numel(), -1)], 1) / temperature
    return (torch.logsumexp(logits, 1) - logits[:, 0]).mean()


def full_softmax_loss(queries: torch.Tensor, table: torch.Tensor, pos_index: torch.Tensor,
                      temperature: float = 1.0) -> torch.Tensor:
    """Mean over the pairs of ``−log softmax(queries @ table.T / temperature)[pos_index]``: the
    cross-entropy of each query's positive against every row of ``table``."""
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    if queries.shape[0] == 0:  # an empty shard
        return (queries.sum() + table.sum()) * 0.0
    return F.cross_entropy(queries @ table.T / temperature, pos_index)


def ials_loss(queries: torch.Tensor, table: torch.Tensor, pos_index: torch.Tensor, alpha: float,
              query_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over the pairs of ``(q · table[pos] − 1)² + alpha · w · Σ_j (q · table[j])²``: the
    iALS objective of each query (a user) with its positive, the all-item term as ``qᵀ G q`` with
    ``G = tableᵀ table``. ``query_weight`` (``(B,)``; w) is 1 / the user's number of training
    items in the models' use (module docstring); None weighs every pair's all-item term 1."""
    if alpha < 0:
        raise ValueError(f"alpha must be non-negative, got {alpha}")
    if queries.shape[0] == 0:  # an empty shard
        return (queries.sum() + table.sum()) * 0.0
    pos = (queries * table[pos_index]).sum(-1)
    quad = ((queries @ (table.T @ table)) * queries).sum(-1)
    if query_weight is not None:
        quad = quad * query_weight
    return ((pos - 1.0) ** 2 + alpha * quad).mean()


def ials_user_weights(train) -> torch.Tensor:
    """``1 / |I_u|`` per user (rows of the users x items ``scipy.sparse`` matrix ``train``; 1 for a
    user without training items): the weight of each pair's all-item term in :func:`ials_loss`."""
    import numpy as np
    import scipy.sparse as sp

    counts = np.diff(sp.csr_matrix(train).indptr)
    return torch.as_tensor(1.0 / np.maximum(counts, 1), dtype=torch.float32)


#: the ranking losses a model's ``loss`` setting may name ("full-softmax" and "ials" score every item)
LOSSES = ("bpr", "softmax", "full-softmax", "ials")


def ranking_loss(pos, neg, kind: str = "bpr", temperature: float = 1.0) -> torch.Tensor:
    """``bpr_loss`` (``kind="bpr"``) or ``sampled_softmax_loss`` (``kind="softmax"``)."""
    if kind == "bpr":
        return bpr_loss(pos, neg)
    if kind == "softmax":
        return sampled_softmax_loss(pos, neg, temperature)
    if kind in ("full-softmax", "ials"):
        raise ValueError(f"loss {kind!r} needs every item: call {kind.replace('-', '_')}_loss")
    raise ValueError(f"loss must be one of {', '.join(map(repr, LOSSES))}, got {kind!r}")


class _GatherDot(torch.autograd.Function):
    """``(B, k)`` scores ``queries[b] · table[index[b, j]]``: DGL's fused SDDMM forward; backward
    as two CSR products with the score gradients as entries (``∂q_b = Σ_j g_bj t_{index_bj}``,
    ``∂t_i = Σ_{(b, j): index_bj = i} g_bj q_b``), where DGL's own backward runs its SpMM with an
    edge weight, a slow generic kernel on CPU: 8,192 queries × 64 rows × 128 features take 346 ms
    forward and backward with DGL's backward, 206 ms with this one (``benchmarks/spmm_ops.py``)."""

    @staticmethod
    def forward(ctx, queries, table, index):
        b, k = index.shape
        src = torch.arange(b, device=index.device).repeat_interleave(k)
        g = dgl.create_block((src, index.reshape(-1)), num_src_nodes=b, num_dst_nodes=table.shape[0],
                             device=index.device)
        ctx.save_for_backward(queries, table, index)
        return dgl.ops.u_dot_v(g, queries, table).view(b, k)

    @staticmethod
    def backward(ctx, grad):
        queries, table, index = ctx.saved_tensors
        b, k = index.shape
        values, cols = grad.reshape(-1).contiguous(), index.reshape(-1).long()
        d_queries = d_table = None
        if ctx.needs_input_grad[0]:  # rows of (b, j) entries are already in row order
            crow = torch.arange(0, b * k + 1, k, device=index.device)
            d_queries = csr_tensor(crow, cols, values, (b, table.shape[0])) @ table.contiguous()
        if ctx.needs_input_grad[1]:
            rows = torch.arange(b, device=index.device).repeat_interleave(k)
            d_table = coo_to_csr(cols, rows, values, (table.shape[0], b)) @ queries.contiguous()
        return d_queries, d_table, None


def dot_scores(queries: torch.Tensor, table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Inner products of query ``b`` with rows ``index[b]`` of ``table``: ``(B,)`` for an index
    of shape ``(B,)``, ``(B, k)`` for ``(B, k)`` (k negatives per query).

    The ``(B, k)`` case never materialises the ``(B, k, d)`` gathered rows (134 MB for 8,192
    queries × 64 negatives × 64 dimensions): DGL's fused SDDMM (``u_dot_v``) on the bipartite
    graph query → indexed row forward, two sparse products backward (:class:`_GatherDot`)."""
    if index.dim() == 1:
        return (queries * table[index]).sum(-1)
    b, k = index.shape
    if b == 0 or k == 0:
        return queries.new_zeros(b, k) + 0.0 * (queries.sum() + table.sum())
    return _GatherDot.apply(queries, table, index)


def squared_norm_sum(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``Σ_b ‖table[index_b]‖²`` over every entry of ``index`` (repeats counted). When the index
    has more entries than the table has rows (many negatives per positive) the rows' norms are
    computed once and gathered, instead of gathering whole rows."""
    if index.numel() > table.shape[0]:
        return table.pow(2).sum(-1)[index].sum()
    return table[index].pow(2).sum()


def info_nce(view1: torch.Tensor, view2: torch.Tensor, temperature: float) -> torch.Tensor:
    """InfoNCE of row ``i`` of ``view1`` against every row of ``view2`` (row ``i`` is the
    positive), on cosine similarities: mean over rows of ``-log softmax(cos / τ)[i, i]``."""
    if view1.shape[0] == 0:  # an empty shard
        return (view1.sum() + view2.sum()) * 0.0
    logits = F.normalize(view1, dim=1) @ F.normalize(view2, dim=1).T / temperature
    return -torch.diagonal(F.log_softmax(logits, dim=1)).mean()
