"""Per-user k-fold splits of the interaction relation (docs/index.md, "Splits").

Each user's interactions are shuffled with a seeded generator and dealt into ``k`` folds
(position ``r`` in the shuffled list goes to fold ``(r + offset_u) mod k``, with a random
per-user offset so that the folds that receive one interaction more than the others differ
between users). Fold ``f`` is the test set; ``val_ratio`` of each user's remaining
interactions (rounded half up, never all of them) is validation; the rest is train.

The training graph keeps every node but none of the validation or test interactions, nor
their reverses (edge ``i`` of ``interacts`` and of ``interacted_by`` are the same fact, see
:mod:`hetrec.data.schema`).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import scipy.sparse as sp
import torch

from .schema import INTERACTED_BY, INTERACTS, ITEM, USER


@dataclass
class Split:
    """One fold: the training graph and users x items matrices (value 1 per interaction).

    ``train_eids`` / ``val_eids`` / ``test_eids`` are edge ids of ``INTERACTS`` in the full
    graph. ``train_graph`` holds only the training interactions (and all other relations);
    its ``INTERACTS`` edges carry ``dgl.EID``, their id in the full graph.
    """

    fold: int
    k: int
    seed: int
    train_graph: object
    train: sp.csr_matrix
    val: sp.csr_matrix
    test: sp.csr_matrix
    train_eids: np.ndarray
    val_eids: np.ndarray
    test_eids: np.ndarray

    @property
    def num_users(self) -> int:
        return self.train.shape[0]

    @property
    def num_items(self) -> int:
        return self.train.shape[1]


def _grouped_ranks(groups: np.ndarray, keys: np.ndarray) -> tuple:
    """For each element, its rank among the elements of its group ordered by ``keys``,
    and the size of its group. Vectorised: one lexsort, no loop over groups."""
    order = np.lexsort((keys, groups))
    g_sorted = groups[order]
    starts = np.r_[0, np.flatnonzero(np.diff(g_sorted)) + 1]
    sizes = np.diff(np.r_[starts, len(g_sorted)])
    start_of = np.repeat(starts, sizes)
    rank = np.empty(len(groups), dtype=np.int64)
    rank[order] = np.arange(len(groups)) - start_of
    size = np.empty(len(groups), dtype=np.int64)
    size[order] = np.repeat(sizes, sizes)
    return rank, size


def validation_mask(users: np.ndarray, val_key: np.ndarray, rest: np.ndarray, val_ratio: float) -> np.ndarray:
    """Boolean mask over the interactions: the validation share of the interactions ``rest``
    (indices), the first ``round(val_ratio * n)`` of each user's ``n`` by the random ``val_key``;
    at least one interaction of a user always stays in train."""
    rank, size = _grouped_ranks(users[rest], val_key[rest])
    quota = np.minimum(np.floor(val_ratio * size + 0.5), size - 1)
    is_val = np.zeros(len(users), dtype=bool)
    is_val[rest[rank < quota]] = True
    return is_val


def fold_assignment(users: np.ndarray, k: int, seed: int) -> tuple:
    """Fold of every interaction, and a random key that orders validation candidates.

    Returns ``(fold, val_key)``. For test fold ``f``, a user's validation interactions are the
    ones outside fold ``f`` with the smallest ``val_key``.
    """
    rng = np.random.default_rng(seed)
    n = len(users)
    num_users = int(users.max()) + 1 if n else 0
    shuffle_key = rng.random(n)
    offset = rng.integers(0, k, size=num_users)
    rank, _ = _grouped_ranks(users, shuffle_key)
    fold = (rank + offset[users]) % k
    val_key = rng.random(n)  # a second independent shuffle to pick validation from train
    return fold, val_key


def kfold_split(graph, k: int = 5, seed: int = 0, val_ratio: float = 0.1) -> "KFold":
    """Per-user ``k``-fold splits of ``graph``'s interactions, built lazily per fold.

    ``kfold_split(g)[f]`` is the :class:`Split` with fold ``f`` as test set. The same ``seed``
    gives the same folds on every machine (numpy's PCG64).
    """
    if k < 2:
        raise ValueError(f"k must be at least 2, got {k}")
    if not 0.0 <= val_ratio < 1.0:
        raise ValueError(f"val_ratio must be in [0, 1), got {val_ratio}")
    return KFold(graph, k, seed, val_ratio)


class KFold(Sequence):
    """The ``k`` splits of one graph; indexing builds a :class:`Split`."""

    def __init__(self, graph, k: int, seed: int, val_ratio: float):
        self.graph, self.k, self.seed, self.val_ratio = graph, k, seed, val_ratio
        src, dst = graph.edges(etype=INTERACTS)
        self._users = src.numpy().astype(np.int64)
        self._items = dst.numpy().astype(np.int64)
        self._fold, self._val_key = fold_assignment(self._users, k, seed)

    def __len__(self) -> int:
        return self.k

    def _assign(self, f: int) -> tuple:
        """Boolean masks over the interactions: (in fold ``f``'s test set, in its validation set)."""
        is_test = self._fold == f
        return is_test, validation_mask(self._users, self._val_key, np.flatnonzero(~is_test), self.val_ratio)

    def digest(self) -> str:
        """sha256 of the split itself (which fold and which validation key each interaction
        got) and of the interactions it splits: two runs with equal digests saw the same
        train / validation / test interactions, whatever the hetrec version."""
        h = hashlib.sha256(f"{self.k}|{self.seed}|{self.val_ratio!r}|".encode())
        for a in (self._users, self._items, self._fold.astype(np.int64), self._val_key):
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()

    def coverage(self, f: int) -> dict:
        """Who fold ``f`` leaves out of evaluation: users with interactions but no test
        (``no_test``) or no validation (``no_val``) interaction, and ``min_rest_for_val``,
        the fewest interactions outside the test fold that give a user one validation item."""
        is_test, is_val = self._assign(f % self.k)
        n = int(self._users.max()) + 1 if len(self._users) else 0
        has_any = np.bincount(self._users, minlength=n) > 0
        test_n = np.bincount(self._users[is_test], minlength=n)
        val_n = np.bincount(self._users[is_val], minlength=n)
        rest = np.bincount(self._users[~is_test], minlength=n)
        need = max(2, int(np.ceil(0.5 / self.val_ratio - 1e-9))) if self.val_ratio > 0 else None
        return {"users": int(has_any.sum()), "no_test": int((has_any & (test_n == 0)).sum()),
                "no_val": int((has_any & (val_n == 0)).sum()), "min_rest_for_val": need,
                "max_rest": int(rest.max()) if len(rest) else 0}

    def __getitem__(self, f: int) -> Split:
        if isinstance(f, slice):
            return [self[i] for i in range(*f.indices(self.k))]
        if not -self.k <= f < self.k:
            raise IndexError(f"fold {f} out of range for k={self.k}")
        f = f % self.k
        users, items = self._users, self._items
        is_test, is_val = self._assign(f)
        is_train = ~(is_test | is_val)
        test_eids = np.flatnonzero(is_test)
        val_eids = np.flatnonzero(is_val)
        train_eids = np.flatnonzero(is_train)

        g = self.graph
        nu, ni = g.num_nodes(USER), g.num_nodes(ITEM)

        def csr(eids):
            return sp.csr_matrix(
                (np.ones(len(eids), dtype=np.float32), (users[eids], items[eids])), shape=(nu, ni)
            )

        removed = torch.from_numpy(np.concatenate([test_eids, val_eids]))
        # EID on the interaction relation maps training edges back to the full graph
        train_graph = g.clone()
        train_graph.edges[INTERACTS].data["_eid"] = torch.arange(g.num_edges(INTERACTS))
        train_graph.remove_edges(removed, etype=INTERACTS)
        if INTERACTED_BY in train_graph.canonical_etypes:
            train_graph.remove_edges(removed, etype=INTERACTED_BY)
        import dgl  # local: keep module import light for tooling

        train_graph.edges[INTERACTS].data[dgl.EID] = train_graph.edges[INTERACTS].data.pop("_eid")
        return Split(
            fold=f, k=self.k, seed=self.seed, train_graph=train_graph,
            train=csr(train_eids), val=csr(val_eids), test=csr(test_eids),
            train_eids=train_eids, val_eids=val_eids, test_eids=test_eids,
        )
