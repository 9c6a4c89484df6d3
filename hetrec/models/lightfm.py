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

A cold user or item is a row without its identity feature (its attribute values only), so it is
scored from the attribute embeddings learned on the warm nodes. Trained in :meth:`setup` for a
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


def features(identity_rows: np.ndarray, attributes: sp.csr_matrix) -> sp.csr_matrix:
    """``[identity | attributes]`` with the identity column only for rows in ``identity_rows``
    (a bool mask), every row normalised to sum 1 (a row without any feature stays zero)."""
    n = attributes.shape[0]
    ident = sp.diags(identity_rows.astype(np.float32), shape=(n, n))
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
        self.num_trained = (g.num_nodes(USER), g.num_nodes(ITEM))
        self.user_features = features(np.ones(a_u.shape[0], bool), a_u)
        self.item_features = features(np.ones(a_i.shape[0], bool), a_i)
        self.lightfm = lightfm.LightFM(no_components=cfg.no_components, loss=cfg.loss, learning_rate=cfg.learning_rate,
                                       item_alpha=cfg.item_alpha, user_alpha=cfg.user_alpha,
                                       max_sampled=cfg.max_sampled, random_state=np.random.RandomState(cfg.seed))
        interactions = binary_matrix(split.train).tocoo()
        self.lightfm.fit(interactions, user_features=self.user_features, item_features=self.item_features,
                         epochs=cfg.epochs, num_threads=cfg.num_threads)
        self._scorer = self._make_scorer(self.user_features, self.item_features)

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
        for t, trained, sizes in ((USER, self.num_trained[0], self.user_sizes), (ITEM, self.num_trained[1], self.item_sizes)):
            a, _ = attribute_matrix(graph, t, sizes)
            known = np.arange(a.shape[0]) < trained
            if t in cold:
                known[np.asarray(cold[t], dtype=np.int64)] = False
            f = features(known, a)
            if a.shape[0] > trained:  # new nodes: no identity column of their own in the model
                f = sp.hstack([f[:, :trained], f[:, a.shape[0]:]]).tocsr()
            feats.append(f)
        return self._make_scorer(*feats)


__all__ = ["LightFM", "LightFMConfig", "import_lightfm", "INSTALL"]
