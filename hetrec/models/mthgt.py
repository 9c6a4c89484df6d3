"""MTHGT: Multi-Task Heterogeneous Graph Transformer (Luo, Liu & Yang 2023) and its ablations.

One class serves two recipes (every difference is measured in docs/mthgt.md):

* **hetrec's recipe** (the defaults of :class:`MTHGTConfig`): layer 0 is the ID embedding itself
  (N(0, 0.1²)); a stack of :class:`~hetrec.nn.LightHGTLayer` propagates it over the whole
  heterograph with LightGCN's normalisation over all relations, HGT's attention redistributing
  each target's mass across relations (``attention="relation"``; per edge with ``"edge"``); the
  representation is the mean of layers 0..K; scores are inner products (Eq. 15); the loss is a
  sampled softmax over ``num_negatives`` uniform non-training items, plus LightGCN's L2 on the
  batch's layer-0 embeddings. When the training graph has at most ``full_graph_max_edges`` edges
  (``training="auto"``) every step propagates the whole training graph with the step's predicted
  edges (and their reverses) hidden; above it, steps run in the **mini-batch mode**
  (``training="minibatch"``, preset ``mthgt-minibatch``): the same model and loss, each step
  computing only its batch's nodes from historical embeddings and control variates over sampled
  in-edges (:mod:`hetrec.models._history`, docs/scale.md), at a cost bounded by the batch;
  configurations that mode cannot train (:func:`minibatch_problems`) run on sampled subgraphs
  as below. It is
  single-task by default, because link prediction lowered accuracy in every form tried;
  ``multitask=True`` adds it through MMoE with uncertainty weighting.
* **the paper's recipe** (``create_model("mthgt-paper")``, :data:`hetrec.models.MTHGT_PAPER`).
  Pipeline for one training batch:

  1. a subgraph is sampled around a batch of training interactions, with those interactions and
     their reverses excluded (``as_edge_prediction_sampler(exclude='reverse_types')``) — dense,
     type-balanced sampling (Eq. 2, :class:`~hetrec.sampling.DenseSubgraphSampler`) or uniform
     neighbour sampling for the ablations;
  2. for the link-prediction task, up to ``lp_edges_per_relation`` edges of every relation of the
     subgraph are drawn as positives and removed, with their reverses, from the message-passing
     graph (so no predicted edge is visible to the encoder);
  3. ``NodeTypeProjection`` (Eq. 3) → a stack of ``HGTLayer`` (Eq. 4–11) per task (the paper) or
     one shared stack (``shared_gnn=True``, the paper's future work) → ``MMoE`` (Eq. 12–14) with
     experts shared by the tasks, each task gating its own GNN output;
  4. scores are inner products of task embeddings (Eq. 15); each task's loss is the pairwise
     logistic (BPR) loss of positives against uniform negatives; the two losses are combined by
     ``UncertaintyWeighting`` (Kendall et al.: ``Σ exp(−s_i) L_i + s_i``).

Ablations (paper Fig. 4) are presets of this class trained on sampled subgraphs (see
``hetrec.models.MODELS``): ``hgt`` (single task, uniform sampling), ``hgt-d`` (single task,
dense sampling), ``hgt-m`` (two tasks + MMoE, uniform sampling), ``mthgt-sampled`` (both). A
single-task model has no MMoE and no uncertainty weighting: its GNN output is the embedding.
The same four variants in the mini-batch mode are ``hgt-mb``, ``hgt-d-mb``, ``hgt-m-mb`` and
``mthgt-dm-mb`` (in-edges drawn uniformly or by squared degree, ``history_draw``; two tasks through
MMoE over the one GNN stack, whose layers stay linear, so the mode's estimator is unchanged).

For ranking, user and item embeddings come from full-graph inference on the training graph.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import dgl
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..batching import EdgeSubgraphBatches, FullGraphBatch, FullGraphBatches, MiniBatch, MiniBatches
from ..data.schema import INTERACTED_BY, INTERACTS, ITEM, SIMILAR_TO, USER, attribute_ntypes, reverse_etypes
from ..nn import HGTLayer, LightHGTLayer, MMoE, NodeTypeProjection, UncertaintyWeighting
from ..nn.losses import dot_scores, full_softmax_loss, ials_loss, ials_user_weights, info_nce, ranking_loss, squared_norm_sum
from ._history import unique_edges, unique_inverse
from .base import LossOutput, Recommender

#: the tasks of a multi-task model, in the order of its GNN stacks, MMoE gates and loss weights;
#: a single-task model has "rec" only
TASKS = ("lp", "rec")
#: the in-edge cap of ``max_in_edges="auto"`` on training graphs above ``full_graph_max_edges``:
#: subgraphs keep about as many edges as Last.FM's exact ones (~10⁵), flat as the graph grows
#: (benchmarks/max_in_edges.py and benchmarks/scale.py, docs/scale.md)
AUTO_MAX_IN_EDGES = 32


@dataclass
class MTHGTConfig:
    """Hyper-parameters of MTHGT. Defaults are hetrec's recipe, chosen on Last.FM fold-0
    validation (docs/mthgt.md); the ``mthgt-paper`` preset restores the paper's."""

    hidden_size: int = 64
    num_layers: int = 3
    num_heads: int = 4
    #: "light" (:class:`~hetrec.nn.LightHGTLayer` — HGT attention, transform-free messages)
    #: or "hgt" (:class:`~hetrec.nn.HGTLayer` with every per-type transform, the paper)
    conv: str = "light"
    #: relations the encoder sees — "all" (users, items and attributes) or "interactions"
    #: (user-item only; an ablation that shows what the side information is worth)
    relations: str = "all"
    #: degree normalisation of the light layer — "node" (all relations) or "relation"
    norm: str = "node"
    #: attention of the light layer — "edge" (HGT's, one score per edge and head), "relation"
    #: (one learned logit per relation and head) or "none" (fixed symmetric normalisation)
    attention: str = "relation"
    #: how many of the first layers learn attention (None = all); later light layers propagate
    #: with the fixed normalisation, at a fraction of the cost
    attention_layers: int | None = None
    #: Eq. 3 per-type linear + GELU on the ID embeddings (the paper); with False, H^0 = embeddings
    projection: bool = False
    #: std of the N(0, std^2) initialisation of the ID embeddings (None = Xavier uniform)
    init_std: float | None = 0.1
    #: final representation — "mean" of H^0..H^K (keeps the ID embedding) or "last" (H^K)
    combine: str = "mean"
    dropout: float = 0.0
    use_norm: bool = False
    #: two tasks (link prediction + recommendation) with MMoE; False = recommendation only
    multitask: bool = False
    #: one GNN stack shared by both tasks instead of one per task (the paper has one per task)
    shared_gnn: bool = True
    num_experts: int = 4
    #: initial weight of the MMoE mixture against its input (Eq. 14's alpha); 0.5 = the paper
    mmoe_alpha: float = 0.05
    #: "full" (every step encodes the whole training graph), "minibatch" (each step computes only
    #: its batch's nodes, from historical embeddings and control variates over ``history_fanout``
    #: sampled in-edges per node and layer: :mod:`hetrec.models._history`), "sampled" (subgraphs
    #: around the batch, the paper) or "auto" (full when the training graph has <=
    #: full_graph_max_edges edges, else minibatch where the configuration allows it, else sampled)
    training: str = "auto"
    full_graph_max_edges: int = 20_000_000
    #: item-item structure as a relation, each item linked (both ways) to its ``item_neighbors``
    #: most cosine-similar items in the fold's training interactions (0 = off)
    item_neighbors: int = 0
    #: in-edges drawn per node and layer in the mini-batch mode (see history_draw), one number for
    #: every layer or a list with one per layer, layer 1 (next to the ID embeddings) first; None =
    #: every in-edge (exact, for tests and small graphs)
    history_fanout: int | list[int] | None = 8
    #: steps between refreshes of the mini-batch mode's historical embeddings (an inference pass
    #: over the whole graph); 0 = at the start of every epoch
    history_refresh: int = 0
    #: with history_refresh = 0, the most steps one snapshot serves before a refresh inside an
    #: epoch (None: the whole epoch). On a large graph an epoch is thousands of steps; parameters
    #: (the relation logits above all, which every node's layers use) drift from the snapshot and
    #: the control variate's variance grows with the drift: on a synthetic graph of 10⁷ edges the
    #: loss rose again after ~250 steps without a refresh (docs/scale.md). Epochs of Last.FM and
    #: ML-1M are shorter (9 and 78 steps), so this changes nothing there.
    history_max_age: int | None = 100
    #: how the mini-batch mode draws a sampled node's in-edges, "norm" (probability c(e)/C(t)),
    #: "uniform" or "dense" (the source's squared degree, Eq. 2), each unbiased
    history_draw: str = "norm"
    #: items per batch the mini-batch mode draws each interaction's negatives from
    negative_pool: int = 65536
    #: "dense" (DenseSubgraphSampler, Eq. 2) or "uniform" (uniform neighbour sampling); sampled mode
    sampler: str = "dense"
    #: interactions per step (both modes)
    batch_size: int = 8192
    depth: int = 2
    width: int = 128
    max_neighbors: int | None = None
    #: cap on in-edges per node and relation inside the sampled subgraph:
    #: an integer, None (exact node-induced subgraphs, Eq. 2), or "auto": None on training
    #: graphs of at most full_graph_max_edges edges, AUTO_MAX_IN_EDGES above, where it keeps
    #: the step's cost flat as the graph grows (docs/scale.md measures both)
    max_in_edges: int | str | None = "auto"
    #: neighbours per relation and hop for the uniform sampler (``ShaDowKHopSampler``)
    fanout: int = 2
    num_negatives: int = 64
    #: "uniform" (DGL's Uniform) or "in-batch" (InBatchNegativeSampler); sampled mode
    negatives: str = "uniform"
    #: "bpr" (pairwise logistic), "softmax" (sampled softmax over the positive and its negatives),
    #: "full-softmax" (softmax over every item) or "ials" (the iALS squared loss over every item,
    #: :func:`hetrec.nn.losses.ials_loss`; no temperature); the last two need full-graph training
    loss: str = "softmax"
    temperature: float = 0.5
    #: weight α of the all-item term of ``loss="ials"`` (unused otherwise)
    ials_alpha: float = 0.3
    #: weight of the L2 term on the batch's layer-0 (ID) embeddings, as in LightGCN
    reg_weight: float = 1e-4
    #: the L2 term is part of the recommendation task's loss (weighted with it); False = added
    #: outside the uncertainty weighting
    reg_in_task: bool = True
    #: activation of the MMoE experts — "gelu" (the paper) or "none" (linear experts)
    expert_activation: str = "none"
    #: the experts' bias b_i (Eq. 12); False removes a shared offset that acts as item popularity
    expert_bias: bool = False
    lp_edges_per_relation: int = 256
    #: link-prediction loss ("bpr" or "softmax", with the recommendation ``temperature``) and its
    #: negatives per positive (uniform nodes of the target type)
    lp_loss: str = "softmax"
    lp_negatives: int = 64
    #: in full-graph mode, hide each step's predicted edges (its interactions and link-prediction
    #: positives, with their reverses) from message passing, as the sampled mode does
    drop_batch_edges: bool = True
    #: sparse gradients for the ID embeddings, updated by lazy Adam on the rows a batch uses
    #: (hetrec.train.optim): a sampled step then costs the same whatever the number of nodes.
    #: Off by default (dense Adam, as every committed result); see docs/scale.md
    sparse_embeddings: bool = False
    #: weight of an XSimGCL-style contrastive term (Yu et al., TKDE 2023; full-graph training):
    #: uniform noise of magnitude ``cl_eps`` is added to every layer's output in training, and
    #: InfoNCE (temperature ``cl_temperature``) ties each batch user's and item's final
    #: recommendation embedding to its noisy layer-``cl_layer`` output. 0 = off (the recipe)
    cl_weight: float = 0.0
    cl_eps: float = 0.2
    cl_temperature: float = 0.2
    cl_layer: int = 1
    #: share of users and of items whose ID embedding (layer 0) is zeroed in each full-graph
    #: training step ("ID dropout"): the encoder learns to represent a node from its attribute and
    #: interaction edges alone, as it must for a node it has no trained embedding of (cold start,
    #: :meth:`MTHGT.inductive_embeddings`, docs/coldstart.md). 0 = off (the recipe)
    id_dropout: float = 0.0
    #: layer 0 of a node the model has no trained embedding of, at inference
    #: (:meth:`MTHGT.inductive_embeddings`): "zero" (H^0 = 0, the node's representation averages
    #: H^1..H^K), "mean" (H^0 = the mean layer-0 embedding of its known neighbours over every
    #: relation, then averaged with H^1..H^K as a trained node's) or "map" (its representation is
    #: an attribute map's, a ridge regression from attribute values to the warm nodes' trained
    #: representations, :mod:`hetrec.models.attrmap`, plus what its revealed interactions change).
    #: Inference only: training is the same
    cold_init: str = "zero"
    #: degree of the attribute map of cold_init="map" (1 = one feature per attribute value, 2 = also
    #: one per pair of values)
    cold_map_degree: int = 1
    #: the ridge weight λ of the attribute map of cold_init="map" (chosen by cross-validated squared
    #: error on the warm nodes of both datasets' validation splits, docs/coldstart.md)
    cold_map_l2: float = 10.0


