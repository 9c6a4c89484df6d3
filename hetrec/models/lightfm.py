r"""LightFM with user and item features (Kula, "Metadata embeddings for user and item cold-start
recommendations", CBRecSys 2015): the hybrid model practitioners use for cold start.

An optional extra: ``pip install setuptools wheel cython`` then
``pip install --no-build-isolation lightfm==1.17`` (``hetrec[lightfm]``); without it the model
raises an error that says so.

Features are LightFM's own construction: a user's feature row is her identity column plus her
attribute values (the attribute edges of the graph, :func:`hetrec.models.coldstart.attribute_matrix`),
the row normalised to sum 1 (as ``lightfm.data.Dataset`` does); items likewise. A representation
is the sum of its features' embeddings, and

.. math::

    \hat y_{ui} = \Big(\sum_{f \in F_u} e^U_f\Big) \cdot \Big(\sum_{g \in F_i} e^I_g\Big) + b_u + b_i .

A cold-start fold's held-out nodes are left out of the fit (a cold item in the catalogue would be
a WARP negative for everyone); a cold user or item is a row
without an identity feature (its attribute values only), scored from the attribute embeddings
learned on the warm nodes. Trained in :meth:`setup` for a
fixed number of ``epochs`` (WARP loss by default), on one thread by default; no early stopping.
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
    #: whether every user and item has an identity feature beside its attribute values (False
    #: gives a pure metadata model, every node its attribute values only, Kula's cold-start setting)
    identity: bool = True


def features(attributes: sp.csr_matrix, nodes: np.ndarray, columns: np.ndarray, width: int) -> sp.csr_matrix:
    """``[identity | attributes]``: node ``nodes[j]`` has identity column ``columns[j]`` (of ``width``;
    other nodes have none), every row normalised to sum 1 (a row without any feature stays zero)."""
    ident = sp.csr_matrix((np.ones(len(nodes), np.float32), (nodes, columns)), shape=(attributes.shape[0], width))
    m = sp.hstack([ident, attributes]).tocsr().astype(np.float32)
    total = np.asarray(m.sum(1)).ravel()
    return sp.csr_matrix(sp.diags(1.0 / np.maximum(total, 1e-12)).dot(m))


class LightFM(ClosedFormRecommender):
    """LightFM with identity and attribute features (module docstring)."""

    name = "lightfm"
    Config = LightFMConfig
    _CHOICES = {"loss": ("warp", "bpr", "warp-kos", "logistic")}

    def setup(self, split) -> None:
        lightfm = import_lightfm()
        cfg = self.config
        if cfg.loss not in self._CHOICES["loss"]:
            raise ValueError(f"loss must be one of {', '.join(self._CHOICES['loss'])}, got {cfg.loss!r}")
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
        idents = self.active if cfg.identity else (np.zeros(0, np.int64),) * 2
        self.lightfm = lightfm.LightFM(no_components=cfg.no_components, loss=cfg.loss, learning_rate=cfg.learning_rate,
                                       item_alpha=cfg.item_alpha, user_alpha=cfg.user_alpha,
                                       max_sampled=cfg.max_sampled, random_state=np.random.RandomState(cfg.seed))
        uf, itf = (features(a, act, np.arange(len(act)), len(act)) for a, act in ((a_u, idents[0]), (a_i, idents[1])))
        interactions = r[self.active[0]][:, self.active[1]].tocoo()
        self.lightfm.fit(interactions, user_features=uf[self.active[0]], item_features=itf[self.active[1]],
                         epochs=cfg.epochs, num_threads=cfg.num_threads)
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
        idents = self.active if self.config.identity else (np.zeros(0, np.int64),) * 2
        for t, active, sizes in ((USER, idents[0], self.user_sizes), (ITEM, idents[1], self.item_sizes)):
            a, _ = attribute_matrix(graph, t, sizes)
            keep = active[~np.isin(active, np.asarray(cold.get(t, []), dtype=np.int64))]
            # cold nodes (and nodes new since training) have no identity column
            feats.append(features(a, keep, np.searchsorted(active, keep), len(active)))
        return self._make_scorer(*feats)


__all__ = ["LightFM", "LightFMConfig", "import_lightfm", "INSTALL"]
