"""PinSage (Ying et al., KDD 2018): graph convolutions over random-walk importance neighbourhoods.

The graph PinSage convolves is the item–item graph implied by the ``item → user → item``
metapath of the training interactions. For an item :math:`u`, its neighbourhood
:math:`\\mathcal{N}(u)` is the ``T`` items most visited by short random walks from :math:`u`
(``dgl.sampling.PinSAGESampler``), and :math:`\\alpha_{uv}` is the visit count of :math:`v`.
One convolution (the paper's Algorithm 1, CONVOLVE):

.. math::

    n_u &= \\frac{\\sum_{v \\in \\mathcal{N}(u)} \\alpha_{uv}\\, \\mathrm{ReLU}(Q h_v + q)}
                 {\\sum_{v \\in \\mathcal{N}(u)} \\alpha_{uv}} \\\\
    z_u &= \\mathrm{ReLU}(W \\cdot [h_u \\,\\|\\, n_u] + w), \\qquad
    z_u \\leftarrow z_u / \\lVert z_u \\rVert_2

Two such layers are stacked on item input features
:math:`x_i = e^{\\mathrm{id}}_i + \\sum_{r} \\mathrm{mean}_{a \\in r(i)} e^{r}_a`, a learned id
embedding plus, for every relation ``r`` from ``item`` to an attribute node type (genre for
MovieLens, tags for Last.FM, any for user tables), the mean of the learned embeddings of the
item's attribute nodes. The item embedding is :math:`h_i = x_i + z^{(L)}_i` (the skip
connection of DGL's PinSage example; see ``docs/baselines_pinsage_hin2vec.md``).

Training is the paper's max-margin ranking loss on item pairs: a query item :math:`q`, a
positive :math:`i` reached from :math:`q` by one ``item → user → item`` walk step (the two were
interacted with by the same user), and a uniformly drawn negative :math:`n_k`:

.. math::

    J(q, i) = \\mathbb{E}_{n_k}\\, \\max\\{0,\\; s(q, n_k) - s(q, i) + \\Delta\\}, \\qquad
    s(a, b) = h_a^\\top h_b + b_a + b_b

with per-item biases :math:`b` (as in DGL's example; ``item_bias=False`` removes them).
The edge between a query and its positive is removed from the sampled neighbourhoods, so the
model cannot read the answer off its input.

Users are scored from their items, as in DGL's example: a user's vector is the mean of the
embeddings of the user's training items, so
``score(u, j) = mean_{i ∈ I(u)} s(i, j) − const_u`` — the user's mean item-to-item score.
"""
from __future__ import annotations

from dataclasses import dataclass

import dgl
import dgl.function as fn
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._random import seeded_dgl  # noqa: F401 - re-exported (its earlier home)
from ..batching import ItemPairBatches, PinSageBatch
from ..data.schema import INTERACTED_BY, INTERACTS, ITEM, USER
from .base import LossOutput, Recommender, history_mean


@dataclass
class PinSageConfig:
    """Hyper-parameters of :class:`PinSage` (paper / DGL example values in brackets)."""

    #: width of every hidden and output layer [paper 1024-2048 at Pinterest; DGL example 16]
    embedding_size: int = 64
    #: number of convolution layers K [paper 2]
    num_layers: int = 2
    #: T, neighbours kept per item (the most visited by the random walks) [paper 50; DGL 3]
    num_neighbors: int = 10
    #: random walks started from every item when sampling its neighbourhood [DGL 10]
    num_random_walks: int = 10
    #: item→user→item steps per walk at most [DGL 3]
    num_traversals: int = 3
    #: probability that a walk stops after each item→user→item step [DGL 0.5]
    termination_prob: float = 0.5
    #: walks per item for the fixed neighbourhoods used at inference (more walks = less noise)
    inference_random_walks: int = 50
    #: query items per training batch [paper 512-4096; DGL 32]
    batch_size: int = 256
    #: uniformly drawn negatives per query (the paper shares 500 negatives per mini-batch)
    num_negatives: int = 1
    #: Δ, the margin of the hinge loss [DGL 1]
    margin: float = 1.0
    #: dropout on the inputs of every convolution
    dropout: float = 0.0
    #: per-item scalar bias added to scores, as in DGL's example
    item_bias: bool = True
    #: seed of the inference neighbourhoods (sampled once in ``setup``)
    seed: int = 0