def minibatch_problems(cfg: MTHGTConfig) -> list:
    """What in ``cfg`` the mini-batch mode cannot train (empty: it can). The mode relies on the
    layers being linear in their input (the light layer without per-edge attention) and on one
    recommendation GNN stack (``multitask`` with ``shared_gnn``: MMoE acts on each node's
    propagated representation, after the linear layers)."""
    problems = []
    if cfg.conv != "light":
        problems.append(f"conv='light' (got {cfg.conv!r})")
    if cfg.attention == "edge" or cfg.attention is True:
        problems.append("attention 'relation' or 'none' (per-edge attention is not linear in the input)")
    if cfg.multitask and not cfg.shared_gnn:
        problems.append("shared_gnn=True with multitask (one GNN stack, one set of historical embeddings)")
    if cfg.projection:
        problems.append("projection=False")
    if cfg.loss in ("full-softmax", "ials"):
        problems.append("loss 'softmax' or 'bpr'")
    for name in ("cl_weight", "id_dropout", "dropout"):
        if getattr(cfg, name):
            problems.append(f"{name}=0")
    return problems


def resolve_max_in_edges(cfg: MTHGTConfig, num_edges: int):
    """``cfg.max_in_edges`` with "auto" resolved for a training graph of ``num_edges`` edges:
    None up to ``full_graph_max_edges``, else :data:`AUTO_MAX_IN_EDGES`."""
    if cfg.max_in_edges == "auto":
        return None if num_edges <= cfg.full_graph_max_edges else AUTO_MAX_IN_EDGES
    return cfg.max_in_edges


