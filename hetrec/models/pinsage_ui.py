r"""PinSage on the user–item graph (Ying et al., KDD 2018), as the NGCF paper runs it: BPR-trained.

The graph is the bipartite training graph (users and items, the ``interacts`` relation of the
training split). Its importance neighbourhoods come from restart random walks: from a user,
``user → item → user → …`` with at most ``num_traversals`` item visits, the walk stopping with
probability ``termination_prob`` after each; :math:`\mathcal N(u)` is the ``T`` items
(``num_neighbors``) most visited by ``num_random_walks`` such walks, and :math:`\alpha_{uv}`
the visit count of :math:`v`. Symmetrically, an item's neighbourhood is the ``T`` users most
visited by walks ``item → user → item → …`` from it. Layer :math:`k = 1..K` (Algorithm 1,
CONVOLVE), with parameters shared by users and items (GraphSAGE on the user–item graph):

.. math::

    n^{(k)}_v &= \frac{\sum_{w \in \mathcal N(v)} \alpha_{vw}\,
                       \mathrm{ReLU}\big(Q_k h^{(k-1)}_w + q_k\big)}
                      {\sum_{w \in \mathcal N(v)} \alpha_{vw}} \\
    z^{(k)}_v &= \mathrm{ReLU}\big(W_k \,[\,h^{(k-1)}_v \,\|\, n^{(k)}_v\,] + w_k\big), \qquad
    h^{(k)}_v = z^{(k)}_v / \lVert z^{(k)}_v \rVert_2

(the normalisation is kept by default, as it helps: Last.FM fold-0 validation NDCG@10 0.113
with it, 0.075 without, both at lr 5e-3; ``normalize=False`` leaves it out), with
:math:`h^{(0)}` the free ID embeddings, drawn from :math:`\mathcal N(0, 0.1^2)`. The
representation is the concatenation of the layers, as NGCF does (``combine="concat"``, the default:
:math:`e_v = h^{(0)}_v \| h^{(1)}_v \| \dots \| h^{(K)}_v`), or the last layer alone
(``combine="last"``: :math:`e_v = h^{(K)}_v`, the paper's output before its dense layers
:math:`G_1, G_2`; a non-negative unit vector, so scores stay in [0, 1] and BPR stalls:
validation 0.006), or the ID embedding beside the paper's dense layers on the last one
(``combine="head"``: :math:`e_v = h^{(0)}_v \| G_2\,\mathrm{ReLU}(G_1 h^{(K)}_v + g)`);
:math:`\hat y_{ui} = e_u^\top e_i`. Training: BPR with
the L2 term on the batch's layer-0 embeddings (:mod:`hetrec.models._bpr`).

Neighbourhoods are re-sampled for every training batch (the paper's), from the batch's seed,
for the whole graph at once (one batch of 2048 triples touches most users and, through
two layers, most items: sampling for all nodes costs the same and keeps one code path);
inference uses fixed neighbourhoods, sampled once in ``setup`` with ``inference_random_walks``
walks per node from the setting ``seed``. The walks are a vectorised numpy equivalent of
``dgl.sampling.random_walk`` with the metapath ``interacts, interacted_by, …`` and a restart
probability after each visit (:func:`random_walks`, the same traces' format; about three times
faster than DGL's on one thread, and seeded by a numpy generator from the batch's seed alone,
so no global generator is touched). Validation numbers behind the defaults:
``docs/baselines_pinsage_hin2vec.md``, section "User–item PinSage".
"""
from __future__ import annotations

from dataclasses import dataclass

import dgl
import numpy as np
import scipy.sparse as sp
import torch

from ..batching import BPRBatch
from ._bpr import BPRRecommender
from .pinsage import WeightedSAGEConv


@dataclass
class PinSageUIConfig:
    """Hyper-parameters of :class:`PinSageUI` (paper / DGL example values in brackets)."""

    #: size of the layer-0 embeddings and of every convolution layer
    embedding_size: int = 64
    #: number K of convolution layers [paper 2]
    num_layers: int = 2
    #: T, neighbours kept per node (the most visited of the other type) [paper 50; DGL 3]
    num_neighbors: int = 10
    #: random walks from every node per training neighbourhood sample [DGL 10]
    num_random_walks: int = 10
    #: visits of the other node type per walk at most [DGL 3]
    num_traversals: int = 3
    #: probability that a walk stops after each visit [DGL 0.5]
    termination_prob: float = 0.5
    #: walks per node for the fixed neighbourhoods used at inference
    inference_random_walks: int = 50
    #: BPR triples per batch
    batch_size: int = 2048
    #: uniform negatives per positive (BPR over every pair; 1 = BPR's own setting)
    num_negatives: int = 1
    #: "bpr" or "softmax" (sampled softmax over the positive and its negatives)
    loss: str = "bpr"
    #: temperature of the sampled softmax
    temperature: float = 1.0
    #: weight λ of the L2 term on the batch's layer-0 embeddings
    reg_weight: float = 1e-4
    #: standard deviation of the normal initialisation of the layer-0 embeddings
    init_std: float = 0.1
    #: L2-normalise every layer's output (the paper's line 3 of CONVOLVE)
    normalize: bool = True
    #: how the layers combine, "concat" (layers 0 to K concatenated, as NGCF), "last" (layer K
    #: only) or "head" (layer 0 beside the paper's dense output layers on layer K:
    #: h0 ‖ G2 ReLU(G1 h^(K) + g))
    combine: str = "concat"
    #: a learnable scale s_k per convolution layer in the concatenation (e_v = h0 ‖ s_1 h1 ‖ …;
    #: the layer's score term becomes s_k² h_u^(k)ᵀ h_i^(k), no longer bounded by 1), s_k = 1 at
    #: the start; only with ``combine="concat"``. Off: on Last.FM fold-0 validation it overfits,
    #: 0.0674 at epoch 100 against the recipe's 0.1135 (docs/baselines_pinsage_hin2vec.md)
    layer_scale: bool = False
    #: seed of the inference neighbourhoods (sampled once in ``setup``)
    seed: int = 0


