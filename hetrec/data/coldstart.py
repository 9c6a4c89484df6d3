"""Cold-start splits: users or items the training graph knows only by their attributes (docs/coldstart.md).

Two protocols, each over ``k`` folds of *nodes* (not of interactions):

* **cold items** (``"cold-items"``): the items with at least one interaction are shuffled
  (seeded) and dealt into ``k`` folds. Fold ``f``'s items lose every interaction from training,
  and their edges to other users and items (attribute edges, e.g. an artist's tags or a movie's
  genres, stay). Every user with an interaction on them is a test user and ranks **all** of the
  fold's cold items (:attr:`ColdSplit.candidates`), nothing else.
* **cold users** (``"cold-users"``): the users with at least one interaction are dealt into
  ``k`` folds. Fold ``f``'s users keep only their attribute edges (Last.FM: the tags they use;
  MovieLens: gender, age, occupation); their interactions and friendships leave the training
  graph. They rank every item; their held-out interactions are the targets. A variant reveals
  their first ``n`` interactions (by ``timestamp`` where the interactions carry one, else in a
  seeded random order) at inference: :meth:`ColdSplit.revealed`, :meth:`ColdSplit.graph_with`,
  and :meth:`ColdSplit.test_after` for targets that do not depend on ``n``.

The warm interactions (of the other users and items) are split as ``kfold_split`` does with its
validation set: ``val_ratio`` of each user's warm interactions (rounded half up, never all) is
validation, for early stopping; the rest is train. The training graph keeps every node, but no
validation or test interaction and no reverse of one.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import scipy.sparse as sp
import torch

from .schema import INTERACTED_BY, INTERACTS, ITEM, USER, attribute_ntypes
from .split import Split, _grouped_ranks, validation_mask

#: the cold-start protocols of :func:`cold_start_split`
SETTINGS = ("cold-items", "cold-users")


@dataclass
class ColdSplit(Split):
    """One cold-start fold: a :class:`~hetrec.data.Split` whose test set holds the interactions of
    the fold's cold nodes.

    ``cold`` are the cold node ids (items or users, ``setting``); ``candidates`` the items a test
    user ranks (the cold items; None: every item). ``reveal_rank[j]`` is the position of test
    interaction ``test_eids[j]`` in its cold user's reveal order (cold users; None for cold items).
    """

    setting: str = "cold-items"
    cold: np.ndarray = None
    candidates: np.ndarray | None = None
    reveal_rank: np.ndarray | None = None
    graph: object = None  # the full graph: revealed interactions keep their edge data

    @property
    def cold_nodes(self) -> dict:
        """``{node type: LongTensor of cold ids}``, the form the models' cold-start scoring takes."""
        return {ITEM if self.setting == "cold-items" else USER: torch.from_numpy(self.cold)}

    def _check_reveal(self, n: int) -> None:
        if self.reveal_rank is None:
            raise ValueError(f"only cold users reveal interactions; this is a {self.setting} split")
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"the number of revealed interactions must be a non-negative integer, got {n!r}")

    def revealed_eids(self, n: int) -> np.ndarray:
        """Ids (in the full graph's ``INTERACTS``) of each cold user's first ``n`` interactions."""
        self._check_reveal(n)
        return self.test_eids[self.reveal_rank < n]

    def revealed(self, n: int) -> sp.csr_matrix:
        """users x items: each cold user's first ``n`` interactions (all of them if fewer)."""
        return self._csr(self.revealed_eids(n))

    def test_after(self, m: int) -> sp.csr_matrix:
        """users x items: the cold users' interactions after their first ``m`` — the same targets
        for every ``n <= m`` revealed, so that results over ``n`` compare."""
        self._check_reveal(m)
        return self._csr(self.test_eids[self.reveal_rank >= m])

    def graph_with(self, n: int):
        """The training graph plus each cold user's first ``n`` interactions (both directions,
        with their edge data): what a model sees of a user who has just made ``n`` interactions."""
        eids = self.revealed_eids(n)
        g = self.train_graph.clone()
        if len(eids) == 0:
            return g
        import dgl

        src, dst = self.graph.find_edges(torch.from_numpy(eids), etype=INTERACTS)
        idx = torch.from_numpy(eids)
        data = {k: v[idx] for k, v in self.graph.edges[INTERACTS].data.items() if k != dgl.EID}
        g.add_edges(src, dst, data={**data, dgl.EID: idx}, etype=INTERACTS)
        if INTERACTED_BY in g.canonical_etypes:
            rev = {k: v[idx] for k, v in self.graph.edges[INTERACTED_BY].data.items()}
            g.add_edges(dst, src, data=rev, etype=INTERACTED_BY)
        return g

    def _csr(self, eids) -> sp.csr_matrix:
        users, items = (t.numpy() for t in self.graph.find_edges(torch.from_numpy(eids), etype=INTERACTS))
        return sp.csr_matrix((np.ones(len(eids), dtype=np.float32), (users, items)),
                             shape=(self.num_users, self.num_items))