def _pair_relations(g) -> list:
    """One relation per reverse pair (the first of the pair in ``g.canonical_etypes``)."""
    rev = reverse_etypes(g)
    chosen, seen = [], set()
    for et in g.canonical_etypes:
        if et in seen:
            continue
        chosen.append(et)
        seen.update({et, rev[et]})
    return chosen


def _canonical_order(data, key=dgl.EID):
    """Positions of a subgraph's edges (or nodes) sorted by their id in the parent graph (by
    position when the ids are missing): random picks by position then choose the same edges
    (nodes) whatever order the sampler produced them in."""
    if key in data:
        return torch.argsort(data[key], stable=True)
    n = len(next(iter(data.values()))) if len(data) else 0
    return torch.arange(n)


def with_item_neighbors(g, train, k: int):
    """``g`` with the relation :data:`~hetrec.data.schema.SIMILAR_TO`: item ``i`` and item ``j``
    linked (in both directions, one symmetric relation like Last.FM's ``friend``) when either is
    among the other's ``k`` most cosine-similar items in the training matrix ``train`` (users x
    items; :func:`hetrec.models.classic.cosine_topk`). Only training interactions are read, so no
    validation or test edge leaks into the graph. Node and edge data are kept."""
    import numpy as np

    from .classic import binary_matrix, cosine_topk

    w = cosine_topk(binary_matrix(train), k)
    pattern = ((w + w.T) > 0).tocoo()
    keep = pattern.row != pattern.col
    data = {et: g.edges(etype=et, order="eid") for et in g.canonical_etypes if et != SIMILAR_TO}
    data[SIMILAR_TO] = (torch.from_numpy(pattern.row[keep].astype(np.int64)),
                        torch.from_numpy(pattern.col[keep].astype(np.int64)))
    out = dgl.heterograph(data, num_nodes_dict={t: g.num_nodes(t) for t in g.ntypes}, idtype=g.idtype)
    for t in g.ntypes:
        out.nodes[t].data.update(dict(g.nodes[t].data))
    for et in data:
        if et != SIMILAR_TO:
            out.edges[et].data.update(dict(g.edges[et].data))
    return out


