r"""MTHGT (hetrec's recipe, the sampled recipes) and its Fig. 4 ablations trained on a :class:`dgl.distributed.DistGraph`.

``train_distributed(folder, "mthgt", config=DistMTHGTConfig(preset="mthgt-sampled"))`` trains the
model of a preset of :data:`hetrec.models.MODELS` (``"mthgt-sampled"``, ``"hgt"``, ``"hgt-d"``,
``"hgt-m"``, and ``"mthgt"``, hetrec's own recipe, trained as on one machine above
``full_graph_max_edges``: its ``training="auto"`` means the mini-batch mode here
(:mod:`hetrec.distributed.minibatch`; ``"mthgt-minibatch"`` names it), or sampled subgraphs for
settings that mode cannot train; :data:`PRESETS`)
with the preset's :class:`~hetrec.models.mthgt.MTHGTConfig` values
(``overrides`` changes them) and, by default, its recommended learning rate, epochs and patience
(:data:`hetrec.models.TRAINING`). The servers, trainer processes, validation, early stopping,
full ranking and failure handling are those of :mod:`hetrec.distributed.train`; this module is
what a trainer does with MTHGT.

**The model is hetrec's** :class:`~hetrec.models.mthgt.MTHGT`, built in every trainer with the
same seed (the same initial dense parameters everywhere) on a schema graph (the node types and
relations, no edges), and trained with its own loss (:meth:`MTHGT.loss
<hetrec.models.mthgt.MTHGT.loss>`: ``rec_loss``, ``lp_loss``, ``_combine``, the L2 term) on
batches of the form single-machine sampled training gives it
(:class:`~hetrec.batching.EdgeSubgraphBatch`). Two things are swapped in:

* **layer 0** (the ID embeddings): one :class:`dgl.distributed.DistEmbedding` per node type,
  rows stored on the servers, initialised from N(0, ``init_std``²) and looked up by
  ``DistGraph`` id (:class:`DistRows` replaces the model's ``proj`` tables), trained with DGL's
  :class:`~dgl.distributed.optim.SparseAdam`;
* **the dense parameters** (HGT layers, MMoE, uncertainty weights) are replicated; each step
  every trainer back-propagates its batch loss divided by the number of trainers, the gradients
  are summed over trainers with a ``torch.distributed`` (gloo) all-reduce (the mean gradient
  of the trainers' batch losses), and :class:`torch.optim.Adam` steps on every trainer alike.

**Subgraphs.** Each trainer takes its share of the training interactions (the ``interacted_by``
edges its machine owns, split among the machine's trainers by :func:`dgl.distributed.edge_split`,
as BPR-MF and LightGCN do) and samples one subgraph per step around them, the step's
interactions and their reverses excluded:

* **dense presets** (``mthgt-sampled``, ``hgt-d``, ``mthgt``): the dense type-balanced sampler
  (:class:`~hetrec.sampling.DenseSubgraphSampler`, the preset's ``depth``, ``width``, caps) on the
  machine's own partition plus its HALO (:func:`~hetrec.distributed.local_graph`, the graph
  :class:`~hetrec.distributed.LocalDenseSampler` samples), through DGL's
  ``as_edge_prediction_sampler`` as on one machine: no remote call. What that changes (a HALO
  node spreads budget with its local degree, nodes two hops out cannot be drawn) is measured in
  ``docs/distributed.md``. **Negatives** are drawn uniformly from the *local graph's* items
  (the partition's and its HALO's), not from the whole catalogue: a negative must be a seed of
  the local sample, and an item outside the local graph has no neighbourhood there (and the
  sampler refuses it). On a partition that holds most items this is close to uniform; on many
  small partitions it makes the negatives more local (items near the machine's users).
* **uniform presets** (``hgt``, ``hgt-m``): DGL's distributed neighbour sampler.
  :class:`DistShaDowSampler` does on the ``DistGraph`` what DGL's ``ShaDowKHopSampler`` (the
  single-machine ablations' sampler) does on a graph: ``depth`` hops of
  :func:`dgl.distributed.sample_etype_neighbors` with ``fanout`` neighbours per relation, then
  the node-induced subgraph (every in-edge of the sampled nodes fetched from the servers, those
  whose source was sampled kept), the step's interactions and their reverses removed (by
  dataset edge id). Negatives are uniform over every item, as on one machine. One deviation:
  DGL's distributed sampler takes no edges to exclude, so a hop may draw a step's own
  interaction (its other end is a seed already) instead of another neighbour; the edge is then
  removed from the subgraph, but its draw is not repeated.

**Evaluation: exact layer-wise inference.** The task embeddings of every node are computed on
the *whole* training graph, as :meth:`MTHGT.embeddings` does on one machine, one layer at a
time. Each trainer computes the nodes of its share (:func:`dgl.distributed.node_split`: nodes
its machine owns, inner nodes of its local graph) on a block of their in-edges in the local graph
(an inner node has every in-edge there); layer :math:`k-1` rows of their in-neighbours (inner or
HALO) are read from a :class:`~dgl.distributed.DistTensor` that the owners filled (layer 0 from
the ``DistEmbedding``). The light layer's degree normalisation uses **global degrees**: each
trainer counts the in- and out-degrees (over all relations) of its own nodes, which are complete
in its local graph, and writes them to a ``DistTensor``; the block carries them as
:data:`~hetrec.nn.light_hgt.OUT_DEGREE` / :data:`~hetrec.nn.light_hgt.IN_DEGREE` (a HALO
node's local degree is not its degree). Layer combination (:meth:`MTHGT.combine_layers`) and
MMoE (:meth:`MTHGT.task_heads`) act per node, on the owned rows. The recommendation embeddings
of users and items are then ranked as for BPR-MF and LightGCN.

Not supported here (a clear error says so): ``training`` other than ``"sampled"`` (every step on
the whole graph is what distribution avoids), ``projection`` (the paper's per-type projection of
Eq. 3), ``init_std=None``, in-batch negatives, ``relations="interactions"`` and ``norm="relation"``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import ClassVar

import dgl
import numpy as np
import torch
import torch.nn as nn

from ..data import INTERACTED_BY, INTERACTS, ITEM, USER
from .local import set_global_degrees

#: the presets of :data:`hetrec.models.MODELS` that train on a DistGraph (paper Fig. 4, MTHGT and
#: its ablations, sampled training)
PRESETS = ("mthgt-sampled", "hgt", "hgt-d", "hgt-m", "mthgt", "mthgt-minibatch")
#: the interaction relations and their reverses (a batch's interactions are excluded in both)
_REVERSE = {INTERACTS: INTERACTED_BY, INTERACTED_BY: INTERACTS}


@dataclass
class DistMTHGTConfig:
    """Settings of distributed MTHGT: a preset of :data:`hetrec.models.MODELS` (:data:`PRESETS`)
    whose :class:`~hetrec.models.mthgt.MTHGTConfig` values are used as they are (``overrides``
    changes some), and the training loop's settings (those of :class:`DistBPRConfig
    <hetrec.distributed.DistBPRConfig>` where they share a meaning; ``None``: the preset's
    recommended value in :data:`hetrec.models.TRAINING`)."""

    #: the model these settings train
    model: ClassVar[str] = "mthgt"
    #: the preset (one of :data:`PRESETS`)
    preset: str = "mthgt-sampled"
    #: MTHGTConfig settings over the preset's (e.g. ``{"batch_size": 256, "hidden_size": 32}``)
    overrides: dict = field(default_factory=dict)
    #: the most epochs (None gives the preset's)
    epochs: int | None = None
    #: learning rate of Adam (dense parameters) and SparseAdam (ID embeddings); None gives the preset's
    lr: float | None = None
    seed: int = 0
    #: cut-offs N of the validation and test metrics
    ns: tuple = (5, 10, 20)
    #: validate every this many epochs (and after the last); 0 never validates and tests the last epoch
    eval_every: int = 1
    #: stop after this many validations without a gain of ``metric`` (None gives the preset's)
    patience: int | None = None
    #: the validation metric that picks the epoch
    metric: str = "NDCG@10"

    def __post_init__(self):
        from ..models import training_settings

        if self.preset not in PRESETS:
            raise ValueError(f"preset must be one of {', '.join(PRESETS)}, got {self.preset!r}")
        self.overrides = dict(self.overrides)
        recommended = training_settings(self.preset)
        for name in ("epochs", "lr", "patience"):
            if getattr(self, name) is None:
                setattr(self, name, recommended[name])
        self.ns = tuple(int(n) for n in self.ns)
        for name, low in (("epochs", 1), ("eval_every", 0), ("patience", 1), ("seed", 0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ValueError(f"{name} must be an integer of at least {low}, got {v!r}")
        if isinstance(self.lr, bool) or not isinstance(self.lr, (int, float)) or not math.isfinite(self.lr) \
                or self.lr <= 0:
            raise ValueError(f"lr must be a finite number above 0, got {self.lr!r}")
        from .runtime import _check_metrics

        _check_metrics(self.ns, self.metric)
        self.model_config()  # unknown or unsupported settings fail here, in the calling process

    def model_config(self):
        """The preset's :class:`~hetrec.models.mthgt.MTHGTConfig` with ``overrides`` applied,
        checked for what the distributed trainer supports."""
        from ..models import model_config
        from ..models.mthgt import minibatch_problems

        cfg = model_config(self.preset, **self.overrides)
        if cfg.training == "auto":
            # a DistGraph is never trained on the whole graph per step: hetrec's own recipe
            # ("mthgt") trains as it does on one machine above full_graph_max_edges, in the
            # mini-batch mode where its settings allow it, else on sampled subgraphs
            # (one task: the partitioned mini-batch mode draws no link-prediction triples)
            cfg = replace(cfg, training="sampled" if minibatch_problems(cfg) or cfg.multitask else "minibatch")
        unsupported = {"training": ("sampled", "minibatch"), "projection": (False,), "negatives": ("uniform",),
                       "relations": ("all",)}
        if cfg.conv == "light":
            unsupported["norm"] = ("node",)
        for name, allowed in unsupported.items():
            if getattr(cfg, name) not in allowed:
                raise ValueError(f"distributed MTHGT supports {name}={' or '.join(map(repr, allowed))} only, got "
                                 f"{getattr(cfg, name)!r} (preset {self.preset!r}, overrides {self.overrides})")
        if cfg.training == "minibatch":
            problems = minibatch_problems(cfg)
            if problems:
                raise ValueError("training='minibatch' needs " + "; ".join(problems)
                                 + f" (preset {self.preset!r}, overrides {self.overrides})")
            if cfg.multitask:
                raise ValueError("distributed MTHGT with training='minibatch' trains one task (multitask=False) only; "
                                 f"train the two tasks with training='sampled' (preset {self.preset!r})")
            if cfg.history_draw != "norm":
                raise ValueError("distributed mini-batch MTHGT draws in-edges with history_draw='norm' (stratified "
                                 f"by relation) only, got {cfg.history_draw!r}")
        if cfg.init_std is None:
            raise ValueError("distributed MTHGT initialises its DistEmbedding tables from N(0, init_std²): "
                             "init_std must be a number, got None")
        return cfg

    @property
    def sampler(self) -> str:
        """``"dense"`` or ``"uniform"``: the preset's sampler."""
        return self.model_config().sampler

    @property
    def minibatch(self) -> bool:
        """Whether the settings train in the mini-batch mode (:mod:`hetrec.distributed.minibatch`)."""
        return self.model_config().training == "minibatch"


class DistRows(nn.Module):
    """The layer-0 rows of one node type, from a :class:`dgl.distributed.DistEmbedding`: called
    with ids of the graph a subgraph was sampled from (``dgl.NID``), mapped to ``DistGraph`` ids
    by ``to_dist`` (``None``: they are ``DistGraph`` ids). It replaces an ``nn.Embedding`` of
    :attr:`MTHGT.proj <hetrec.models.mthgt.MTHGT>`; the table is not a parameter of the module
    (SparseAdam trains it)."""

    def __init__(self, table, to_dist: torch.Tensor | None = None):
        super().__init__()
        self.table, self.to_dist = table, to_dist

    def forward(self, ids):
        return self.table(ids if self.to_dist is None else self.to_dist[ids])


def build_model(cfg: DistMTHGTConfig, ntypes, canonical_etypes, seed: int):
    """The preset's :class:`~hetrec.models.mthgt.MTHGT` for a graph of these node types and
    relations, its dense parameters drawn after ``torch.manual_seed(seed)`` (the same on every
    trainer: it is set up on a schema graph of one node per type and no edge, so what it draws does
    not depend on a partition's size). Its ID tables are placeholders, to be replaced
    (:class:`DistRows`)."""
    from types import SimpleNamespace

    from ..models import create_model

    schema = dgl.heterograph({et: (torch.zeros(0, dtype=torch.int64), torch.zeros(0, dtype=torch.int64))
                              for et in canonical_etypes}, {t: 1 for t in ntypes})
    torch.manual_seed(seed)
    model = create_model(cfg.preset, **{**cfg.overrides, "training": cfg.model_config().training})
    model.setup(SimpleNamespace(train_graph=schema, train=None))
    return model


def dense_parameters(model) -> list:
    """The model's replicated parameters: every parameter but the ID tables'."""
    return [p for n, p in model.named_parameters() if not n.startswith("proj.")]


def dense_state(model) -> dict:
    """The state of :func:`dense_parameters` (and buffers), keyed as in ``model.state_dict()``."""
    return {k: v for k, v in model.state_dict().items() if not k.startswith("proj.")}


class DistShaDowSampler:
    """DGL's ``ShaDowKHopSampler`` on a :class:`~dgl.distributed.DistGraph`: ``len(fanouts)`` hops
    of :func:`dgl.distributed.sample_etype_neighbors` (``fanouts[k]``: neighbours per relation),
    then the subgraph the sampled nodes induce, from every in-edge of theirs (one more
    distributed query, fan-out -1) whose source was sampled.

    Parameters
    ----------
    g : dgl.distributed.DistGraph
    fanouts : list of dict
        One ``{relation: neighbours}`` per hop (the last first, as DGL's samplers take them).
    dataset_eids : dict
        ``{relation: tensor}``: the dataset edge id of each DistGraph edge (``orig_ids.npz``); a
        fact and its reverse share one, which is how exclusions and MTHGT's link-prediction
        split find an edge's reverse.
    """

    def __init__(self, g, fanouts: list, dataset_eids: dict):
        self.g, self.fanouts, self.dataset_eids = g, list(fanouts), dataset_eids
        self._all = {et: -1 for et in g.canonical_etypes}

    def _in_edges(self, nodes: dict, fanout: dict):
        nonempty = {t: ids for t, ids in nodes.items() if len(ids)}
        return dgl.distributed.sample_etype_neighbors(self.g, nonempty, fanout, etype_sorted=False)

    def sample(self, seeds: dict, exclude: dict | None = None):
        """The subgraph around ``seeds`` (``{node type: distinct DistGraph ids}``; every node type
        of the graph), without the edges whose dataset id is in ``exclude`` (``{relation: dataset
        edge ids}``). Its node ``i`` of a type is the ``i``-th of ``seeds`` for the first ones, then
        the nodes the hops reached; node data ``dgl.NID``: DistGraph ids; edge data ``dgl.EID``:
        dataset edge ids."""
        nodes = dict(seeds)
        for fanout in reversed(self.fanouts):
            block = dgl.to_block(self._in_edges(nodes, fanout), dst_nodes=nodes)
            nodes = {t: block.srcnodes[t].data[dgl.NID] for t in block.srctypes}
        frontier = self._in_edges(nodes, self._all)
        order = {t: torch.argsort(ids) for t, ids in nodes.items()}
        edges = {}
        for et in frontier.canonical_etypes:
            s, d = frontier.edges(etype=et)
            if not len(s):
                edges[et] = (s, d, torch.zeros(0, dtype=torch.int64))
                continue
            src_sorted = nodes[et[0]][order[et[0]]]
            pos = torch.searchsorted(src_sorted, s).clamp(max=len(src_sorted) - 1)
            keep = src_sorted[pos] == s
            fact = self.dataset_eids[et][frontier.edges[et].data[dgl.EID]]
            if exclude and et in exclude:
                keep &= ~torch.isin(fact, exclude[et])
            dst_sorted = nodes[et[2]][order[et[2]]]
            d_pos = torch.searchsorted(dst_sorted, d[keep])
            edges[et] = (order[et[0]][pos[keep]], order[et[2]][d_pos], fact[keep])
        sub = dgl.heterograph({et: (s, d) for et, (s, d, _) in edges.items()},
                              {t: len(ids) for t, ids in nodes.items()})
        for t, ids in nodes.items():
            sub.nodes[t].data[dgl.NID] = ids
        for et, (_, _, fact) in edges.items():
            sub.edges[et].data[dgl.EID] = fact
        return sub


def uniform_batch(sampler: DistShaDowSampler, users, items, facts, num_items: int, k: int, generator, seed: int):
    """A training batch (:class:`~hetrec.batching.EdgeSubgraphBatch`) of the interactions
    ``(users, items)`` (DistGraph ids; ``facts``: their dataset edge ids), each with ``k``
    negatives uniform over all ``num_items`` items, and the subgraph :class:`DistShaDowSampler`
    samples around them, as DGL's ``as_edge_prediction_sampler`` lays one out: seeds first, the
    pair graphs' node ids the subgraph's, the interactions and their reverses excluded."""
    from ..batching import EdgeSubgraphBatch

    neg = torch.randint(0, num_items, (len(items) * k,), generator=generator)
    seed_users = torch.unique(users)
    seed_items = torch.unique(torch.cat([items, neg]))
    seeds = {t: torch.zeros(0, dtype=torch.int64) for t in sampler.g.ntypes}
    seeds.update({USER: seed_users, ITEM: seed_items})
    sub = sampler.sample(seeds, {INTERACTS: facts, INTERACTED_BY: facts})
    counts = {USER: sub.num_nodes(USER), ITEM: sub.num_nodes(ITEM)}
    pu, pi = torch.searchsorted(seed_users, users), torch.searchsorted(seed_items, items)
    pair = dgl.heterograph({INTERACTS: (pu, pi)}, counts)
    negative = dgl.heterograph({INTERACTS: (pu.repeat_interleave(k), torch.searchsorted(seed_items, neg))}, counts)
    input_nodes = {t: sub.nodes[t].data[dgl.NID] for t in sub.ntypes}
    return EdgeSubgraphBatch(input_nodes, pair, negative, sub, seed)


def inference_block(local, share_local: dict):
    """The block of the in-edges, in the local graph ``local``, of the nodes ``share_local``
    (``{node type: local ids}``, inner nodes): destination nodes in that order, first among the
    sources; ``srcdata[dgl.NID]``: local ids."""
    dst = {t: share_local.get(t, torch.zeros(0, dtype=torch.int64)) for t in local.ntypes}
    return dgl.to_block(dgl.in_subgraph(local, dst), dst_nodes=dst)


def owned_degrees(local, share_local: dict) -> dict:
    """``{node type: (n, 2) float tensor}``: the in- and out-degree over all relations of the
    inner nodes ``share_local`` in the local graph: their degrees in the whole training graph
    (an inner node has every edge, in and out, in its partition's local graph)."""
    out = {}
    for t, ids in share_local.items():
        deg = torch.zeros(len(ids), 2)
        for et in local.canonical_etypes:
            if et[2] == t:
                deg[:, 0] += local.in_degrees(ids, etype=et).float()
            if et[0] == t:
                deg[:, 1] += local.out_degrees(ids, etype=et).float()
        out[t] = deg
    return out


def layerwise_embeddings(model, block, tables: dict, src_dist: dict, share: dict, layer: dict, degrees: dict,
                         barrier) -> dict:
    """Task embeddings (``{task: {node type: rows}}``) of this trainer's nodes (the block's
    destination nodes; ``share``: their DistGraph ids), each layer computed on the block from the
    previous layer's rows of its sources, read from ``layer`` (``{node type: DistTensor}``) that
    every trainer fills with its nodes' rows (layer 0: the ``DistEmbedding`` tables). ``degrees``
    (``{node type: DistTensor (N, 2)}``) holds every node's global in- and out-degree.
    Collective: every trainer calls it; ``barrier`` keeps a layer from being read before all of it
    is written, or overwritten before all have read it."""
    ntypes = list(block.srctypes)
    with torch.no_grad(), block.local_scope():
        set_global_degrees(block, degrees, src_dist, share)
        h0_src = {t: tables[t].weight[src_dist[t]] for t in ntypes}
        h0 = {t: h0_src[t][:block.num_dst_nodes(t)] for t in ntypes}
        outs = []
        for layers in model.gnns:
            h_src, seq = h0_src, [h0]
            for k, conv in enumerate(layers):
                h = conv(block, h_src)
                h = {t: h[t] if t in h else h0[t].new_zeros(h0[t].shape) for t in ntypes}
                seq.append(h)
                if k + 1 < len(layers):
                    barrier()  # every trainer has read the previous layer
                    for t in ntypes:
                        if len(share[t]):
                            layer[t][share[t]] = h[t]
                    barrier()  # every trainer has written this one
                    h_src = {t: layer[t][src_dist[t]] for t in ntypes}
            outs.append(model.combine_layers(seq))
        return model.task_heads(outs)


# ---------------------------------------------------------------------------------------------
# inside a trainer process (started by hetrec.distributed.train)


def train_process(job: dict) -> None:
    """What trainer ``RANK`` does for ``job`` (see the module's docstring); trainer 0 writes the
    result to ``job["result"]`` in the form :func:`~hetrec.distributed.train_distributed` reads."""
    import torch.distributed as dist

    from .._random import dgl_one_thread, draw_seed, seed_torch_and_dgl
    from ..batching import EdgeSubgraphBatch
    from ..models.mthgt import resolve_max_in_edges
    from ..sampling import DenseSubgraphSampler
    from .local import DIST_ID, INNER, LocalDenseSampler, local_graph
    from .partition import ORIG_IDS_FILE, _etype_key, load_heldout
    from .runtime import _connect, _counts, _drive, _edges, _leave, _matrix, _normal_rows, _Ranking, _save_result, sparse_step

    cfg = DistMTHGTConfig(**job["config"])
    mcfg = cfg.model_config()
    rank, world, machine, index_on_machine, book, g = _connect(job)
    out = Path(job["partition_dir"])
    ntypes, etypes = list(g.ntypes), list(g.canonical_etypes)
    num_users, num_items = g.num_nodes(USER), g.num_nodes(ITEM)

    local = local_graph(out, machine, verify=False)
    if not torch.equal(local.edges[INTERACTS].data["dataset_id"], local.edges[INTERACTED_BY].data["dataset_id"]):
        raise RuntimeError(f"partition {machine}'s local graph does not hold edge i of {INTERACTS} and of "
                           f"{INTERACTED_BY} as one fact: the reverse of a batch's interactions cannot be excluded")
    ids = LocalDenseSampler(None, local)  # id maps of the local graph (DistGraph <-> local)

    # this trainer's interactions: its share of the interacted_by edges its machine owns, as
    # local interacts edges (edge i of both relations is one fact in the local graph)
    mine = dgl.distributed.edge_split(torch.ones(g.num_edges(INTERACTED_BY), dtype=torch.bool), book,
                                      etype=INTERACTED_BY, rank=index_on_machine, force_even=False)
    mine_local = ids.local_edges({INTERACTED_BY: mine})[INTERACTED_BY]
    src_l, dst_l = local.edges(etype=INTERACTS)
    dist_of = {t: local.nodes[t].data[DIST_ID] for t in local.ntypes}
    share = {nt: dgl.distributed.node_split(torch.ones(g.num_nodes(nt), dtype=torch.bool), book, ntype=nt,
                                            rank=index_on_machine, force_even=False) for nt in ntypes}

    all_counts, ranked_users, steps = _counts(len(mine_local), len(share[USER]), world, mcfg.batch_size)
    if min(all_counts) == 0:
        raise RuntimeError(f"a trainer has no training interaction (per trainer: {all_counts}): use fewer trainers")

    init = partial(_normal_rows, mcfg.init_std)  # called by each server on its rows (seeded there)
    tables = {nt: dgl.distributed.DistEmbedding(g.num_nodes(nt), mcfg.hidden_size, f"hetrec_mthgt_emb_{nt}", init,
                                                g.get_node_partition_policy(nt)) for nt in ntypes}

    def dist_tensors(name, width, types=ntypes):  # one per node type, partitioned like the nodes
        return {nt: dgl.distributed.DistTensor((g.num_nodes(nt), width), torch.float32, f"hetrec_mthgt_{name}_{nt}",
                                               part_policy=g.get_node_partition_policy(nt), persistent=True)
                for nt in types}

    degrees, layer = dist_tensors("degree", 2), dist_tensors("layer", mcfg.hidden_size)
    final, best = dist_tensors("final", mcfg.hidden_size, (USER, ITEM)), dist_tensors("best", mcfg.hidden_size,
                                                                                     (USER, ITEM))
    share_local = ids.local_nodes(share)
    for nt, deg in owned_degrees(local, share_local).items():
        if len(share[nt]):
            degrees[nt][share[nt]] = deg
    block = inference_block(local, share_local)
    src_dist = {t: dist_of[t][block.srcnodes[t].data[dgl.NID]] for t in ntypes}
    g.barrier()  # every trainer's degrees are written

    model = build_model(cfg, ntypes, etypes, cfg.seed)
    minibatch = cfg.minibatch
    dense = cfg.sampler == "dense" and not minibatch
    model.proj = nn.ModuleDict({t: DistRows(tables[t], dist_of[t] if dense else None) for t in ntypes})

    with np.load(out / ORIG_IDS_FILE, allow_pickle=False) as z:
        orig = {nt: torch.from_numpy(z[f"node:{nt}"]) for nt in ntypes}  # DGL's id -> the dataset's
        edge_orig = {et: torch.from_numpy(z[f"edge:{_etype_key(et)}"]) for et in etypes} if not dense else None
    dgl_id = {}
    for nt, o in orig.items():  # the dataset's id -> DGL's
        dgl_id[nt] = torch.empty_like(o)
        dgl_id[nt][o] = torch.arange(len(o))
    items_m, users_m, _ = _edges(out, machine, INTERACTED_BY)
    train = _matrix(users_m, items_m, (num_users, num_items))  # every training item of the machine's users
    ranking = _Ranking(share[USER].numpy(), train, load_heldout(out, verify=False), dgl_id[USER].numpy(),
                       dgl_id[ITEM].numpy(), cfg.ns)

    def embeddings() -> dict:
        model.eval()
        try:
            return layerwise_embeddings(model, block, tables, src_dist, share, layer, degrees, g.barrier)
        finally:
            model.train()

    def in_dataset_ids(rows_of) -> dict:  # whole tables of DistTensors, read by one trainer
        got = {}
        for nt, tensor in rows_of.items():
            n = len(orig[nt])
            got[nt] = torch.empty((n, tensor.shape[1]))
            got[nt][orig[nt]] = tensor[torch.arange(n)]
        return got

    if minibatch:
        from . import minibatch as mb

        sums = {nt: dgl.distributed.DistTensor((g.num_nodes(nt), len(etypes)), torch.float32,
                                               f"hetrec_mthgt_sums_{nt}", part_policy=g.get_node_partition_policy(nt),
                                               persistent=True) for nt in ntypes}
        probs = {et: dgl.distributed.DistTensor((g.num_edges(et),), torch.float32, f"hetrec_mthgt_prob_{et[1]}",
                                                part_policy=g.get_edge_partition_policy(et), persistent=True)
                 for et in etypes}
        snapshot = [dist_tensors(f"hist{k}", mcfg.hidden_size) for k in range(mcfg.num_layers + 1)]
        mb.fill_sums(local, share_local, share, dist_of, degrees, sums, etypes)
        if index_on_machine == 0:  # the machine's first trainer writes the weights of the edges it owns
            mb.fill_prob(g, local, dist_of, degrees, probs,
                         {et: local.edges[et].data[INNER].nonzero().flatten() for et in etypes})
        for et in etypes:
            g.edges[et].data[mb.PROB] = probs[et]
        g.barrier()  # S(t, r) and the draw weights are written
        hp = mb.DistHistory(g, degrees, sums, snapshot)
        train_keys = mb.interaction_keys(users_m, items_m, num_items)
        pair_users, pair_items = dist_of[USER][src_l[mine_local]], dist_of[ITEM][dst_l[mine_local]]
        max_age = mcfg.history_refresh if mcfg.history_refresh > 0 else mcfg.history_max_age
        since = [math.inf]  # steps the snapshot has served (none yet: the first step takes one)

        def refresh():
            model.eval()
            try:
                hp.refresh(logits=mb.snapshot_layers(model, block, tables, src_dist, share, snapshot, degrees,
                                                     g.barrier))
            finally:
                model.train()
            since[0] = 0

    if job["probe"]:  # the layer-wise embeddings of given parameters, for tests
        probe = torch.load(job["probe"], weights_only=True)
        model.load_state_dict(probe["state"], strict=False)
        missing = set(dense_state(model)) - set(probe["state"])
        if missing:
            raise RuntimeError(f"the probe's state lacks {sorted(missing)}")
        for nt in ntypes:
            if len(share[nt]):
                tables[nt].weight[share[nt]] = probe["tables"][nt][orig[nt][share[nt]]].to(torch.float32)
        g.barrier()
        heads = embeddings()
        result = {"probe_all": {}}
        for task, rows in heads.items():
            holder = dist_tensors(f"probe_{task}", mcfg.hidden_size)
            for nt in ntypes:
                if len(share[nt]):
                    holder[nt][share[nt]] = rows[nt]
            g.barrier()
            if rank == 0:
                result["probe_all"][task] = in_dataset_ids(holder)
        if minibatch and "history" in probe:
            got = mb.probe_history(probe["history"], model, hp, tables, share, refresh, dgl_id, orig, g.barrier)
            result["probe_history"] = {}
            for name, (width, rows_of) in got.items():
                holder = dist_tensors(f"probe_hist_{name}", width)
                for nt, (ids_, rows) in rows_of.items():
                    holder[nt][ids_] = rows
                g.barrier()
                if rank == 0:
                    result["probe_history"][name] = in_dataset_ids(holder)
        if rank == 0:
            _save_result(job, result)
        _leave()

    if dense:
        sampler = DenseSubgraphSampler(mcfg.depth, mcfg.width, max_neighbors=mcfg.max_neighbors,
                                       max_in_edges=resolve_max_in_edges(mcfg, g.num_edges()))
        edge_sampler = dgl.dataloading.as_edge_prediction_sampler(
            sampler, exclude="reverse_types", reverse_etypes=_REVERSE,
            negative_sampler=dgl.dataloading.negative_sampler.Uniform(mcfg.num_negatives))
    else:
        fanout = {et: mcfg.fanout for et in etypes}
        shadow = DistShaDowSampler(g, [fanout] * mcfg.depth, edge_orig)
        pair_users, pair_items = dist_of[USER][src_l[mine_local]], dist_of[ITEM][dst_l[mine_local]]
        pair_facts = local.edges[INTERACTS].data["dataset_id"][mine_local]

    gen = torch.Generator().manual_seed(cfg.seed * 1000 + rank)
    params = dense_parameters(model)
    opt = torch.optim.Adam(params, lr=cfg.lr)
    sparse_opt = dgl.distributed.optim.SparseAdam(list(tables.values()), lr=cfg.lr)

    def train_step(idx) -> float:
        if minibatch:
            if since[0] >= (max_age if max_age is not None else math.inf):
                refresh()
            since[0] += 1
            loss = mb.step_loss(model, hp, tables, pair_users[idx], pair_items[idx], num_items, gen, train_keys).loss
        elif dense:
            with dgl_one_thread():
                input_nodes, pair, negative, sub = edge_sampler.sample(local, {INTERACTS: mine_local[idx]})
            batch = EdgeSubgraphBatch(input_nodes, pair, negative, sub, draw_seed(gen))
        else:
            batch = uniform_batch(shadow, pair_users[idx], pair_items[idx], pair_facts[idx], num_items,
                                  mcfg.num_negatives, gen, draw_seed(gen))
        if not minibatch:
            loss = model.loss(batch).loss
        opt.zero_grad()
        (loss / world).backward()  # each row's gradient as from the mean over the step's trainers
        flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params])
        dist.all_reduce(flat)
        for p, part in zip(params, torch.split(flat, [p.numel() for p in params])):
            p.grad = part.view_as(p)
        opt.step()
        sparse_step(sparse_opt)
        return float(loss.detach())

    def share_embeddings(out: dict) -> dict:  # the recommendation task's rows of this trainer's users and items
        rec = embeddings()["rec"]
        for nt in (USER, ITEM):
            if len(share[nt]):
                out[nt][share[nt]] = rec[nt]
        g.barrier()  # every trainer's rows are in ``out``
        return rec

    def before_epoch():
        seed_torch_and_dgl(draw_seed(gen, 2**31 - 1))  # DGL's negative sampler, the dense sampler, local draws
        if minibatch and mcfg.history_refresh == 0:
            refresh()  # the epoch's snapshot (collective: every trainer starts the epoch here), as on
            # one machine; with history_refresh = N > 0 only every N steps

    model.train()
    _drive(job, cfg, g=g, rank=rank, world=world, share=share, steps=steps, num_examples=len(mine_local), gen=gen,
           train_step=train_step, share_embeddings=share_embeddings, final=final, best=best, ranking=ranking,
           num_items=num_items, num_users=num_users, user_orig=orig[USER], interactions=all_counts,
           ranked_users=ranked_users, in_dataset_ids=in_dataset_ids,
           before_epoch=before_epoch)


__all__ = ["DistMTHGTConfig", "DistRows", "DistShaDowSampler", "PRESETS", "build_model", "dense_parameters",
           "dense_state", "inference_block", "layerwise_embeddings", "owned_degrees", "uniform_batch"]
