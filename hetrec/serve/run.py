"""A trained run loaded for serving: top-k lists for many users, new users given by their
items, and the model's vectors, all named by the dataset's raw ids."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from ..data import INTERACTED_BY, INTERACTS, ITEM, USER
from .errors import ServeError
from .topk import chunk_rows, top_k_unseen

#: the columns of a recommendation table (for new users given by items, ``user`` is their position in the request)
COLUMNS = ("user", "rank", "item", "item_name", "score")


def load_run(run_dir, fold: int | None = None, device=None) -> "ServedRun":
    """A trained run folder ready to serve: the model of ``fold`` (default: the first trained
    fold) on ``device`` (default CPU), with the run's dataset.

    The run is read by :func:`hetrec.train.runs.load_run` and
    :func:`hetrec.train.runs.load_fold_model`, so data or a split that differ from the run's are
    refused as they are by ``hetrec evaluate``.

    Examples
    --------
    >>> run = hetrec.load_run("runs/ml-1m-bprmf")             # doctest: +SKIP
    >>> run.recommend([1, 2, 3], k=10)                        # doctest: +SKIP
       user  rank  item                 item_name     score
    0     1     1  1196  Star Wars: Episode V ...  4.91...
    """
    from ..train.runs import load_fold_model, trained_folds
    from ..train.runs import load_run as load_config

    cfg, dataset = load_config(run_dir)
    folds = trained_folds(run_dir, cfg.k)
    if not folds:
        raise ServeError(f"{run_dir}: no trained fold (fold-*/model.pt)")
    fold = folds[0] if fold is None else fold
    if fold not in folds:
        raise ServeError(f"{run_dir}: no trained model for fold {fold} (trained: fold {', '.join(map(str, folds))})")
    model, split = load_fold_model(run_dir, fold, cfg, dataset, device=device)
    return ServedRun(model, dataset, split, fold=fold, config=cfg)


class ServedRun:
    """A trained model with its dataset, answering by raw ids (see :func:`load_run`).

    Parameters
    ----------
    model : hetrec.models.Recommender
        The trained model, set up on ``split``.
    dataset
        The run's dataset (its graph gives raw ids, item names and what each user has seen).
    split : hetrec.data.Split
        The fold the model was trained on.
    """

    def __init__(self, model, dataset, split, fold: int = 0, config=None):
        self.model, self.dataset, self.split, self.fold, self.config = model, dataset, split, fold, config
        g = dataset.graph
        self.user_ids = g.nodes[USER].data["raw_id"].numpy().astype(np.int64)
        self.item_ids = g.nodes[ITEM].data["raw_id"].numpy().astype(np.int64)
        names = (getattr(dataset, "names", None) or {}).get(ITEM)
        self.item_names = np.asarray(names, dtype=object) if names else self.item_ids.astype(str).astype(object)
        indptr, indices, _ = g.adj_tensors("csr", etype=INTERACTS)
        #: every interaction of the dataset, in any fold and any part, is never recommended again
        self.seen = sp.csr_matrix((np.ones(len(indices), dtype=np.float32), indices.numpy(), indptr.numpy()),
                                  shape=(len(self.user_ids), len(self.item_ids)))
        self._user_order = np.argsort(self.user_ids, kind="stable")
        self._item_order = np.argsort(self.item_ids, kind="stable")

    @property
    def name(self) -> str:
        """The model's name."""
        return self.model.name

    # -- raw ids -----------------------------------------------------------------------------------
    @staticmethod
    def _lookup(raw: np.ndarray, order: np.ndarray, wanted, what: str) -> np.ndarray:
        wanted = np.asarray(wanted).ravel()
        if wanted.dtype.kind not in "iu":
            fits = np.asarray([isinstance(v, (int, np.integer)) and -(2**63) <= int(v) < 2**63 for v in wanted],
                              dtype=bool)
            if not fits.all():  # not an integer, or beyond 64 bits: no such raw id
                ServedRun._unknown(raw, wanted[~fits], what)
        wanted = wanted.astype(np.int64)
        pos = np.searchsorted(raw[order], wanted).clip(0, max(len(raw) - 1, 0))
        found = order[pos] if len(raw) else pos
        missing = raw[found] != wanted if len(raw) else np.ones(len(wanted), dtype=bool)
        if missing.any():
            ServedRun._unknown(raw, wanted[missing], what)
        return found

    @staticmethod
    def _unknown(raw, bad, what):
        listed = ", ".join(map(str, bad[:5])) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise ServeError(f"unknown {what} {listed}: no {what} with that raw id in the dataset "
                         f"({len(raw):,} {what}s, raw ids {int(raw.min())}..{int(raw.max())})")

    def user_index(self, raw_ids) -> np.ndarray:
        """Node ids of users given by raw id (:class:`ServeError` naming the unknown ones)."""
        return self._lookup(self.user_ids, self._user_order, raw_ids, "user")

    def item_index(self, raw_ids) -> np.ndarray:
        """Node ids of items given by raw id (:class:`ServeError` naming the unknown ones)."""
        return self._lookup(self.item_ids, self._item_order, raw_ids, "item")

    # -- recommending ------------------------------------------------------------------------------
    def recommend(self, users=None, k: int = 10, *, exclude_seen: bool = True, chunk_size: int | None = None,
                  lists: bool = False):
        """The top ``k`` items of each user in ``users`` (raw ids; None: every user).

        Items a user has interacted with anywhere in the dataset are not recommended (as by
        :func:`hetrec.eval.recommend`), unless ``exclude_seen=False``. Scores are computed
        ``chunk_size`` users at a time (default: about 2**24 scores a chunk).

        Returns a ``pandas.DataFrame`` with columns ``user, rank, item, item_name, score``
        (raw ids; ``rank`` from 1), users in the given order; with ``lists=True`` a dict
        ``{user raw id: [item raw ids, best first]}``.
        """
        if users is None:
            idx = np.arange(len(self.user_ids))
        else:
            users = np.atleast_1d(np.asarray(users))
            if len(users) == 0:
                raise ServeError("no users to recommend for")
            idx = self.user_index(users)
        device = self.model.device

        def score(positions):
            return self.model.scores(torch.from_numpy(idx[positions]).to(device))

        exclude = self.seen[idx] if exclude_seen else None
        out = top_k_unseen(score, idx, self._check_k(k), exclude, chunk_size or chunk_rows(len(self.item_ids)))
        return self._frame(self.user_ids[idx], *out, lists=lists)

    def recommend_items(self, items, k: int = 10, *, exclude_given: bool = True, lists: bool = False):
        """The top ``k`` items of a new user given by the raw ids ``items`` of its items (a list),
        or of several new users (a list of lists), scored by the model's
        :meth:`~hetrec.models.Recommender.scores_from_history` ("folding in"; its own rule for
        models that score a user's row, the mean of the items' vectors for inner-product models).

        Every item must have been seen in the training data of the run's fold (an item without a
        training interaction has no learned vector or row). The given items are not recommended
        back unless ``exclude_given=False``. Returns the table of :meth:`recommend` where
        ``user`` is the position of the new user (0, 1, ...) in ``items``.
        """
        histories = [items] if len(items) == 0 or np.ndim(items[0]) == 0 else list(items)
        if any(len(h) == 0 for h in histories):
            raise ServeError("a new user needs at least one item")
        lengths = [len(h) for h in histories]
        flat = self.item_index([v for h in histories for v in np.asarray(h).ravel().tolist()])
        trained = np.diff(sp.csc_matrix(self.split.train).indptr) > 0
        unseen = ~trained[flat]
        if unseen.any():
            bad = self.item_ids[flat[unseen]]
            raise ServeError(f"item {', '.join(map(str, bad[:5]))}: no interaction in the training data of fold "
                             f"{self.fold}, so the model never saw it in a history")
        rows = np.repeat(np.arange(len(histories)), lengths)
        history = sp.csr_matrix((np.ones(len(flat), dtype=np.float32), (rows, flat)),
                                shape=(len(histories), len(self.item_ids)))
        history.sum_duplicates()
        history.data[:] = 1.0

        def score(positions):
            try:
                return self.model.scores_from_history(history[positions])
            except NotImplementedError:
                raise ServeError(f"{self.name} cannot score a new user given by items (no item vectors or "
                                 "item-item rule); use an inner-product or item-item model") from None

        out = top_k_unseen(score, np.arange(len(histories)), self._check_k(k), history if exclude_given else None,
                           chunk_rows(len(self.item_ids)))
        return self._frame(np.arange(len(histories)), *out, lists=lists)

    def recommend_new_user(self, attributes: dict, items=None, k: int = 10, *, lists: bool = False):
        """The top ``k`` items of a new user given by attribute values (cold start) and, optionally,
        the raw ids ``items`` of her first items: ``attributes`` maps a user attribute (a node type
        linked from users, e.g. ``"gender"``) to a value or a list of values, each given as its
        name in the data (``"F"``) or its raw id. The user is added to the fold's training graph
        with those edges and scored by the model's
        :meth:`~hetrec.models.Recommender.cold_start_scorer` (MTHGT embeds her with its trained
        layers or its attribute map, ``cold_init``), without retraining. An unknown attribute or
        value, or a model that cannot score cold users, is a :class:`ServeError` naming it; the
        given items are not recommended back. Returns the table of :meth:`recommend` with ``user`` 0.
        """
        import dgl

        g = self.split.train_graph
        kinds = sorted({et[2] for et in g.canonical_etypes if et[0] == USER and et[2] not in (USER, ITEM)})
        if not attributes and not items:
            raise ServeError("a new user needs at least one attribute value or item")
        new = g.num_nodes(USER)
        data = {et: list(g.edges(etype=et, order="eid")) for et in g.canonical_etypes}
        for kind, values in attributes.items():
            if kind not in kinds:
                raise ServeError(f"unknown user attribute {kind!r}: users of this dataset have "
                                 f"{', '.join(map(repr, kinds)) or 'no attributes'}")
            for v in np.atleast_1d(np.asarray(values, dtype=object)).tolist():
                node = self._attribute_node(kind, v)
                for et in g.canonical_etypes:
                    if et[0] == USER and et[2] == kind:
                        data[et] = [torch.cat([data[et][0], torch.tensor([new])]),
                                    torch.cat([data[et][1], torch.tensor([node])])]
                    elif et[0] == kind and et[2] == USER:
                        data[et] = [torch.cat([data[et][0], torch.tensor([node])]),
                                    torch.cat([data[et][1], torch.tensor([new])])]
        given = np.zeros(0, dtype=np.int64)
        if items:
            given = self.item_index(items)
            for et, (a, b) in ((INTERACTS, (new, given)), (INTERACTED_BY, (given, new))):
                a, b = (torch.as_tensor(np.broadcast_to(x, len(given)).copy()) for x in (a, b))
                data[et] = [torch.cat([data[et][0], a]), torch.cat([data[et][1], b])]
        sizes = {t: g.num_nodes(t) + (t == USER) for t in g.ntypes}
        graph = dgl.heterograph({et: tuple(v) for et, v in data.items()}, num_nodes_dict=sizes, idtype=g.idtype)
        try:
            score_fn = self.model.cold_start_scorer(graph, {USER: torch.tensor([new])})
        except NotImplementedError as err:
            raise ServeError(f"{self.name} cannot score a new user from attributes: {str(err).split(';')[0]}") from None
        except ValueError as err:
            raise ServeError(str(err)) from None
        with torch.no_grad():
            scores = score_fn(torch.tensor([new], device=self.model.device))
        exclude = sp.csr_matrix((np.ones(len(given), dtype=np.float32), (np.zeros(len(given), dtype=np.int64), given)),
                                shape=(1, len(self.item_ids)))
        out = top_k_unseen(lambda positions: scores[positions].clone(), np.arange(1), self._check_k(k),
                           exclude if len(given) else None, 1)
        return self._frame(np.arange(1), *out, lists=lists)

    def _attribute_node(self, kind: str, value) -> int:
        """The node of attribute ``kind`` with name (or raw id) ``value``."""
        names = list((getattr(self.dataset, "names", None) or {}).get(kind) or [])
        text = str(value)
        if text in names:
            return names.index(text)
        raw = self.dataset.graph.nodes[kind].data.get("raw_id")
        if raw is not None and text.lstrip("-").isdigit():
            hit = np.flatnonzero(raw.numpy() == int(text))
            if len(hit):
                return int(hit[0])
        shown = ", ".join(map(repr, names[:8])) + (" ..." if len(names) > 8 else "")
        raise ServeError(f"unknown {kind} value {value!r}" + (f"; known values: {shown}" if names else ""))

    @staticmethod
    def _check_k(k) -> int:
        if int(k) < 1:
            raise ServeError(f"k must be at least 1, got {k}")
        return int(k)

    def _frame(self, user_labels, position, rank, item, score, lists: bool):
        import pandas as pd

        users = user_labels[position]
        if lists:
            items = self.item_ids[item]
            bounds = np.flatnonzero(np.diff(position)) + 1
            groups = np.split(items, bounds)
            keys = users[np.r_[0, bounds]] if len(position) else []
            return {int(u): g.tolist() for u, g in zip(keys, groups)} if len(position) else {}
        return pd.DataFrame({"user": users, "rank": rank, "item": self.item_ids[item],
                             "item_name": self.item_names[item], "score": score})

    # -- vectors -----------------------------------------------------------------------------------
    def has_embeddings(self) -> bool:
        """Whether the model scores by inner products of user and item vectors."""
        from ..models.base import Recommender

        return type(self.model).embeddings is not Recommender.embeddings

    def embeddings(self) -> tuple:
        """``(user_vectors, item_vectors)`` as float32 numpy arrays, rows in node order (raw ids:
        :attr:`user_ids`, :attr:`item_ids`), such that ``user_vectors @ item_vectors.T`` are the
        model's scores. :class:`ServeError` for models without vectors (EASE, item-kNN, ...)."""
        if not self.has_embeddings():
            raise ServeError(f"{self.name} has no user and item embeddings (it does not score by inner products); "
                             "export works for embedding models such as bprmf, lightgcn, mthgt")
        with torch.no_grad():
            users, items = self.model.embeddings()
        return users.detach().float().cpu().numpy(), items.detach().float().cpu().numpy()


__all__ = ["load_run", "ServedRun", "COLUMNS"]
