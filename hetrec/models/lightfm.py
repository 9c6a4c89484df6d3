r"""LightFM with user and item features (Kula, "Metadata embeddings for user and item cold-start
recommendations", CBRecSys 2015): the hybrid model practitioners use for cold start.

An optional extra: ``pip install setuptools wheel cython`` then
``pip install --no-build-isolation lightfm==1.17`` (``hetrec[lightfm]``); without it the model
raises an error that says so.

Features are LightFM's own construction: a user's feature row is her identity column plus her
attribute values (the attribute edges of the graph, :func:`hetrec.models.coldstart.attribute_matrix`),
the row normalised to sum 1 (as ``lightfm.data.Dataset`` does; ``normalize=False`` keeps the
binary values); items likewise. A representation is the sum of its features' embeddings, and

.. math::

    \hat y_{ui} = \Big(\sum_{f \in F_u} e^U_f\Big) \cdot \Big(\sum_{g \in F_i} e^I_g\Big) + b_u + b_i .

A cold-start fold's held-out nodes are left out of the fit (a cold item in the catalogue would be
a WARP negative for everyone); a cold user or item is a row
without an identity feature (its attribute values only), scored from the attribute embeddings
learned on the warm nodes. Trained in :meth:`setup` for a
fixed number of ``epochs`` (WARP loss by default), on one thread by default; no early stopping.

``identity`` chooses which node types get identity features: ``"all"`` (the hybrid model, the
default), ``"warm-types"`` (Kula's cold-start setting: a node type that has cold nodes in the split
is described by its metadata only, so the attribute embeddings carry the whole representation the
cold nodes are scored with; the other type keeps identities) or ``"none"``. With identity features
the attribute embeddings learn little. Which rows are normalised is a setting too (``normalize``).
On Last.FM (5 folds, ``benchmarks/coldstart.py``, docs/coldstart.md) the hybrid model ranks cold
artists at random order (NDCG@10 0.011), metadata-only artists with normalised rows too (0.006),
metadata-only artists with binary rows well (0.319), while metadata-only users rank better
normalised (cold users 0.407 against 0.202 binary); so ``lightfm-attr`` (all rows normalised) and
``lightfm-attr-raw`` (metadata-only rows binary) are both benchmarked and chosen between on
validation. A node without identity and without any attribute value has an all-zero feature row
and a zero representation; its interactions are left out of the fit (WARP would only push users
away from sampled negatives on them: on Last.FM, where a third of the artists have no tag, keeping
them took cold-item NDCG@10 to 0.03 in a one-off probe, docs/coldstart.md).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from ..data.schema import INTERACTS, ITEM, USER
from .base import ClosedFormRecommender
from .classic import binary_matrix
from .coldstart import attribute_matrix

#: how to install the optional extra, named by every error that finds it missing
INSTALL = ("pip install setuptools wheel cython && pip install --no-build-isolation lightfm==1.17 "
           "(the optional extra hetrec[lightfm])")


def import_lightfm():
    try:
        import lightfm
    except ImportError:
        raise ImportError(f"the lightfm model needs the lightfm package, which is not installed: {INSTALL}") from None
    return lightfm


@dataclass
class LightFMConfig:
    """Hyper-parameters of LightFM (its own names)."""

    no_components: int = 64
    #: "warp", "bpr", "warp-kos" or "logistic"
    loss: str = "warp"
    learning_rate: float = 0.05
    item_alpha: float = 1e-6
    user_alpha: float = 1e-6
    max_sampled: int = 10
    epochs: int = 30
    num_threads: int = 1
    seed: int = 0
    #: the node types that have identity features beside their attribute values ("all",
    #: "warm-types" = the types without cold nodes in the split, cold types metadata only, or "none")
    identity: str = "all"
    #: the feature rows normalised to sum 1 (lightfm.data.Dataset's default) rather than left
    #: binary ("all", "none" or "identity-types" = the rows of types with identity features,
    #: metadata-only types binary)
    normalize: str = "all"


def features(attributes: sp.csr_matrix, nodes: np.ndarray, columns: np.ndarray, width: int,
             normalize: bool = True) -> sp.csr_matrix:
    """``[identity | attributes]``: node ``nodes[j]`` has identity column ``columns[j]`` (of ``width``;
    other nodes have none), every row normalised to sum 1 with ``normalize`` (a row without any
    feature stays zero)."""
    ident = sp.csr_matrix((np.ones(len(nodes), np.float32), (nodes, columns)), shape=(attributes.shape[0], width))
    m = sp.hstack([ident, attributes]).tocsr().astype(np.float32)
    if not normalize:
        return m
    total = np.asarray(m.sum(1)).ravel()
    return sp.csr_matrix(sp.diags(1.0 / np.maximum(total, 1e-12)).dot(m))


class LightFM(ClosedFormRecommender):
    """LightFM with identity and attribute features (module docstring)."""

    name = "lightfm"
    Config = LightFMConfig
    _CHOICES = {"loss": ("warp", "bpr", "warp-kos", "logistic"), "identity": ("all", "warm-types", "none"),
                "normalize": ("all", "none", "identity-types")}

    def _normalized(self, with_identity: bool) -> bool:
        norm = self.config.normalize
        return with_identity if norm == "identity-types" else norm == "all"

    def setup(self, split) -> None:
        lightfm = import_lightfm()
        cfg = self.config
        mode = cfg.identity
        g = split.train_graph
        a_u, self.user_sizes = attribute_matrix(g, USER)
        a_i, self.item_sizes = attribute_matrix(g, ITEM)
        r = binary_matrix(split.train)
        # a cold-start fold's held-out nodes are not LightFM's users and items: a cold item in
        # the catalogue would be a WARP negative for everyone. Every other node keeps its identity
        # feature (leaving out all nodes without training interactions let untrained items, scored
        # by their attribute values alone, crowd the top of every list: cold users 0.41 -> 0.008)
        held = getattr(split, "cold_nodes", {})
        self.active = tuple(np.setdiff1d(np.arange(n), np.asarray(held.get(t, []), dtype=np.int64))
                            for t, n in ((USER, r.shape[0]), (ITEM, r.shape[1])))
        # which types keep identity features: all, none, or those without cold nodes in the split
        self.with_identity = tuple(mode == "all" or (mode == "warm-types" and not len(held.get(t, [])))
                                   for t in (USER, ITEM))
        idents = tuple(act if keep else np.zeros(0, np.int64) for act, keep in zip(self.active, self.with_identity))
        self.lightfm = lightfm.LightFM(no_components=cfg.no_components, loss=cfg.loss, learning_rate=cfg.learning_rate,
                                       item_alpha=cfg.item_alpha, user_alpha=cfg.user_alpha,
                                       max_sampled=cfg.max_sampled, random_state=np.random.RandomState(cfg.seed))
        uf, itf = (features(a, ids, np.arange(len(ids)), len(act), self._normalized(keep))
                   for a, act, ids, keep in ((a_u, self.active[0], idents[0], self.with_identity[0]),
                                             (a_i, self.active[1], idents[1], self.with_identity[1])))
        ufa, ifa = uf[self.active[0]], itf[self.active[1]]
        interactions = r[self.active[0]][:, self.active[1]]
        # a node with no feature at all (no identity, no attribute value) has a zero representation:
        # its interactions cannot be fitted and are left out (module docstring)
        interactions = sp.diags((np.diff(ufa.indptr) > 0).astype(np.float32)) @ interactions \
            @ sp.diags((np.diff(ifa.indptr) > 0).astype(np.float32))
        interactions.eliminate_zeros()
        self.lightfm.fit(interactions.tocoo(), user_features=ufa, item_features=ifa,
                         epochs=cfg.epochs, num_threads=cfg.num_threads)
        self._user_features, self._item_features = uf, itf
        self._scorer = self._make_scorer(uf, itf)

    def _make_scorer(self, user_features, item_features):
        ub, ue = self.lightfm.get_user_representations(user_features)
        ib, ie = self.lightfm.get_item_representations(item_features)
        ue, ie = torch.from_numpy(ue.astype(np.float32)), torch.from_numpy(ie.astype(np.float32))
        ub, ib = torch.from_numpy(ub.astype(np.float32)), torch.from_numpy(ib.astype(np.float32))
        return lambda users: ue[users.cpu()] @ ie.T + ub[users.cpu()].unsqueeze(1) + ib.unsqueeze(0)

    def scores(self, users: torch.Tensor) -> torch.Tensor:
        return self._scorer(users)

    def cold_start_scorer(self, graph, cold: dict):
        """Cold (and new) nodes lose their identity feature: attribute values only."""
        if INTERACTS not in graph.canonical_etypes:
            raise ValueError("the graph has no interaction relation")
        feats = []
        for t, active, ident, sizes in ((USER, self.active[0], self.with_identity[0], self.user_sizes),
                                        (ITEM, self.active[1], self.with_identity[1], self.item_sizes)):
            a, _ = attribute_matrix(graph, t, sizes)
            keep = active[~np.isin(active, np.asarray(cold.get(t, []), dtype=np.int64))] if ident \
                else np.zeros(0, np.int64)
            # cold nodes (and nodes new since training) have no identity column
            feats.append(features(a, keep, np.searchsorted(active, keep), len(active), self._normalized(ident)))
        return self._make_scorer(*feats)


__all__ = ["LightFM", "LightFMConfig", "import_lightfm", "INSTALL"]