def cold_start_split(graph, setting: str, k: int = 5, seed: int = 0, val_ratio: float = 0.1) -> "ColdFolds":
    """The ``k`` folds of cold-start protocol ``setting`` (:data:`SETTINGS`) over ``graph``,
    built lazily: ``cold_start_split(g, "cold-items")[f]`` is a :class:`ColdSplit`. The same
    ``seed`` deals the same nodes on every machine (numpy's PCG64)."""
    if setting not in SETTINGS:
        raise ValueError(f"unknown cold-start setting {setting!r}; valid: {', '.join(SETTINGS)}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
        raise ValueError(f"k must be an integer of at least 2, got {k!r}")
    if not 0.0 <= val_ratio < 1.0:
        raise ValueError(f"val_ratio must be in [0, 1), got {val_ratio}")
    return ColdFolds(graph, setting, int(k), seed, val_ratio)


class ColdFolds(Sequence):
    """The ``k`` cold-start splits of one graph; indexing builds a :class:`ColdSplit`."""

    def __init__(self, graph, setting: str, k: int, seed: int, val_ratio: float):
        self.graph, self.setting, self.k, self.seed, self.val_ratio = graph, setting, k, seed, val_ratio
        src, dst = graph.edges(etype=INTERACTS, order="eid")
        self._users = src.numpy().astype(np.int64)
        self._items = dst.numpy().astype(np.int64)
        self.ntype = ITEM if setting == "cold-items" else USER
        nodes = self._items if self.ntype == ITEM else self._users
        rng = np.random.default_rng(seed)
        active = np.unique(nodes)  # nodes with an interaction: the only ones a fold can test
        self._node_fold = np.full(graph.num_nodes(self.ntype), -1, dtype=np.int64)
        self._node_fold[rng.permutation(active)] = np.arange(len(active)) % k
        self._edge_fold = self._node_fold[nodes]
        self._val_key = rng.random(len(nodes))
        # reveal order of a cold user's interactions: by time where known, ties (and datasets
        # without time) by a seeded random key
        tie = rng.random(len(nodes))
        time = graph.edges[INTERACTS].data.get("timestamp")
        self._reveal_key = tie if time is None else time.numpy().astype(np.float64) + 0.5 * tie

    def __len__(self) -> int:
        return self.k

    def digest(self) -> str:
        """sha256 of the dealing (which fold every node and interaction got) and of the interactions."""
        h = hashlib.sha256(f"{self.setting}|{self.k}|{self.seed}|{self.val_ratio!r}|".encode())
        for a in (self._users, self._items, self._node_fold, self._val_key, self._reveal_key):
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()

    def __getitem__(self, f):
        if isinstance(f, slice):
            return [self[i] for i in range(*f.indices(self.k))]
        if not -self.k <= f < self.k:
            raise IndexError(f"fold {f} out of range for k={self.k}")
        f = f % self.k
        users, items, g = self._users, self._items, self.graph
        is_test = self._edge_fold == f
        is_val = validation_mask(users, self._val_key, np.flatnonzero(~is_test), self.val_ratio)
        test_eids = np.flatnonzero(is_test)
        val_eids = np.flatnonzero(is_val)
        train_eids = np.flatnonzero(~(is_test | is_val))
        cold = np.flatnonzero(self._node_fold == f)

        nu, ni = g.num_nodes(USER), g.num_nodes(ITEM)

        def csr(eids):
            return sp.csr_matrix((np.ones(len(eids), dtype=np.float32), (users[eids], items[eids])), shape=(nu, ni))

        import dgl

        train_graph = g.clone()
        train_graph.edges[INTERACTS].data["_eid"] = torch.arange(g.num_edges(INTERACTS))
        removed = torch.from_numpy(np.concatenate([test_eids, val_eids]))
        train_graph.remove_edges(removed, etype=INTERACTS)
        if INTERACTED_BY in train_graph.canonical_etypes:
            train_graph.remove_edges(removed, etype=INTERACTED_BY)
        train_graph.edges[INTERACTS].data[dgl.EID] = train_graph.edges[INTERACTS].data.pop("_eid")
        _drop_non_attribute_edges(train_graph, self.ntype, torch.from_numpy(cold))

        reveal_rank = None
        if self.ntype == USER:
            reveal_rank, _ = _grouped_ranks(users[test_eids], self._reveal_key[test_eids])
        return ColdSplit(
            fold=f, k=self.k, seed=self.seed, train_graph=train_graph, train=csr(train_eids),
            val=csr(val_eids), test=csr(test_eids), train_eids=train_eids, val_eids=val_eids,
            test_eids=test_eids, setting=self.setting, cold=cold,
            candidates=cold if self.ntype == ITEM else None, reveal_rank=reveal_rank, graph=g)


def _drop_non_attribute_edges(g, ntype: str, cold: torch.Tensor) -> None:
    """Remove (in place) every edge between a cold node of ``ntype`` and a user or item (a
    friendship, an item-item link): cold nodes keep their attribute edges only."""
    attrs = set(attribute_ntypes(g))
    for et in g.canonical_etypes:
        s_t, _, d_t = et
        if ntype not in (s_t, d_t) or (s_t in attrs or d_t in attrs):
            continue
        s, d = g.edges(etype=et)
        hit = torch.zeros(g.num_edges(et), dtype=torch.bool)
        if s_t == ntype:
            hit |= torch.isin(s, cold)
        if d_t == ntype:
            hit |= torch.isin(d, cold)
        if hit.any():
            g.remove_edges(hit.nonzero().flatten(), etype=et)


__all__ = ["SETTINGS", "ColdSplit", "ColdFolds", "cold_start_split"]