class MTHGT(Recommender):
    """MTHGT and its ablations. See the module docstring for the equations and pipeline."""

    name = "mthgt"
    Config = MTHGTConfig
    #: lower bounds of integer settings beyond the generic ones (hetrec.models.validation)
    _MINIMUMS = {"num_layers": 1}

    _CHOICES = {"sampler": ("dense", "uniform"), "negatives": ("uniform", "in-batch"),
                "conv": ("light", "hgt"), "norm": ("node", "relation"), "combine": ("mean", "last"),
                "cold_init": ("zero", "mean", "map"), "cold_map_degree": (1, 2),
                "training": ("auto", "full", "minibatch", "sampled"), "loss": ("bpr", "softmax", "full-softmax", "ials"),
                "lp_loss": ("bpr", "softmax"),
                "relations": ("all", "interactions"), "attention": ("edge", "relation", "none"), "expert_activation": ("gelu", "none"),
                "max_in_edges": ("auto",), "history_draw": ("norm", "uniform", "dense")}

    def setup(self, split) -> None:
        if isinstance(self.config.attention, bool):  # True / False: edge attention / none
            self.config = replace(self.config, attention="edge" if self.config.attention else "none")
        cfg = self.config
        for name, allowed in self._CHOICES.items():
            if name == "max_in_edges" and not isinstance(cfg.max_in_edges, str):
                continue  # an integer or None (checked by check_config)
            if getattr(cfg, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}, "
                                 f"got {getattr(cfg, name)!r}")
        g = split.train_graph
        if cfg.relations == "interactions":
            g = dgl.edge_type_subgraph(g, [INTERACTS, INTERACTED_BY])
        if cfg.item_neighbors:
            g = with_item_neighbors(g, split.train, cfg.item_neighbors)
        self.graph = g  # CPU: batches and subgraphs are built from it
        self.reverse = reverse_etypes(g)
        self.lp_relations = _pair_relations(g)
        self.full_graph = cfg.training == "full" or (
            cfg.training == "auto" and g.num_edges() <= cfg.full_graph_max_edges)
        problems = minibatch_problems(cfg)
        self.minibatch = cfg.training == "minibatch" or (
            cfg.training == "auto" and not self.full_graph and not problems)
        if cfg.training == "minibatch" and problems:
            raise ValueError("training='minibatch' needs " + "; ".join(problems))
        self._history = None
        self._steps_since_refresh = 0
        if cfg.loss in ("full-softmax", "ials") and not self.full_graph:
            raise ValueError(f"loss {cfg.loss!r} needs full-graph training (a sampled subgraph holds only some "
                             "items); use 'softmax' with num_negatives, or training='full'")
        # 1 / each user's number of training items: the weight of its all-item term under loss "ials"
        # (full-graph training, where split.train is the fold's matrix; None for every other loss)
        self.register_buffer("_ials_user_weight", ials_user_weights(split.train) if cfg.loss == "ials" else None,
                             persistent=False)
        if cfg.cl_weight and not self.full_graph:
            raise ValueError("cl_weight > 0 (the contrastive term) needs full-graph training; set training='full' "
                             "or cl_weight=0")
        if cfg.id_dropout and not self.full_graph:
            raise ValueError("id_dropout > 0 needs full-graph training; set training='full' or id_dropout=0")
        if isinstance(cfg.history_fanout, (list, tuple)) and len(cfg.history_fanout) != cfg.num_layers:
            raise ValueError(f"history_fanout needs one entry per layer (num_layers={cfg.num_layers}), "
                             f"got {list(cfg.history_fanout)}")
        if cfg.cl_weight and not 1 <= cfg.cl_layer <= cfg.num_layers:
            raise ValueError(f"cl_layer ({cfg.cl_layer}) must lie in 1..num_layers ({cfg.num_layers})")
        num_nodes = {t: g.num_nodes(t) for t in g.ntypes}
        if cfg.projection:
            self.proj = NodeTypeProjection(g.ntypes, num_nodes, None, cfg.hidden_size, sparse=cfg.sparse_embeddings)
        else:
            self.proj = nn.ModuleDict({t: nn.Embedding(n, cfg.hidden_size, sparse=cfg.sparse_embeddings)
                                       for t, n in num_nodes.items()})
        self.reset_embeddings()
        num_stacks = 2 if cfg.multitask and not cfg.shared_gnn else 1

        def layer(k):
            if cfg.conv == "light":
                learned = cfg.attention_layers is None or k < cfg.attention_layers
                attend = cfg.attention if learned else "none"
                return LightHGTLayer(cfg.hidden_size, g.ntypes, g.canonical_etypes, num_heads=cfg.num_heads,
                                     norm=cfg.norm, attention=attend)
            return HGTLayer(cfg.hidden_size, cfg.hidden_size, g.ntypes, g.canonical_etypes,
                            num_heads=cfg.num_heads, dropout=cfg.dropout, use_norm=cfg.use_norm)

        self.gnns = nn.ModuleList([nn.ModuleList([layer(k) for k in range(cfg.num_layers)])
                                   for _ in range(num_stacks)])
        if cfg.multitask:
            self.mmoe = MMoE(cfg.hidden_size, cfg.hidden_size, cfg.num_experts, list(TASKS), ntypes=g.ntypes,
                             dropout=cfg.dropout,
                             activation=F.gelu if cfg.expert_activation == "gelu" else None,
                             init_alpha=cfg.mmoe_alpha, expert_bias=cfg.expert_bias)
            self.weighting = UncertaintyWeighting(2)
        if self.minibatch:
            self.batch_builder = MiniBatches(g, cfg.batch_size, cfg.num_negatives, cfg.negative_pool,
                                             self.lp_relations if cfg.multitask else (),
                                             cfg.lp_edges_per_relation, cfg.lp_negatives)
            u, i = g.edges(etype=INTERACTS)
            # sorted (user, item) keys of the training pairs: a negative that is one is masked
            self._train_keys = torch.unique(u.long() * g.num_nodes(ITEM) + i.long())
        elif self.full_graph:
            self.batch_builder = FullGraphBatches(
                g, split.train, cfg.batch_size, cfg.num_negatives, self.lp_relations if cfg.multitask else (),
                cfg.lp_edges_per_relation, cfg.lp_negatives, cfg.drop_batch_edges,
                draw_seeds=cfg.cl_weight > 0 or cfg.id_dropout > 0)
        else:  # the interactions, each batch with the subgraph sampled around it
            self.batch_builder = EdgeSubgraphBatches(
                g, INTERACTS, self.make_sampler(), self.make_negative_sampler(), cfg.batch_size,
                reverse_etypes={INTERACTS: INTERACTED_BY, INTERACTED_BY: INTERACTS})
        # the graph full-graph training and inference propagate over, on the model's device
        self.register_graph("device_graph", g)

    def reset_embeddings(self) -> None:
        """Initialise the ID embeddings: N(0, init_std²), or the projection's own scheme."""
        tables = self.proj.embeddings if self.config.projection else self.proj
        if self.config.init_std is None:
            if not self.config.projection:
                for emb in tables.values():
                    nn.init.xavier_uniform_(emb.weight)
            return
        for emb in tables.values():
            nn.init.normal_(emb.weight, std=self.config.init_std)

    # -- batches (hetrec.batching) -----------------------------------------------------------
    @property
    def max_in_edges(self):
        """The in-edge cap the sampler uses: ``config.max_in_edges`` with "auto" resolved
        against the training graph (None up to ``full_graph_max_edges`` edges, else
        :data:`AUTO_MAX_IN_EDGES`)."""
        return resolve_max_in_edges(self.config, self.graph.num_edges())

    def make_sampler(self):
        """The node-induced subgraph sampler of this variant (sampled mode)."""
        from ..sampling import DenseSubgraphSampler

        cfg = self.config
        if cfg.sampler == "dense":
            return DenseSubgraphSampler(cfg.depth, cfg.width, max_neighbors=cfg.max_neighbors,
                                        max_in_edges=self.max_in_edges)
        # uniform neighbour sampling with the same node-induced contract: DGL's ShaDow-k-hop
        fanout = {et: cfg.fanout for et in self.graph.canonical_etypes}
        return dgl.dataloading.ShaDowKHopSampler([fanout] * cfg.depth)

    def make_negative_sampler(self):
        """The negative sampler of the sampled mode (``negatives``, ``num_negatives``)."""
        k = self.config.num_negatives
        if self.config.negatives == "in-batch":
            from ..sampling import InBatchNegativeSampler

            return InBatchNegativeSampler(k)
        return dgl.dataloading.negative_sampler.Uniform(k)

    # -- encoder -----------------------------------------------------------------------------
    def layer0(self, g) -> dict:
        """H^0 for the nodes of ``g`` (the full training graph or a subgraph carrying dgl.NID)."""
        if self.config.projection:
            return self.proj(g)
        out = {}
        for t in g.ntypes:
            data = g.nodes[t].data
            ids = data[dgl.NID] if dgl.NID in data else torch.arange(g.num_nodes(t), device=g.device)
            out[t] = self.proj[t](ids)
        return out

    def encode(self, g, h0=None) -> dict:
        """Task embeddings for the nodes of ``g``, by task (:data:`TASKS`), each a dict by node
        type: ``{"rec": ...}`` for a single-task model, ``{"lp": ..., "rec": ...}`` (link
        prediction, recommendation) for a multi-task one."""
        return self.task_heads([self.combine_layers(seq) for seq in self.propagate(g, h0)])

    def propagate(self, g, h0=None, generator: torch.Generator | None = None) -> list:
        """Every GNN stack's layer outputs ``[H^0, ..., H^K]`` (each a dict by node type), one
        list per stack. With ``generator`` (the contrastive term's training views), uniform noise
        is added to each layer's output before it feeds the next, as XSimGCL does:
        ``H^k + cl_eps · sign(H^k) ⊙ normalize(Δ)``, ``Δ ~ U(0, 1)`` drawn on the CPU per stack,
        layer and node type (sorted by name) in that order (the same numbers on every device)."""
        h0 = self.layer0(g) if h0 is None else h0
        eps = self.config.cl_eps
        seqs = []
        for layers in self.gnns:
            h, seq = h0, [h0]
            for layer in layers:
                h = layer(g, h)
                if generator is not None and eps > 0:
                    h = {t: h[t] + eps * torch.sign(h[t]) * F.normalize(
                        torch.rand(h[t].shape, generator=generator, device=generator.device).to(h[t].device), p=2, dim=1)
                         for t in sorted(h)}
                seq.append(h)
            seqs.append(seq)
        return seqs

    def combine_layers(self, seq: list, cold: dict | None = None) -> dict:
        """The representation of one GNN stack from its layers' outputs ``seq`` (H^0..H^K, each a
        dict by node type, the same rows in each): their mean or the last (``combine``). Rows in
        ``cold`` (node type -> bool mask), nodes without an ID embedding, average H^1..H^K: their
        zero H^0 is no part of what they are."""
        if self.config.combine != "mean":
            return seq[-1]
        out = {t: torch.stack([x[t] for x in seq]).mean(0) for t in seq[-1]}
        for t, mask in (cold or {}).items():
            if len(seq) > 1 and mask.any():
                out[t] = torch.where(mask.unsqueeze(1), torch.stack([x[t] for x in seq[1:]]).mean(0), out[t])
        return out

    def task_heads(self, outs: list) -> dict:
        """Task embeddings (as :meth:`encode` returns them) from each GNN stack's representation
        (:meth:`combine_layers`): the one stack's for a single-task model, else MMoE's per task.
        Per node: any subset of rows gives those rows' embeddings (layer-wise inference)."""
        if not self.config.multitask:
            return {"rec": outs[0]}
        if self.config.shared_gnn:
            return self.mmoe(outs[0])  # every task's gate over the one GNN
        return {task: self.mmoe(h, task=task) for task, h in zip(TASKS, outs)}  # each GNN its task's gate

    def _split_lp_edges(self, sub, generator=None):
        """Draw link-prediction positives of a sampled subgraph per relation (from ``generator``,
        a CPU generator, or the global one); return them and the subgraph without them (and
        without their reverses)."""
        cap = self.config.lp_edges_per_relation
        positives, remove = {}, {}
        for et in self.lp_relations:
            n = sub.num_edges(et)
            if n == 0:
                continue
            pick = torch.randperm(n, generator=generator,
                                  device="cpu" if generator is not None else sub.device)[:cap].to(sub.device)
            # positions in an order that does not depend on how the sampler laid out the edges
            # (DGL's parallel neighbour sampling may order them differently run to run)
            pick = _canonical_order(sub.edges[et].data)[pick]
            src, dst = sub.find_edges(pick, etype=et)
            positives[et] = (src, dst)
            remove.setdefault(et, []).append(pick)
            rev = self.reverse[et]
            if rev == et:  # symmetric relation: the reverse of (u, v) is the edge (v, u)
                s_all, d_all = sub.edges(etype=et)
                nn_ = sub.num_nodes(et[0])
                twin = torch.isin(s_all * nn_ + d_all, dst * nn_ + src).nonzero().flatten()
            else:  # edge i of a relation and of its reverse are the same fact (same EID)
                orig = sub.edges[et].data[dgl.EID][pick]
                twin = torch.isin(sub.edges[rev].data[dgl.EID], orig).nonzero().flatten()
            remove.setdefault(rev, []).append(twin)
        mp = sub
        for et, parts in remove.items():  # ids refer to ``sub``: each relation is cut once
            ids = torch.unique(torch.cat(parts))
            if len(ids):
                mp = dgl.remove_edges(mp, ids, etype=et)
        return positives, mp

    def _lp_triples(self, sub, positives, generator=None) -> dict:
        """``{relation: (src, dst, fake)}``: each positive of ``positives`` with ``lp_negatives``
        uniform fake destinations among the subgraph's nodes (from ``generator`` or the global one)."""
        k = self.config.lp_negatives
        return {et: (src, dst, _canonical_order(sub.nodes[et[2]].data, dgl.NID)[
            torch.randint(0, sub.num_nodes(et[2]), (len(dst), k), generator=generator,
                          device="cpu" if generator is not None else sub.device).to(sub.device)])
            for et, (src, dst) in positives.items()}

    @staticmethod
    def _reg(h0, users, pos_items, neg_items) -> torch.Tensor:
        """LightGCN's L2 term on the batch's layer-0 rows: ½ (‖e_u‖² + ‖e_i‖² + mean over the k
        negatives of ‖e_j‖²), averaged over the batch (k = 1 is the paper's term)."""
        k = max(neg_items.numel() // max(len(users), 1), 1)
        total = (squared_norm_sum(h0[USER], users) + squared_norm_sum(h0[ITEM], pos_items)
                 + squared_norm_sum(h0[ITEM], neg_items) / k)
        return 0.5 * total / max(len(users), 1)

    def _combine(self, rec, lp, reg) -> LossOutput:
        """Total loss of the task losses ``rec`` and ``lp`` (None for a single-task model). The
        L2 term belongs to the recommendation task (as in LightGCN's loss) and is weighted with
        it, so uncertainty weighting, whose weights grow as ``1/L_i`` when a task's loss falls,
        cannot silently switch the regularisation off (``reg_in_task``)."""
        cfg = self.config
        logs = {"rec_loss": rec.item()}
        if cfg.reg_weight:
            logs["reg"] = float(reg.detach())
            if cfg.reg_in_task or not cfg.multitask:
                rec = rec + cfg.reg_weight * reg
        if not cfg.multitask:
            return LossOutput(rec, logs)
        total = self.weighting(torch.stack([lp, rec]))  # in TASKS order
        if cfg.reg_weight and not cfg.reg_in_task:
            total = total + cfg.reg_weight * reg
        w = self.weighting.task_weights()
        logs.update(lp_loss=lp.item(), lp_weight=float(w[0]), rec_weight=float(w[1]))
        return LossOutput(total, logs)

    def rec_loss(self, h, users, pos_items, neg_items, neg_users=None) -> torch.Tensor:
        """Recommendation loss (``loss``, ``temperature``) of the pairs ``(users, pos_items)``
        against their negatives, with the recommendation embeddings ``h`` (by node type).

        ``neg_items`` is ``(B, k)``: k negatives per user (full-graph batches); with ``neg_users``
        the negatives are the pairs ``(neg_users, neg_items)`` (a sampled subgraph's negative
        graph: k consecutive pairs per positive)."""
        u = h[USER][users]
        if self.config.loss == "full-softmax":  # every item of h: the whole catalogue in full-graph mode
            return full_softmax_loss(u, h[ITEM], pos_items, self.config.temperature)
        if self.config.loss == "ials":  # likewise; the negatives only enter the L2 term
            return ials_loss(u, h[ITEM], pos_items, self.config.ials_alpha, self._ials_user_weight[users])
        pos = (u * h[ITEM][pos_items]).sum(-1)
        if neg_users is None:
            neg = dot_scores(u, h[ITEM], neg_items)
        else:
            neg = (h[USER][neg_users] * h[ITEM][neg_items]).sum(-1)
        return ranking_loss(pos, neg, self.config.loss, self.config.temperature)

    def lp_loss(self, h, triples: dict) -> torch.Tensor:
        """Link-prediction loss (``lp_loss``, ``temperature``) over ``{relation: (src, dst, fake
        (n, k))}`` with the link-prediction embeddings ``h`` (by node type); zero without triples."""
        pos_l, neg_l = [], []
        for (s_t, _, d_t), (src, dst, fake) in triples.items():
            if len(src) == 0:  # e.g. a rank's shard of a relation with fewer triples than ranks
                continue
            hs = h[s_t][src]
            pos_l.append((hs * h[d_t][dst]).sum(-1))
            neg_l.append(dot_scores(hs, h[d_t], fake.view(len(src), -1)))
        if not pos_l:
            return next(iter(h.values())).new_zeros(())
        return ranking_loss(torch.cat(pos_l), torch.cat(neg_l), self.config.lp_loss, self.config.temperature)

    def loss(self, batch) -> LossOutput:
        """:meth:`rec_loss` (with the L2 term) and, for a multi-task model, :meth:`lp_loss`,
        combined by uncertainty weighting. ``batch``: a :class:`~hetrec.batching.FullGraphBatch`
        or an :class:`~hetrec.batching.EdgeSubgraphBatch`."""
        if isinstance(batch, FullGraphBatch):
            return self._full_graph_loss(batch)
        if isinstance(batch, MiniBatch):
            return self._minibatch_loss(batch)
        return self._subgraph_loss(batch)

    def _subgraph_loss(self, batch) -> LossOutput:
        _, pair, neg_pair, sub = batch[:4]
        # a 5th entry is the batch's seed (EdgeSubgraphBatch.seed); without it (a DGL loader of
        # your own) the global generator is used
        gen = torch.Generator().manual_seed(batch[4]) if len(batch) > 4 else None
        cfg = self.config
        if cfg.multitask:
            lp_pos, mp = self._split_lp_edges(sub, gen)
            self._last_lp_positives = lp_pos  # kept for inspection (leakage tests)
        else:
            mp = sub
        h0 = self.layer0(mp)
        h = self.encode(mp, h0)
        # pair-graph node i of type t is subgraph node i of type t (seeds come first)
        pu, pi = pair.edges(etype=INTERACTS)
        nu, ni = neg_pair.edges(etype=INTERACTS)
        rec = self.rec_loss(h["rec"], pu, pi, ni, neg_users=nu)
        reg = self._reg(h0, pu, pi, ni) if cfg.reg_weight else None
        lp = self.lp_loss(h["lp"], self._lp_triples(sub, lp_pos, gen)) if cfg.multitask else None
        return self._combine(rec, lp, reg)

    def message_graph(self, hidden: dict):
        """The training graph without the edges in ``hidden`` (relation -> edge ids); every
        node is kept with its id, so layer-0 rows still line up."""
        g = self.device_graph
        if not hidden:
            return g
        keep = {}
        for et in g.canonical_etypes:
            mask = torch.ones(g.num_edges(et), dtype=torch.bool, device=g.device)
            if et in hidden:
                mask[hidden[et]] = False
            keep[et] = mask
        return dgl.edge_subgraph(g, keep, relabel_nodes=False, store_ids=False)

    def id_dropout_masks(self, seed: int) -> dict:
        """``{user: mask, item: mask}``: the nodes whose ID embedding a training step zeroes, each
        with probability ``id_dropout``, drawn on the CPU from ``seed`` (the step's own seed)."""
        gen = torch.Generator().manual_seed(int(seed) + 1)  # +1: not the contrastive noise's stream
        g = self.device_graph
        return {t: (torch.rand(g.num_nodes(t), generator=gen, device=gen.device) < self.config.id_dropout).to(g.device)
                for t in (USER, ITEM)}

    def _full_graph_loss(self, batch: FullGraphBatch) -> LossOutput:
        cfg = self.config
        h0 = self.layer0(self.device_graph)
        mp = self.message_graph(batch.hidden)
        cl, cold = None, None
        if cfg.id_dropout and self.training:
            if batch.seed is None:
                raise ValueError("id_dropout > 0 needs batches with a seed (FullGraphBatches(draw_seeds=True))")
            cold = self.id_dropout_masks(batch.seed)
            h0_mp = {t: (x.masked_fill(cold[t].unsqueeze(1), 0.0) if t in cold else x) for t, x in h0.items()}
        else:
            h0_mp = h0
        if cfg.cl_weight and self.training:
            if batch.seed is None:
                raise ValueError("cl_weight > 0 needs batches with a seed (FullGraphBatches(draw_seeds=True))")
            seqs = self.propagate(mp, h0_mp, torch.Generator().manual_seed(batch.seed))
            h = self.task_heads([self.combine_layers(seq, cold) for seq in seqs])
            view = seqs[-1][cfg.cl_layer]  # the recommendation stack: the last one (TASKS order)
            cl = self.cl_loss(h["rec"], view, batch.users, batch.pos_items)
        elif cold is not None:
            h = self.task_heads([self.combine_layers(seq, cold) for seq in self.propagate(mp, h0_mp)])
        else:
            h = self.encode(mp, h0)
        rec = self.rec_loss(h["rec"], batch.users, batch.pos_items, batch.neg_items)
        reg = self._reg(h0, batch.users, batch.pos_items, batch.neg_items) if cfg.reg_weight else None
        lp = self.lp_loss(h["lp"], batch.lp) if cfg.multitask else None
        out = self._combine(rec, lp, reg)
        if cl is None:
            return out
        return LossOutput(out.loss + cfg.cl_weight * cl, {**out.logs, "cl": float(cl.detach())})

    # -- mini-batch mode ---------------------------------------------------------------------
    def _relation_logits(self) -> list:
        """Each light layer's relation logits ``(R, heads)`` (None: no attention)."""
        return [layer.relation_logit if layer.attention == "relation" else None for layer in self.gnns[0]]

    def history(self, refresh: bool = False):
        """The :class:`~hetrec.models._history.HistoricalPropagation` of the training graph on the
        model's device, with a snapshot of the current parameters (taken now when ``refresh``,
        when there is none, or when the device changed)."""
        from ._history import HistoricalPropagation

        hp = self._history
        if hp is None or hp.src.device != self.device:
            hp = self._history = HistoricalPropagation(self.device_graph, self.config.norm, self.config.history_draw)
        if refresh or hp.history is None:
            with torch.no_grad():
                hp.refresh(self.propagate(self.device_graph)[0], self._relation_logits())
            self._steps_since_refresh = 0
        return hp

    def layer0_global(self, ids: torch.Tensor) -> torch.Tensor:
        """Layer-0 rows (ID embeddings) of global node ids (:class:`HistoricalPropagation`)."""
        hp = self._history
        out = None
        for t in hp.ntypes:
            table = self.proj[t]
            lo = hp.offset[t]
            mask = (ids >= lo) & (ids < lo + table.num_embeddings)
            if not mask.any():
                continue
            rows = table(ids[mask] - lo)
            if out is None:
                out = rows.new_zeros(len(ids), rows.shape[1])
            out = out.index_put((mask.nonzero().flatten(),), rows)
        return out

    def _minibatch_loss(self, batch: MiniBatch) -> LossOutput:
        cfg = self.config
        every = cfg.history_refresh if cfg.history_refresh > 0 else cfg.history_max_age
        refresh = self._history is None or (cfg.history_refresh == 0 and batch.first) or (
            every is not None and self._steps_since_refresh >= every)
        hp = self.history(refresh=refresh)
        self._steps_since_refresh += 1
        lp = batch.lp if cfg.multitask else None
        if cfg.multitask and lp is None:
            raise ValueError("a multi-task model needs mini-batches with link-prediction triples "
                             "(MiniBatches(..., lp_relations=...))")
        hidden = None
        if cfg.drop_batch_edges:
            # the edges of this batch as it reaches the model: in data-parallel training each rank
            # hides its own shard's predicted edges (full-graph training hides the whole batch's)
            pairs = torch.unique(batch.users * self.graph.num_nodes(ITEM) + batch.pos_items)
            n_items = self.graph.num_nodes(ITEM)
            hidden = hp.hidden_edges(INTERACTS, pairs // n_items, pairs % n_items, self.reverse[INTERACTS])
            if lp:
                parts = [hidden] + [hp.hidden_edges(et, src, dst, self.reverse[et]) for et, (src, dst, _) in lp.items()]
                hidden = unique_edges(parts, hp.num_nodes, len(hp.etypes))
        if self._train_keys.device != batch.neg_items.device:
            self._train_keys = self._train_keys.to(batch.neg_items.device)
        return self.history_loss(hp, batch.users, batch.pos_items, batch.neg_items, batch.seed, self.layer0_global,
                                 hidden, self._train_keys, self.graph.num_nodes(ITEM), lp=lp)

    def history_loss(self, hp, users, pos_items, neg_items, seed: int, h0_fn, hidden, train_keys,
                     num_items: int, lp: dict | None = None) -> LossOutput:
        """The mini-batch mode's loss of one step: ``users`` / ``pos_items`` (``(B,)``, ids by type)
        and their negatives ``neg_items`` ``(B, k)``, propagated by ``hp`` (a
        :class:`~hetrec.models._history.HistoricalPropagation` or another store of the graph with
        its interface, e.g. the partitioned one of :mod:`hetrec.distributed.minibatch`) with the
        neighbour draws of ``seed``, layer 0 from ``h0_fn(global ids)`` and the edges ``hidden``
        left out. A negative that is one of the user's training items (``train_keys``: the sorted
        ``user * num_items + item`` of the training interactions) is masked out of the loss.

        A multi-task model also takes ``lp`` (:attr:`~hetrec.batching.MiniBatch.lp`: link-prediction
        triples by relation, local ids): their nodes join the step's targets, MMoE maps every
        target's propagated representation to its task embeddings (per node, so the rows a step
        computes are the rows full-graph training computes), and :meth:`lp_loss`'s term is
        combined with the recommendation loss by uncertainty weighting, as in full-graph training.
        The fake destinations are propagation targets too: a step computes up to
        ``lp_edges_per_relation · (2 + lp_negatives)`` more nodes per relation (constants, not the
        graph's size)."""
        cfg = self.config
        if cfg.multitask and lp is None:
            raise ValueError("a multi-task model's mini-batch loss needs link-prediction triples (lp=)")
        gu, gp, gn = (hp.global_ids(USER, users), hp.global_ids(ITEM, pos_items), hp.global_ids(ITEM, neg_items))
        parts = [gu, gp, gn.flatten()]
        lp_global = {}
        for (s_t, _, d_t), (src, dst, fake) in (lp or {}).items():
            g3 = (hp.global_ids(s_t, src), hp.global_ids(d_t, dst), hp.global_ids(d_t, fake))
            lp_global[(s_t, d_t, len(lp_global))] = g3
            parts += [g3[0], g3[1], g3[2].flatten()]
        targets, inverse = unique_inverse(torch.cat(parts), hp.num_nodes)
        pieces = inverse.split([len(x) for x in parts])
        ru, rp, rn = pieces[:3]
        rn = rn.view(gn.shape)
        gen = torch.Generator().manual_seed(int(seed))
        seq, frontiers = hp.propagate(targets, h0_fn, self._relation_logits(), cfg.num_heads,
                                      cfg.history_fanout, gen, hidden)
        z = torch.stack(seq).mean(0) if cfg.combine == "mean" else seq[-1]
        lp_term = None
        if cfg.multitask:
            z, z_lp = self._task_rows(hp, targets, z)
            pos_l, neg_l = [], []
            for n, (src, _, _) in enumerate(lp_global.values()):
                if len(src) == 0:  # a shard without triples of this relation
                    continue
                rs, rd, rf = pieces[3 + 3 * n: 6 + 3 * n]
                hs = z_lp[rs]
                pos_l.append((hs * z_lp[rd]).sum(-1))
                neg_l.append(dot_scores(hs, z_lp, rf.view(len(src), -1)))
            lp_term = (ranking_loss(torch.cat(pos_l), torch.cat(neg_l), cfg.lp_loss, cfg.temperature)
                       if pos_l else z.new_zeros(()))
        u = z[ru]
        pos_s = (u * z[rp]).sum(-1)
        neg_s = dot_scores(u, z, rn)  # (B, k)
        keys = train_keys
        if len(keys):
            key = users.unsqueeze(1) * num_items + neg_items
            at = torch.searchsorted(keys, key).clamp(max=len(keys) - 1)
            neg_s = neg_s.masked_fill(keys[at] == key, -1e9)
        rec = ranking_loss(pos_s, neg_s, cfg.loss, cfg.temperature)
        reg = None
        if cfg.reg_weight:
            h0 = seq[0]
            b = max(len(gu), 1)
            reg = 0.5 * (h0[ru].pow(2).sum() + h0[rp].pow(2).sum() + h0.pow(2).sum(-1)[rn].mean(1).sum()) / b
        out = self._combine(rec, lp_term, reg)
        return LossOutput(out.loss, {**out.logs, "step_nodes": float(len(frontiers[0]))})

    def _task_rows(self, hp, targets: torch.Tensor, z: torch.Tensor) -> tuple:
        """``(rec, lp)`` task embeddings of the rows ``z`` of the sorted global ids ``targets``
        (each node type a contiguous range of them): MMoE per node type, as :meth:`task_heads`."""
        bounds = torch.tensor([hp.offset[t] for t in hp.ntypes] + [hp.num_nodes], device=targets.device)
        cuts = torch.searchsorted(targets, bounds).tolist()
        by_type = {t: z[cuts[n]:cuts[n + 1]] for n, t in enumerate(hp.ntypes) if cuts[n + 1] > cuts[n]}
        heads = self.mmoe(by_type)
        return (torch.cat([heads["rec"][t] for t in by_type]), torch.cat([heads["lp"][t] for t in by_type]))

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Load parameters; the mini-batch mode's snapshot of the old ones is dropped."""
        self._history = None
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def cl_loss(self, final: dict, view: dict, users, items) -> torch.Tensor:
        """XSimGCL's contrastive term: InfoNCE between the final recommendation embeddings and the
        noisy layer-``cl_layer`` outputs, over the batch's unique users plus its unique items."""
        tau = self.config.cl_temperature
        u, i = torch.unique(users), torch.unique(items)
        return (info_nce(final[USER][u], view[USER][u], tau)
                + info_nce(final[ITEM][i], view[ITEM][i], tau))

    # -- inference ---------------------------------------------------------------------------
    def embeddings(self):
        h = self.encode(self.device_graph)["rec"]
        return h[USER], h[ITEM]

    def inductive_embeddings(self, graph, new: dict | None = None) -> dict:
        r"""Recommendation embeddings (by node type) of every node of ``graph``, including nodes
        the model was not trained on, without retraining.

        ``graph`` has the training graph's node types and relations; it may hold more nodes of
        a type than the model was trained with (new nodes are the ids past the trained ones) and
        any edges, e.g. a new user's attribute edges and first interactions. ``new`` (node type
        -> ids) names further nodes to treat as unknown, e.g. a cold-start fold's cold nodes,
        whose ID embeddings never met an interaction. The rule (docs/coldstart.md): an unknown
        node's layer 0 is zero, :math:`H^0_v = 0`; the trained layers propagate over ``graph`` as
        in training, so :math:`H^1_v` is the normalised sum of its neighbours' embeddings
        (attributes, revealed items); its representation averages :math:`H^1..H^K` (its zero
        :math:`H^0` left out, :meth:`combine_layers`). Training with ``id_dropout`` teaches the
        layers this case. With ``cold_init="mean"`` an unknown node's layer 0 is instead the mean
        of its known in-neighbours' layer-0 embeddings over every relation (an imputed ID
        embedding), and it averages :math:`H^0..H^K` as a trained node does; a node without any
        known neighbour keeps the zero rule. With ``cold_init="map"`` an unknown user's or item's
        representation is an attribute map's (:mod:`hetrec.models.attrmap`: a ridge regression
        from attribute values to the representations of the known nodes of its type that have
        interactions, fitted here, ``cold_map_degree`` / ``cold_map_l2``) plus the change that its
        own interaction edges in ``graph`` (revealed ones) make to its zero-rule representation;
        an attribute value the training graph lacks is a ``ValueError`` naming it.
        """
        cfg = self.config
        if cfg.projection:
            raise NotImplementedError("inductive embeddings need ID embeddings as layer 0 (projection=False); "
                                      "the paper's recipe (mthgt-paper) projects them and cannot embed new nodes")
        if cfg.item_neighbors:
            raise NotImplementedError("inductive embeddings with item_neighbors > 0 are not supported: the "
                                      "item-item relation is built from training interactions only")
        full_graph = graph
        if cfg.relations == "interactions":
            graph = dgl.edge_type_subgraph(graph, [INTERACTS, INTERACTED_BY])
        missing = sorted(set(map(tuple, self.graph.canonical_etypes)) - set(map(tuple, graph.canonical_etypes)))
        extra = sorted(set(map(tuple, graph.canonical_etypes)) - set(map(tuple, self.graph.canonical_etypes)))
        if missing or extra:
            raise ValueError(f"the graph's relations differ from the ones the model was trained on: "
                             f"missing {missing}, unknown {extra}")
        graph = graph.to(self.device)
        h0, cold = {}, {}
        for t in graph.ntypes:
            n, table = graph.num_nodes(t), self.proj[t]
            mask = torch.arange(n, device=graph.device) >= table.num_embeddings
            if new and t in new:
                ids = torch.as_tensor(new[t], dtype=torch.int64, device=graph.device)
                if len(ids) and (ids.min() < 0 or ids.max() >= n):
                    raise ValueError(f"new {t} ids must lie in [0, {n})")
                mask[ids] = True
            known = torch.arange(min(n, table.num_embeddings), device=graph.device)
            h = torch.zeros(n, cfg.hidden_size, device=graph.device)
            h[known] = table(known)
            h0[t] = h.masked_fill(mask.unsqueeze(1), 0.0)
            cold[t] = mask
        if cfg.cold_init == "mean":
            h0, cold = self._impute_layer0(graph, h0, cold)
        with torch.no_grad():
            rep = self._represent(graph, h0, cold)
            if cfg.cold_init == "map":
                rep = self._map_unknown(full_graph, graph, h0, cold, rep)
            return rep

    def _represent(self, graph, h0: dict, cold: dict) -> dict:
        """Recommendation representations of every node of ``graph`` from layer 0 ``h0``."""
        seqs = self.propagate(graph, h0)
        return self.task_heads([self.combine_layers(seq, cold) for seq in seqs])["rec"]

    def _map_unknown(self, full_graph, graph, h0: dict, cold: dict, rep: dict) -> dict:
        """``cold_init="map"``: each unknown user's and item's representation is the attribute
        map's (:func:`hetrec.models.attrmap.map_representations`, fitted on the known nodes of its
        type that have interactions in ``graph``, their representations ``rep`` its targets) plus
        the change its own interaction edges in ``graph`` (revealed ones) make to its representation
        by the zero rule: ``rep`` minus the representation with those edges removed."""
        from .attrmap import map_representations

        cfg = self.config
        drop = {}
        for et in (INTERACTS, INTERACTED_BY):
            src, dst = graph.edges(etype=et)
            hit = cold[et[0]][src] | cold[et[2]][dst]
            if hit.any():
                drop[et] = hit.nonzero().flatten()
        base = rep
        if drop:
            bare = graph
            for et, eids in drop.items():
                bare = dgl.remove_edges(bare, eids, etype=et)
            base = self._represent(bare, h0, cold)
        cpu_graph = full_graph.to("cpu")
        out = dict(rep)
        for t, et in ((USER, INTERACTS), (ITEM, INTERACTED_BY)):
            if t not in cold or not cold[t].any():
                continue
            fit = (~cold[t] & (graph.out_degrees(etype=et) > 0)).nonzero().flatten().cpu().numpy()
            predict = cold[t].nonzero().flatten()
            # the training graph's attribute values lay the columns out; a value it lacks is refused
            sizes = {et[2]: self.graph.num_nodes(et[2]) for et in self.graph.canonical_etypes
                     if et[0] == t and et[2] in attribute_ntypes(self.graph)}
            mapped = map_representations(cpu_graph, t, rep[t].double().cpu().numpy(), fit, predict.cpu().numpy(),
                                         degree=cfg.cold_map_degree, l2=cfg.cold_map_l2, sizes=sizes)
            mapped = torch.as_tensor(mapped, dtype=rep[t].dtype, device=rep[t].device)
            out[t] = rep[t].clone()
            out[t][predict] = mapped + rep[t][predict] - base[t][predict]
        return out

    @staticmethod
    def _impute_layer0(graph, h0: dict, cold: dict) -> tuple:
        """``cold_init="mean"``: every unknown node's layer 0 set to the mean of its known
        in-neighbours' layer 0 over all relations (one vectorised pass per relation); the nodes
        that got one are no longer treated as unknown by :meth:`combine_layers`."""
        sums = {t: torch.zeros_like(h0[t]) for t in cold}
        counts = {t: torch.zeros(len(h0[t]), device=h0[t].device) for t in cold}
        for s_t, r, d_t in graph.canonical_etypes:
            if not cold[d_t].any():
                continue
            src, dst = graph.edges(etype=(s_t, r, d_t))
            keep = cold[d_t][dst] & ~cold[s_t][src]
            src, dst = src[keep], dst[keep]
            sums[d_t].index_add_(0, dst, h0[s_t][src])
            counts[d_t].index_add_(0, dst, torch.ones(len(dst), device=dst.device))
        out, still = dict(h0), {}
        for t in cold:
            got = cold[t] & (counts[t] > 0)
            out[t] = torch.where(got.unsqueeze(1), sums[t] / counts[t].clamp(min=1).unsqueeze(1), h0[t])
            still[t] = cold[t] & ~got
        return out, still

    def cold_start_scorer(self, graph, cold: dict):
        """``score_fn(users)`` over every item of ``graph`` from :meth:`inductive_embeddings`."""
        h = self.inductive_embeddings(graph, cold)
        user, item = h[USER], h[ITEM]
        return lambda users: user[users.to(user.device)] @ item.T