def random_walks(forth: sp.csr_matrix, back: sp.csr_matrix, starts: np.ndarray, num_traversals: int,
                 termination_prob: float, rng: np.random.Generator) -> np.ndarray:
    """Restart random walks on a bipartite graph, all walkers at once: ``traces`` of shape
    ``(len(starts), 2 * num_traversals)`` as ``dgl.sampling.random_walk`` returns them for the
    metapath ``[forth, back, forth, …, forth]``: column 0 the start, odd columns the visits of
    the other node type, even columns the steps back, ``-1`` once the walk has stopped. Each
    step goes to a uniformly drawn neighbour (a row of ``forth``, the starts' side to the other
    side, or of ``back``, the reverse); after each visit but the last the walk stops with
    ``termination_prob``; a start without neighbours makes no step. Every draw comes from ``rng``."""
    traces = np.full((len(starts), 2 * num_traversals), -1, dtype=np.int64)
    traces[:, 0] = starts
    walker, node = np.arange(len(starts)), np.asarray(starts, dtype=np.int64)
    for step in range(1, 2 * num_traversals):
        adjacency = forth if step % 2 else back
        first = adjacency.indptr[node]
        degree = adjacency.indptr[node + 1] - first
        moves = degree > 0  # only a start can be isolated: later nodes were reached by an edge
        walker, first, degree = walker[moves], first[moves], degree[moves]
        node = adjacency.indices[first + rng.integers(degree)]
        traces[walker, step] = node
        if step % 2 and step < 2 * num_traversals - 1:
            goes_on = rng.random(len(node)) >= termination_prob
            walker, node = walker[goes_on], node[goes_on]
    return traces


def walk_visits(traces: np.ndarray) -> tuple:
    """``(starts, visited)``: one entry per visit of the other node type in ``traces``
    (:func:`random_walks`)."""
    visited = traces[:, 1::2]
    starts = np.broadcast_to(traces[:, :1], visited.shape)
    seen = visited >= 0
    return starts[seen], visited[seen]


def top_visited(starts: np.ndarray, visited: np.ndarray, num_visited: int, k: int,
                rng: np.random.Generator) -> tuple:
    """``(start, neighbour, count)``: for every start, its ``k`` most visited nodes and their
    visit counts α, from the visit list of :func:`walk_visits`; ties between equal counts are
    broken at random by ``rng``. Vectorised: counts by ``np.unique`` of the (start, visited)
    pairs, then one stable sort by (start, −count) of the pairs in a random order (the
    random tie-break), and the first ``k`` of each start."""
    pairs, counts = np.unique(starts.astype(np.int64) * num_visited + visited, return_counts=True)
    shuffled = rng.permutation(len(pairs))
    most = counts.max(initial=0)
    key = pairs[shuffled] // num_visited * (most + 1) + (most - counts[shuffled])
    order = shuffled[np.argsort(key, kind="stable")]
    start, neighbour = np.divmod(pairs[order], num_visited)
    rank = np.arange(len(start)) - np.searchsorted(start, start, side="left")
    keep = rank < k
    return start[keep], neighbour[keep], counts[order][keep]


