"""Distributed BPR-MF and LightGCN: their settings and their trainer process.

The launcher (:mod:`hetrec.distributed.train`) starts the servers and the trainers; each trainer of
a BPR-MF or LightGCN run runs :func:`train_process` on the pieces every distributed trainer shares
(:mod:`hetrec.distributed.runtime`). MTHGT's trainer is :mod:`hetrec.distributed.mthgt`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import ClassVar

import numpy as np

from ..data import INTERACTED_BY, ITEM, USER
from .partition import ORIG_IDS_FILE, load_heldout
from .runtime import (
    _check_metrics,
    _connect,
    _counts,
    _drive,
    _edges,
    _leave,
    _matrix,
    _normal_rows,
    _Ranking,
    _save_result,
    sparse_step,
)

#: DistTensor names of the embedding tables
_USER_EMB, _ITEM_EMB = "hetrec_user_emb", "hetrec_item_emb"


@dataclass
class DistBPRConfig:
    """Settings of distributed BPR-MF (the names and defaults of :class:`hetrec.models.BPRMFConfig`
    and :class:`hetrec.train.TrainConfig` where they share a meaning)."""

    #: the model these settings train
    model: ClassVar[str] = "bprmf"
    #: size d of user and item embeddings
    embedding_size: int = 64
    #: BPR triples per step, over all trainers together
    batch_size: int = 2048
    #: weight λ of the L2 term on the batch's layer-0 rows (0, as single-machine BPR-MF)
    reg_weight: float = 0.0
    #: standard deviation of the normal initialisation (0.01, as single-machine BPR-MF)
    init_std: float = 0.01
    #: the most epochs (early stopping may end sooner)
    epochs: int = 30
    #: SparseAdam's learning rate
    lr: float = 1e-3
    seed: int = 0
    #: cut-offs N of the validation and test metrics
    ns: tuple = (5, 10, 20)
    #: validate every this many epochs (and after the last); 0 never validates and tests the last epoch
    eval_every: int = 1
    #: stop after this many validations without a gain of ``metric``
    patience: int = 5
    #: the validation metric that picks the epoch
    metric: str = "NDCG@10"

    def __post_init__(self):
        self.ns = tuple(int(n) for n in self.ns)
        for name, low in (("embedding_size", 1), ("batch_size", 1), ("epochs", 1), ("eval_every", 0),
                          ("patience", 1), ("seed", 0)) + self._integers():
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ValueError(f"{name} must be an integer of at least {low}, got {v!r}")
        for name, strict in (("lr", True), ("init_std", True), ("reg_weight", False)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0 \
                    or (strict and v == 0):
                raise ValueError(f"{name} must be a finite number {'above' if strict else 'of at least'} 0, got {v!r}")
        _check_metrics(self.ns, self.metric)

    def _integers(self) -> tuple:
        return ()


@dataclass
class DistLightGCNConfig(DistBPRConfig):
    """Settings of distributed LightGCN: those of :class:`DistBPRConfig` and the number of layers
    (the names and defaults of :class:`hetrec.models.LightGCNConfig`; one negative per positive
    and the BPR loss, its defaults, are the only choices here)."""

    model: ClassVar[str] = "lightgcn"
    #: number K of propagation layers
    num_layers: int = 3
    #: weight λ of the L2 term on the batch's layer-0 rows (as single-machine LightGCN)
    reg_weight: float = 1e-4
    #: standard deviation of the normal initialisation (as single-machine LightGCN)
    init_std: float = 0.1

    def _integers(self) -> tuple:
        return (("num_layers", 1),)


def train_process(job: dict) -> None:
    """One trainer process of a distributed BPR-MF or LightGCN run (``job["model"]``), started by
    :func:`hetrec.distributed.train._process_main`."""
    import dgl
    import torch

    from ..nn.losses import ranking_loss
    from ..sampling import ComplementNegativeSampler
    from .lightgcn import NODE_TYPES, DistLightGCN

    cfg = {"bprmf": DistBPRConfig, "lightgcn": DistLightGCNConfig}[job["model"]](**job["config"])
    num_layers = getattr(cfg, "num_layers", 0)  # BPR-MF's embeddings are its layer-0 rows
    rank, world, machine, index_on_machine, book, g = _connect(job)
    out = Path(job["partition_dir"])
    num_users, num_items = g.num_nodes(USER), g.num_nodes(ITEM)

    # this trainer's interactions: its share of the interacted_by edges its machine owns
    mine = dgl.distributed.edge_split(torch.ones(g.num_edges(INTERACTED_BY), dtype=torch.bool), book,
                                      etype=INTERACTED_BY, rank=index_on_machine, force_even=False).numpy()
    items, users, eids = _edges(out, machine, INTERACTED_BY)
    # every training item of the machine's users is here: the negatives are drawn outside them,
    # and the ranking of the machine's users excludes them
    train = _matrix(users, items, (num_users, num_items))
    sampler = ComplementNegativeSampler(train)
    take = np.isin(eids, mine)
    take &= sampler.num_free.numpy()[users] > 0  # a user with every item has no negative
    users, items = torch.from_numpy(users[take]), torch.from_numpy(items[take])
    # this trainer's nodes, for evaluation (their final embeddings, the ranking of its users)
    share = {nt: dgl.distributed.node_split(torch.ones(g.num_nodes(nt), dtype=torch.bool), book, ntype=nt,
                                            rank=index_on_machine, force_even=False) for nt in NODE_TYPES}

    all_counts, ranked_users, steps = _counts(len(users), len(share[USER]), world, cfg.batch_size)

    init = partial(_normal_rows, cfg.init_std)  # called by each server on its rows (seeded there)
    tables = {nt: dgl.distributed.DistEmbedding(g.num_nodes(nt), cfg.embedding_size, name, init,
                                                g.get_node_partition_policy(nt))
              for nt, name in ((USER, _USER_EMB), (ITEM, _ITEM_EMB))}

    def dist_tensors(name, width):  # one per node type, partitioned like the nodes; kept to the end
        return {nt: dgl.distributed.DistTensor((g.num_nodes(nt), width), torch.float32, f"hetrec_{name}_{nt}",
                                               part_policy=g.get_node_partition_policy(nt), persistent=True)
                for nt in NODE_TYPES}

    degrees = dist_tensors("degree", 1) if num_layers else None
    layer = dist_tensors("layer", cfg.embedding_size) if num_layers > 1 else None
    final, best = dist_tensors("final", cfg.embedding_size), dist_tensors("best", cfg.embedding_size)
    model = DistLightGCN(g, tables, degrees, num_layers)
    model.set_share(share)
    g.barrier()  # every trainer's degrees are written

    with np.load(out / ORIG_IDS_FILE, allow_pickle=False) as z:
        orig = {nt: torch.from_numpy(z[f"node:{nt}"]) for nt in NODE_TYPES}  # DGL's id -> the dataset's
    dgl_id = {}
    for nt, ids in orig.items():  # the dataset's id -> DGL's
        dgl_id[nt] = torch.empty_like(ids)
        dgl_id[nt][ids] = torch.arange(len(ids))
    ranking = _Ranking(share[USER].numpy(), train, load_heldout(out, verify=False), dgl_id[USER].numpy(),
                       dgl_id[ITEM].numpy(), cfg.ns)

    def in_dataset_ids(tensors) -> dict:  # whole tables, read by one trainer
        got = {}
        for nt in NODE_TYPES:
            got[nt] = torch.empty((len(orig[nt]), cfg.embedding_size))
            got[nt][orig[nt]] = tensors[nt][torch.arange(len(orig[nt]))]
        return got

    if job["probe"]:
        probe = torch.load(job["probe"], weights_only=True)
        for nt in NODE_TYPES:
            if len(share[nt]):
                tables[nt].weight[share[nt]] = probe[nt][orig[nt][share[nt]]].to(torch.float32)
        g.barrier()
        result = {}
        if rank == 0:
            seeds = {USER: dgl_id[USER][probe["users"]], ITEM: dgl_id[ITEM][probe["items"]]}
            with torch.no_grad():
                result["probe_batch"] = model.forward(seeds)[0]
        model.propagate_share(layer, final)
        if rank == 0:
            result["probe_all"] = in_dataset_ids(final)
            _save_result(job, result)
        _leave()

    def batch_rows(u, i, j) -> tuple:
        """(final rows, layer-0 rows) of the triples' users, positives and negatives."""
        if not num_layers:  # BPR-MF: one lookup per triple
            rows = tables[USER](u), tables[ITEM](i), tables[ITEM](j)
            return rows, rows
        seeds_u, at_u = torch.unique(u, return_inverse=True)
        seeds_i, at_i = torch.unique(torch.cat([i, j]), return_inverse=True)
        out_rows, rows0 = model.forward({USER: seeds_u, ITEM: seeds_i})
        pick = (lambda r: (r[USER][at_u], r[ITEM][at_i[:len(i)]], r[ITEM][at_i[len(i):]]))
        return pick(out_rows), pick(rows0)

    gen = torch.Generator().manual_seed(cfg.seed * 1000 + rank)
    opt = dgl.distributed.optim.SparseAdam(list(tables.values()), lr=cfg.lr)

    def train_step(idx) -> float:
        u, i = users[idx], items[idx]
        j = sampler.sample(u, gen)
        (eu, ei, ej), (eu0, ei0, ej0) = batch_rows(u, i, j)
        bpr = ranking_loss((eu * ei).sum(1), (eu * ej).sum(1).unsqueeze(1), "bpr")
        reg = (eu0.pow(2).sum() + ei0.pow(2).sum() + ej0.pow(2).sum()) / (2 * len(u))
        loss = bpr + cfg.reg_weight * reg
        (loss / world).backward()  # each row's gradient as from the mean over the whole step's batch
        sparse_step(opt)
        return float(loss.detach())

    _drive(job, cfg, g=g, rank=rank, world=world, share=share, steps=steps, num_examples=len(users), gen=gen,
           train_step=train_step, share_embeddings=lambda out: model.propagate_share(layer, out), final=final,
           best=best, ranking=ranking, num_items=num_items, num_users=num_users, user_orig=orig[USER],
           interactions=all_counts, ranked_users=ranked_users, in_dataset_ids=in_dataset_ids)


__all__ = ["DistBPRConfig", "DistLightGCNConfig", "train_process"]