class WeightedSAGEConv(nn.Module):
    """PinSage's CONVOLVE: importance-weighted mean of ``ReLU(Q h_v + q)``, concatenated with
    ``h_u``, a dense layer with ReLU, then L2 normalisation (module docstring, Algorithm 1;
    ``normalize=False`` leaves it out).

    ``forward(graph, feat, weights)``: ``graph`` a block (or homogeneous graph) whose edges
    run neighbour → target, ``feat`` the source features (the first ``num_dst_nodes`` rows are
    the targets' own, as for DGL blocks), ``weights`` the importance :math:`\\alpha` per edge.
    """

    def __init__(self, in_size: int, hidden_size: int, out_size: int, dropout: float = 0.0, normalize: bool = True):
        super().__init__()
        self.normalize = normalize
        self.Q = nn.Linear(in_size, hidden_size)
        self.W = nn.Linear(in_size + hidden_size, out_size)
        self.dropout = nn.Dropout(dropout)
        self.reset_parameters()

    def reset_parameters(self):
        gain = nn.init.calculate_gain("relu")
        for lin in (self.Q, self.W):
            nn.init.xavier_uniform_(lin.weight, gain=gain)
            nn.init.zeros_(lin.bias)

    def forward(self, graph, feat: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        with graph.local_scope():
            h_src = feat
            h_dst = feat[: graph.num_dst_nodes()]
            graph.srcdata["n"] = F.relu(self.Q(self.dropout(h_src)))
            graph.edata["w"] = weights.to(feat.dtype)
            graph.update_all(fn.u_mul_e("n", "w", "m"), fn.sum("m", "n"))
            graph.update_all(fn.copy_e("w", "m"), fn.sum("m", "ws"))
            # isolated targets (items without training interactions) get n_u = 0
            n = graph.dstdata["n"] / graph.dstdata["ws"].clamp(min=1.0).unsqueeze(-1)
            z = F.relu(self.W(self.dropout(torch.cat([h_dst, n], dim=1))))
            if not self.normalize:
                return z
            norm = z.norm(dim=1, keepdim=True)
            return z / torch.where(norm == 0, torch.ones_like(norm), norm)


def item_attribute_relations(g) -> list:
    """Every canonical relation from ``item`` to a node type other than ``user``/``item``."""
    return [et for et in g.canonical_etypes if et[0] == ITEM and et[2] not in (USER, ITEM)]


def _row_mean_matrix(rows, cols, shape) -> torch.Tensor:
    """Sparse (COO) matrix with entry ``1/deg(row)`` at every (row, col): a row-wise mean."""
    rows = torch.as_tensor(rows, dtype=torch.int64)
    cols = torch.as_tensor(cols, dtype=torch.int64)
    deg = torch.bincount(rows, minlength=shape[0]).clamp(min=1).float()
    return torch.sparse_coo_tensor(torch.stack([rows, cols]), 1.0 / deg[rows], shape).coalesce()


class PinSage(Recommender):
    """PinSage item embeddings with users as the mean of their training items (module doc)."""

    name = "pinsage"
    Config = PinSageConfig
    #: lower bounds of integer settings beyond the generic ones (hetrec.models.validation)
    _MINIMUMS = {"num_layers": 1}

    # -- setup ---------------------------------------------------------------------------------
    def setup(self, split) -> None:
        cfg = self.config
        g = split.train_graph
        self.num_users, self.num_items = g.num_nodes(USER), g.num_nodes(ITEM)
        # the bipartite item–user graph of training interactions only
        self.bipartite = dgl.edge_type_subgraph(g, [INTERACTS, INTERACTED_BY])
        self.sampler = self._sampler(cfg.num_random_walks)

        d = cfg.embedding_size
        self.item_id = nn.Embedding(self.num_items, d)
        nn.init.normal_(self.item_id.weight, std=d ** -0.5)
        self.attr_emb = nn.ModuleDict()
        self._attr_keys = []
        for et in item_attribute_relations(g):
            key = "__".join(et)
            src, dst = g.edges(etype=et)
            self.register_buffer(f"_mean_{key}", _row_mean_matrix(
                src, dst, (self.num_items, g.num_nodes(et[2]))), persistent=False)
            self.attr_emb[key] = nn.Embedding(g.num_nodes(et[2]), d)
            nn.init.normal_(self.attr_emb[key].weight, std=d ** -0.5)
            self._attr_keys.append(key)
        self.convs = nn.ModuleList(
            WeightedSAGEConv(d, d, d, cfg.dropout) for _ in range(cfg.num_layers))
        self.bias = nn.Parameter(torch.zeros(self.num_items)) if cfg.item_bias else None

        # items that can be queries: those with a training interaction
        self.query_items = torch.from_numpy(
            np.flatnonzero(np.diff(split.train.tocsc().indptr) > 0)).long()
        self.batch_builder = ItemPairBatches(self.bipartite, self.query_items, self.num_items, self.sampler,
                                             cfg.num_layers, cfg.batch_size, cfg.num_negatives)
        # users as the mean of their training items
        u, i = split.train.nonzero()
        self.register_buffer("_user_mean", _row_mean_matrix(
            u, i, (self.num_users, self.num_items)), persistent=False)
        # fixed neighbourhoods of every item for inference (the paper's MapReduce inference
        # also computes each node's neighbourhood once), seeded for reproducibility
        with seeded_dgl(cfg.seed):  # sampled on the CPU, then kept on the model's device
            self.register_graph("inference_graph", self._sampler(cfg.inference_random_walks)(
                torch.arange(self.num_items, device="cpu")))

    def _sampler(self, num_random_walks: int):
        cfg = self.config
        return dgl.sampling.PinSAGESampler(
            self.bipartite, ITEM, USER, cfg.num_traversals, cfg.termination_prob,
            num_random_walks, cfg.num_neighbors)

    # -- training ------------------------------------------------------------------------------
    def sample_batch(self, query: torch.Tensor, negative: torch.Tensor) -> PinSageBatch:
        """The batch of ``query`` items and their ``negative`` items
        (:meth:`hetrec.batching.ItemPairBatches.sample`)."""
        return self.batch_builder.sample(query, negative)

    def item_features(self, items: torch.Tensor) -> torch.Tensor:
        """``x_i``: id embedding plus the mean attribute embedding of every item relation."""
        x = self.item_id(items)
        for key in self._attr_keys:
            rows = getattr(self, f"_mean_{key}").index_select(0, items)
            x = x + torch.sparse.mm(rows, self.attr_emb[key].weight)
        return x

    def encode(self, blocks) -> torch.Tensor:
        """Item embeddings ``h`` of the output nodes of ``blocks``."""
        x = self.item_features(blocks[0].srcdata[dgl.NID])
        h = x
        for conv, block in zip(self.convs, blocks):
            h = conv(block, h, block.edata["weights"])
        return x[: blocks[-1].num_dst_nodes()] + h

    def pair_scores(self, h, items, a, b) -> torch.Tensor:
        """``s(a, b) = h_a·h_b (+ b_a + b_b)``; ``a``, ``b`` positions in ``h``/``items``."""
        s = (h[a] * h[b]).sum(-1)
        if self.bias is not None:
            s = s + self.bias[items[a]] + self.bias[items[b]]
        return s

    def loss(self, batch: PinSageBatch) -> LossOutput:
        h = self.encode(batch.blocks)
        items = batch.blocks[-1].dstdata[dgl.NID]
        q = batch.query
        pos = self.pair_scores(h, items, q, batch.positive)
        neg = self.pair_scores(h, items, q.unsqueeze(1), batch.negative)
        loss = F.relu(neg - pos.unsqueeze(1) + self.config.margin).mean()
        return LossOutput(loss, {"hinge": float(loss),
                                 "violations": float((neg > pos.unsqueeze(1)).float().mean())})

    # -- inference -----------------------------------------------------------------------------
    def item_embeddings(self) -> torch.Tensor:
        """``h`` of every item: full-graph inference, layer by layer over all items, on the
        fixed neighbourhoods sampled in ``setup`` (vectorised message passing, no per-item loop)."""
        graph = self.inference_graph
        x = self.item_features(torch.arange(self.num_items, device=self.device))
        h = x
        for conv in self.convs:
            h = conv(graph, h, graph.edata["weights"])
        return x + h

    def embeddings(self) -> tuple:
        h = self.item_embeddings()
        user = torch.sparse.mm(self._user_mean, h)
        if self.bias is None:
            return user, h
        # [m_u, 1]·[h_j, b_j] = m_u·h_j + b_j: the user's mean item-to-item score up to a
        # per-user constant (mean_i b_i), which does not change the user's ranking
        return (torch.cat([user, torch.ones(self.num_users, 1, device=user.device)], 1),
                torch.cat([h, self.bias.unsqueeze(1)], 1))

    def scores_from_history(self, history) -> torch.Tensor:
        """PinSage's own user rule applied to new users: the mean of their items' embeddings
        (with the constant 1 that meets the item bias)."""
        if self._cache is None:
            self.prepare_scoring()
        items = self._cache[1]
        h = items if self.bias is None else items[:, :-1]
        user = history_mean(history, h)
        if self.bias is not None:
            user = torch.cat([user, torch.ones(len(user), 1, device=user.device)], 1)
        return user @ items.T
