"""HIN2Vec (Fu, Lee & Lei, CIKM 2017): node and meta-path vectors from relation prediction.

Training data are triples :math:`\\langle x, y, r \\rangle`: two nodes that appear within
``window`` steps of each other on a random walk over the heterogeneous graph, and the
meta-path :math:`r` that the walk followed between them (the sequence of relations, e.g.
``interacts`` or ``interacts → interacted_by → interacts``). HIN2Vec predicts whether
:math:`x` and :math:`y` are related by :math:`r`:

.. math::

    P(r \\mid x, y) = \\sigma\\Big(\\sum_{d} \\big(W_X^\\top \\vec x \\odot W_Y^\\top \\vec y
                      \\odot f_{01}(W_R^\\top \\vec r)\\big)_d\\Big)

trained with binary cross-entropy: observed triples are positives, and each is paired with
``num_negatives`` triples whose :math:`y` is replaced by a uniformly drawn node of the same
type (the paper's type-aware negative sampling). As in the paper's experiments :math:`W_X`
and :math:`W_Y` are one matrix (one vector per node), and :math:`f_{01}` maps a meta-path
vector into :math:`[0, 1]`: ``"step"`` (the paper's preferred binary step, trained here with
the sigmoid's gradient as a straight-through estimator) or ``"sigmoid"``. Pairs with
:math:`x = y` (a walk returning to its start, the paper's "cycles") are dropped.

Walks are meta-path guided (``dgl.sampling.random_walk(g, seeds, metapath=...)``): for every
relation from ``user`` or ``item`` to a node type, the cycle ``[relation, reverse]`` (or
``[relation]`` for a ``user``–``user`` relation such as ``friend``) is repeated to
``walk_length`` steps and walked from every node of the relation's source type. On MovieLens
this gives user–item–user, user–gender–user, …, item–user–item, item–genre–item; on Last.FM
user–item–user, user–friend–user, user–tag–user, item–user–item, item–tag–item.

Scoring is HIN2Vec's own prediction for the relation ``interacts``:
``score(u, i) = Σ_d W[u] ⊙ f01(W_R[interacts]) ⊙ W[i]``, so ``user_emb = W[u] ⊙ f01(W_R[r])``
and ``item_emb = W[i]``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..batching import WalkTripleBatches
from ..data.schema import INTERACTS, ITEM, USER, reverse_etypes
from .base import LossOutput, Recommender


@dataclass
class HIN2VecConfig:
    """Hyper-parameters of :class:`HIN2Vec` (the paper's values in brackets)."""

    #: node and meta-path vector size [paper 128]
    embedding_size: int = 64
    #: steps per walk [paper 100 on plain walks; short metapath walks suit small graphs]
    walk_length: int = 12
    #: walks started from every node, per metapath and per epoch [paper 10 in total]
    walks_per_node: int = 1
    #: largest distance between x and y on a walk, i.e. longest meta-path [paper 4]
    window: int = 4
    #: corrupted triples per observed triple [paper 5]
    num_negatives: int = 5
    #: "step" (binary step, straight-through gradient) or "sigmoid" [paper "step"]
    regularization: str = "step"
    #: triples per training batch (large, because every step updates the whole node table with Adam)
    batch_size: int = 4096


def _straight_through_step(z: torch.Tensor) -> torch.Tensor:
    """Binary step ``1[z > 0]`` forward, the sigmoid's gradient backward."""
    s = torch.sigmoid(z)
    return (z > 0).to(z.dtype) + s - s.detach()


def walk_metapaths(g) -> list:
    """The meta-path cycles walked: ``[r, reverse(r)]`` for every relation ``r`` from ``user``
    or ``item`` to another node type, ``[r]`` for a relation from a type to itself."""
    rev = reverse_etypes(g)
    cycles = []
    for et in g.canonical_etypes:
        src, _, dst = et
        if src not in (USER, ITEM) or g.num_edges(et) == 0:
            continue
        cycles.append([et] if src == dst else [et, rev[et]])
    return cycles


class HIN2Vec(Recommender):
    """HIN2Vec node vectors scored by the learned ``interacts`` relation (module docstring)."""

    name = "hin2vec"
    Config = HIN2VecConfig

    def setup(self, split) -> None:
        cfg = self.config
        if cfg.regularization not in ("step", "sigmoid"):
            raise ValueError(f"regularization must be 'step' or 'sigmoid', got {cfg.regularization!r}")
        if cfg.window < 1 or cfg.walk_length < 1:
            raise ValueError("window and walk_length must be positive")
        g = split.train_graph
        self.graph = g
        counts = torch.tensor([g.num_nodes(t) for t in g.ntypes])
        self.type_index = {t: i for i, t in enumerate(g.ntypes)}
        self.type_offset = torch.cat([torch.zeros(1, dtype=torch.long), counts.cumsum(0)])
        self.num_users, self.num_items = g.num_nodes(USER), g.num_nodes(ITEM)

        # every walk's relation sequence, node types per position, and the id of the meta-path
        # between positions p and p + k (one vocabulary shared by all walks)
        self.walks = []
        vocab = {}
        for cycle in walk_metapaths(g):
            path = (cycle * (cfg.walk_length // len(cycle) + 1))[: cfg.walk_length]
            types = [path[0][0]] + [et[2] for et in path]
            L = len(path)
            rel = torch.full((L, cfg.window), -1, dtype=torch.long)
            for k in range(1, min(cfg.window, L) + 1):
                for p in range(L - k + 1):
                    rel[p, k - 1] = vocab.setdefault(tuple(path[p:p + k]), len(vocab))
            offsets = self.type_offset[[self.type_index[t] for t in types]]
            self.walks.append((path, offsets, rel))
        self.metapaths = list(vocab)
        self.interacts_relation = vocab.get((INTERACTS,))

        d = cfg.embedding_size
        self.node_emb = nn.Embedding(int(counts.sum()), d)  # W_X = W_Y
        self.path_emb = nn.Embedding(max(1, len(vocab)), d)  # W_R
        nn.init.normal_(self.node_emb.weight, std=0.1)
        nn.init.normal_(self.path_emb.weight, std=0.1)
        # node type of every global node id, for type-aware negatives
        self.register_buffer("_node_type", torch.repeat_interleave(
            torch.arange(len(counts)), counts), persistent=False)
        self.batch_builder = WalkTripleBatches(g, self.walks, cfg.window, cfg.walks_per_node, self.type_offset,
                                               cfg.batch_size, cfg.num_negatives)

    def f01(self, z: torch.Tensor) -> torch.Tensor:
        if self.config.regularization == "step":
            return _straight_through_step(z)
        return torch.sigmoid(z)

    # -- training data -------------------------------------------------------------------------
    def triples(self, generator: torch.Generator) -> tuple:
        """``(x, y, r)`` of one epoch's walks (:meth:`hetrec.batching.WalkTripleBatches.triples`)."""
        return self.batch_builder.triples(generator)

    def logits(self, x, y, r) -> torch.Tensor:
        """``Σ_d W[x] ⊙ W[y] ⊙ f01(W_R[r])``; ``y`` may carry an extra trailing dimension."""
        hx = self.node_emb(x) * self.f01(self.path_emb(r))
        if y.dim() > x.dim():
            return (hx.unsqueeze(1) * self.node_emb(y)).sum(-1)
        return (hx * self.node_emb(y)).sum(-1)

    def loss(self, batch) -> LossOutput:
        pos = self.logits(batch["x"], batch["y"], batch["r"])
        neg = self.logits(batch["x"], batch["y_neg"], batch["r"])
        scores = torch.cat([pos, neg.reshape(-1)])
        labels = torch.cat([torch.ones_like(pos), torch.zeros_like(neg.reshape(-1))])
        loss = F.binary_cross_entropy_with_logits(scores, labels)
        return LossOutput(loss, {"bce": float(loss),
                                 "pos_above_neg": float((pos.unsqueeze(1) > neg).float().mean())})

    # -- inference -----------------------------------------------------------------------------
    def node_vectors(self, ntype: str) -> torch.Tensor:
        start = int(self.type_offset[self.type_index[ntype]])
        return self.node_emb.weight[start:start + self.graph.num_nodes(ntype)]

    def embeddings(self) -> tuple:
        users, items = self.node_vectors(USER), self.node_vectors(ITEM)
        if self.interacts_relation is None:  # no user→item step on any walk: plain inner product
            return users, items
        rel = self.f01(self.path_emb.weight[self.interacts_relation])
        return users * rel, items
