"""MTHGT: Multi-Task Heterogeneous Graph Transformer (Luo, Liu & Yang 2023) and its ablations.

Pipeline for one training batch (DESIGN §5):

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

Ablations (paper Fig. 4) are presets of this class (see ``hetrec.models.MODELS``):
``hgt`` (single task, uniform sampling), ``hgt-d`` (single task, dense sampling),
``hgt-m`` (two tasks + MMoE, uniform sampling), ``mthgt`` (both). A single-task model has no
MMoE and no uncertainty weighting: its GNN output is the embedding.

For ranking, user and item embeddings come from full-graph inference on the training graph.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import dgl
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..data.schema import INTERACTED_BY, INTERACTS, ITEM, USER, reverse_etypes
from ..nn import HGTLayer, MMoE, NodeTypeProjection, UncertaintyWeighting
from .base import LossOutput, Recommender

# single-process loading: DGL's advice on CPU affinity concerns DataLoader worker processes
warnings.filterwarnings("ignore", message="Dataloader CPU affinity")


@dataclass
class MTHGTConfig:
    """Hyper-parameters of MTHGT (defaults: the paper's setting where it gives one)."""

    hidden_size: int = 64
    num_layers: int = 2
    num_heads: int = 4
    dropout: float = 0.2
    use_norm: bool = False
    #: two tasks (link prediction + recommendation) with MMoE; False: recommendation only
    multitask: bool = True
    #: one GNN stack shared by both tasks instead of one per task
    shared_gnn: bool = False
    num_experts: int = 4
    #: "dense" (DenseSubgraphSampler, Eq. 2) or "uniform" (uniform neighbour sampling)
    sampler: str = "dense"
    batch_size: int = 1024
    depth: int = 2
    width: int = 128
    max_neighbors: int | None = None
    #: optional cap on in-edges per node and relation inside the subgraph (DESIGN cost note)
    max_in_edges: int | None = None
    #: neighbours per relation and hop for the uniform sampler (``ShaDowKHopSampler``)
    fanout: int = 2
    num_negatives: int = 1
    #: "uniform" (DGL's Uniform) or "in-batch" (:class:`~hetrec.sampling.InBatchNegativeSampler`)
    negatives: str = "uniform"
    lp_edges_per_relation: int = 256


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


def _pairwise_loss(pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """BPR: mean of ``softplus(neg − pos)``; ``neg`` holds ``k`` negatives per positive in a row."""
    k = neg.numel() // max(pos.numel(), 1)
    return F.softplus(neg - pos.repeat_interleave(k)).mean()


class MTHGT(Recommender):
    """MTHGT and its ablations. See the module docstring for the equations and pipeline."""

    name = "mthgt"
    Config = MTHGTConfig

    def setup(self, split) -> None:
        cfg = self.config
        if cfg.sampler not in ("dense", "uniform"):
            raise ValueError(f"sampler must be 'dense' or 'uniform', got {cfg.sampler!r}")
        if cfg.negatives not in ("uniform", "in-batch"):
            raise ValueError(f"negatives must be 'uniform' or 'in-batch', got {cfg.negatives!r}")
        g = split.train_graph
        self.graph = g
        self.reverse = reverse_etypes(g)
        self.lp_relations = _pair_relations(g)
        self.proj = NodeTypeProjection(g.ntypes, {t: g.num_nodes(t) for t in g.ntypes}, None,
                                       cfg.hidden_size)
        num_stacks = 2 if cfg.multitask and not cfg.shared_gnn else 1
        self.gnns = nn.ModuleList([
            nn.ModuleList([HGTLayer(cfg.hidden_size, cfg.hidden_size, g.ntypes, g.canonical_etypes,
                                    num_heads=cfg.num_heads, dropout=cfg.dropout, use_norm=cfg.use_norm)
                           for _ in range(cfg.num_layers)])
            for _ in range(num_stacks)])
        if cfg.multitask:
            self.mmoe = MMoE(cfg.hidden_size, cfg.hidden_size, cfg.num_experts, 2, ntypes=g.ntypes,
                             dropout=cfg.dropout)
            self.weighting = UncertaintyWeighting(2)

    # -- sampling ----------------------------------------------------------------------------
    def make_sampler(self):
        """The node-induced subgraph sampler of this variant."""
        from ..sampling import DenseSubgraphSampler

        cfg = self.config
        if cfg.sampler == "dense":
            return DenseSubgraphSampler(cfg.depth, cfg.width, max_neighbors=cfg.max_neighbors,
                                        max_in_edges=cfg.max_in_edges)
        # uniform neighbour sampling with the same node-induced contract: DGL's ShaDow-k-hop
        fanout = {et: cfg.fanout for et in self.graph.canonical_etypes}
        return dgl.dataloading.ShaDowKHopSampler([fanout] * cfg.depth)

    def make_negative_sampler(self):
        k = self.config.num_negatives
        if self.config.negatives == "in-batch":
            from ..sampling import InBatchNegativeSampler

            return InBatchNegativeSampler(k)
        return dgl.dataloading.negative_sampler.Uniform(k)

    def train_batches(self, generator):
        g = self.graph
        seed = int(torch.randint(2**31 - 1, (1,), generator=generator))
        torch.manual_seed(seed)  # DGL's DataLoader, negative sampler and our samplers draw from it
        dgl.seed(seed)
        edge_sampler = dgl.dataloading.as_edge_prediction_sampler(
            self.make_sampler(), exclude="reverse_types",
            reverse_etypes={INTERACTS: INTERACTED_BY, INTERACTED_BY: INTERACTS},
            negative_sampler=self.make_negative_sampler())
        eids = torch.arange(g.num_edges(INTERACTS))
        return dgl.dataloading.DataLoader(g, {INTERACTS: eids}, edge_sampler,
                                          batch_size=self.config.batch_size, shuffle=True)

    # -- encoder -----------------------------------------------------------------------------
    def encode(self, g) -> list:
        """Task embeddings (a list of dicts by node type) for the nodes of ``g``: one entry
        (recommendation) for a single-task model, ``[link prediction, recommendation]`` otherwise."""
        h0 = self.proj(g)
        outs = []
        for layers in self.gnns:
            h = h0
            for layer in layers:
                h = layer(g, h)
            outs.append(h)
        if not self.config.multitask:
            return outs
        if self.config.shared_gnn:
            return self.mmoe(outs[0])
        return [self.mmoe(outs[k])[k] for k in range(2)]

    def _split_lp_edges(self, sub):
        """Draw link-prediction positives per relation; return them and the graph without them
        (and without their reverses)."""
        cap = self.config.lp_edges_per_relation
        positives, remove = {}, {}
        for et in self.lp_relations:
            n = sub.num_edges(et)
            if n == 0:
                continue
            pick = torch.randperm(n)[:cap]
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

    def loss(self, batch) -> LossOutput:
        _, pair, neg_pair, sub = batch
        cfg = self.config
        if cfg.multitask:
            lp_pos, mp = self._split_lp_edges(sub)
            self._last_lp_positives = lp_pos  # kept for inspection (leakage tests)
        else:
            mp = sub
        embs = self.encode(mp)
        h_rec = embs[-1]
        # pair-graph node i of type t is subgraph node i of type t (seeds come first)
        pu, pi = pair.edges(etype=INTERACTS)
        nu, ni = neg_pair.edges(etype=INTERACTS)
        pos = (h_rec[USER][pu] * h_rec[ITEM][pi]).sum(-1)
        neg = (h_rec[USER][nu] * h_rec[ITEM][ni]).sum(-1)
        rec_loss = _pairwise_loss(pos, neg)
        if not cfg.multitask:
            return LossOutput(rec_loss, {"rec_loss": rec_loss.item()})
        h_lp = embs[0]
        pos_l, neg_l = [], []
        for (s_t, _, d_t), (src, dst) in lp_pos.items():
            fake = torch.randint(0, sub.num_nodes(d_t), dst.shape)
            pos_l.append((h_lp[s_t][src] * h_lp[d_t][dst]).sum(-1))
            neg_l.append((h_lp[s_t][src] * h_lp[d_t][fake]).sum(-1))
        if pos_l:
            lp_loss = _pairwise_loss(torch.cat(pos_l), torch.cat(neg_l))
        else:
            lp_loss = rec_loss.new_zeros(())
        total = self.weighting(torch.stack([lp_loss, rec_loss]))
        logs = {"lp_loss": lp_loss.item(), "rec_loss": rec_loss.item()}
        w = self.weighting.task_weights()
        logs.update(lp_weight=float(w[0]), rec_weight=float(w[1]))
        return LossOutput(total, logs)

    # -- inference ---------------------------------------------------------------------------
    def embeddings(self):
        h = self.encode(self.graph)[-1]
        return h[USER], h[ITEM]