class PinSageUI(BPRRecommender):
    """User–item PinSage trained with BPR (module docstring). Defaults (:class:`PinSageUIConfig`):
    ``embedding_size=64``, ``num_layers=2``, ``num_neighbors=10``, ``num_random_walks=10``,
    ``num_traversals=3``, ``termination_prob=0.5``, ``inference_random_walks=50``,
    ``batch_size=2048``, ``reg_weight=1e-4``, L2-normalised layers, layers concatenated; the
    trainer's learning rate 1e-3 (Adam, up to 200 epochs, patience 20; ``TRAINING["pinsage-ui"]``).

    Deviations from the paper (``docs/baselines_pinsage_hin2vec.md``): ID embeddings as the only
    input features; BPR on user–item triples instead of the max-margin loss on item pairs;
    the representation is the layer concatenation (no dense layers :math:`G_1, G_2`); one
    set of convolution parameters for users and items; neighbourhoods of the whole graph are
    re-sampled per batch (not only those of the batch's nodes).
    """

    name = "pinsage-ui"
    Config = PinSageUIConfig
    _CHOICES = {"combine": ("concat", "last", "head")}

    def build(self, train: sp.csr_matrix) -> None:
        cfg = self.config
        d = cfg.embedding_size
        self.user_embedding = torch.nn.Embedding(self.num_users, d)
        self.item_embedding = torch.nn.Embedding(self.num_items, d)
        self.convs = torch.nn.ModuleList(WeightedSAGEConv(d, d, d, normalize=cfg.normalize)
                                         for _ in range(cfg.num_layers))
        if cfg.layer_scale and cfg.combine != "concat":
            raise ValueError(f"pinsage-ui: layer_scale=True needs combine='concat', not {cfg.combine!r}")
        self.layer_scales = torch.nn.Parameter(torch.ones(cfg.num_layers)) if cfg.layer_scale else None
        if cfg.combine == "head":  # the paper's G1, G2 (Algorithm 2, line 4 of its minibatch)
            self.head = torch.nn.Sequential(torch.nn.Linear(d, d), torch.nn.ReLU(), torch.nn.Linear(d, d, bias=False))
        # the bipartite training graph the walks run on, both ways (sampling stays on the CPU)
        self.user_items = sp.csr_matrix(train, dtype=np.float32)
        self.item_users = self.user_items.T.tocsr()
        self.reset_parameters()
        self.register_graph("inference_graph", self.neighbourhoods(cfg.seed, cfg.inference_random_walks))

    def reset_parameters(self) -> None:
        torch.nn.init.normal_(self.user_embedding.weight, std=self.config.init_std)
        torch.nn.init.normal_(self.item_embedding.weight, std=self.config.init_std)
        for conv in self.convs:
            conv.reset_parameters()
        if self.layer_scales is not None:
            torch.nn.init.ones_(self.layer_scales)
        if self.config.combine == "head":
            for layer in self.head:
                if hasattr(layer, "reset_parameters"):
                    layer.reset_parameters()

    def neighbourhoods(self, seed: int, num_walks: int) -> dgl.DGLGraph:
        """The importance neighbourhoods of every node, drawn from ``seed``: a graph on users
        ``0..U-1`` and items ``U..U+I-1`` with an edge neighbour → node of weight α (its visit
        count, ``edata["weights"]``), on the CPU."""
        cfg = self.config
        rng = np.random.default_rng(seed)
        walk = dict(num_traversals=cfg.num_traversals, termination_prob=cfg.termination_prob, rng=rng)
        user_walks = random_walks(self.user_items, self.item_users, np.tile(np.arange(self.num_users), num_walks), **walk)
        item_walks = random_walks(self.item_users, self.user_items, np.tile(np.arange(self.num_items), num_walks), **walk)
        user, item_of_user, a_user = top_visited(*walk_visits(user_walks), self.num_items, cfg.num_neighbors, rng)
        item, user_of_item, a_item = top_visited(*walk_visits(item_walks), self.num_users, cfg.num_neighbors, rng)
        src = np.concatenate([item_of_user + self.num_users, user_of_item])
        dst = np.concatenate([user, item + self.num_users])
        g = dgl.graph((torch.from_numpy(src), torch.from_numpy(dst)), num_nodes=self.num_users + self.num_items)
        g.edata["weights"] = torch.from_numpy(np.concatenate([a_user, a_item]).astype(np.float32))
        return g

    def propagate(self, graph: dgl.DGLGraph) -> tuple:
        """``(user_emb, item_emb)``: the K convolutions on the neighbourhood ``graph``, combined."""
        h = torch.cat([self.user_embedding.weight, self.item_embedding.weight])
        layers = [h]
        for k, conv in enumerate(self.convs):
            h = conv(graph, h, graph.edata["weights"])
            layers.append(h if self.layer_scales is None else h * self.layer_scales[k])
        if self.config.combine == "concat":
            out = torch.cat(layers, dim=1)
        elif self.config.combine == "head":
            out = torch.cat([layers[0], self.head(layers[-1])], dim=1)
        else:
            out = layers[-1]
        return out[: self.num_users], out[self.num_users:]

    def embeddings(self) -> tuple:
        """Inference: the fixed neighbourhoods sampled in ``setup``."""
        return self.propagate(self.inference_graph)

    def train_embeddings(self, batch: BPRBatch) -> tuple:
        """Training: neighbourhoods re-sampled from the batch's seed (evaluation mode: the
        fixed ones)."""
        if not self.training:
            return self.embeddings()
        return self.propagate(self.neighbourhoods(batch.seed, self.config.num_random_walks).to(self.device))
