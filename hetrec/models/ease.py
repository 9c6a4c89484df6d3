r"""EASE: embarrassingly shallow autoencoder (Steck, "Embarrassingly Shallow Autoencoders for
Sparse Data", WWW 2019).

An item x item weight matrix :math:`B` with a zero diagonal that reconstructs the binary
training matrix :math:`X` (users x items) under an L2 penalty,

.. math::

    \min_B \|X - XB\|_F^2 + \lambda \|B\|_F^2 \quad \text{s.t. } \operatorname{diag}(B) = 0,

has the closed form (paper Eq. 8)

.. math::

    P = (X^\top X + \lambda I)^{-1}, \qquad B_{ij} = -\frac{P_{ij}}{P_{jj}} \;(i \ne j), \quad B_{jj} = 0,
    \qquad \hat y_{u\cdot} = x_u B .

Fitted once in :meth:`EASE.setup` (no training loop); :math:`\lambda` (``reg_weight``) is chosen on
validation by ``hetrec tune``.

Cost: :math:`P` is dense, :math:`|I|^2` float64 (fold 0 of ML-1M: 3,669 items with a training
interaction, 0.1 GB; of Last.FM: 14,442, 1.7 GB), and inverting it takes :math:`O(|I|^3)` (about a
second on ML-1M, 84 s on Last.FM on one thread; docs/baselines.md). Items without a training interaction are left out
of the inverse: their rows and columns of :math:`X^\top X + \lambda I` are :math:`\lambda I`, so
their weights are exactly 0 and they score 0. The model refuses, before allocating, a matrix
that does not fit in memory (:func:`hetrec.models._memory.check_dense_fits`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
import torch

from ._memory import check_dense_fits
from .base import ClosedFormRecommender
from .classic import _binary_train, binary_matrix


@dataclass
class EASEConfig:
    #: the L2 weight λ (Steck found 500 to 1000 best on MovieLens-20M, Netflix and MSD)
    reg_weight: float = 500.0
    #: refuse to build matrices above this many GB (None means 90 % of the memory available now)
    max_memory_gb: float | None = None


class EASE(ClosedFormRecommender):
    """EASE. Defaults (:class:`EASEConfig`): ``reg_weight=500``. ``B`` (over the items with a
    training interaction) is a float32 buffer, not saved in ``model.pt`` (:meth:`setup`
    recomputes it from the fold), that moves with ``.to(device)``; ``scores(users) = X[users] @ B``."""

    name = "ease"
    Config = EASEConfig

    def setup(self, split) -> None:
        x = _binary_train(split)
        self.train_matrix = x
        num_items = x.shape[1]
        active = np.flatnonzero(np.diff(x.tocsc().indptr) > 0)  # items with a training interaction
        # the Gram matrix, inverted in place (float64), then B in float32: about 1.5 copies at most
        check_dense_fits(self.name, len(active), copies=1, itemsize=8 + 4, limit_gb=self.config.max_memory_gb,
                         hint="use a sparse item-item model (itemknn, rp3beta) or gfcf instead")
        self.num_items = num_items
        self.active_items = active
        xa = x[:, active].astype(np.float64)
        p = np.asarray((xa.T @ xa).todense(), dtype=np.float64)
        p[np.diag_indices_from(p)] += self.config.reg_weight
        p = _spd_inverse(p)
        p /= -np.diag(p)[None, :]
        np.fill_diagonal(p, 0.0)
        self.register_buffer("weights", torch.from_numpy(p.astype(np.float32)), persistent=False)

    def scores(self, users: torch.Tensor) -> torch.Tensor:
        return self.scores_from_history(self.train_matrix[np.asarray(users.cpu(), dtype=np.int64)])

    def scores_from_history(self, history) -> torch.Tensor:
        """``x B`` for binary rows ``x``: a new user's row scored like a training user's."""
        rows = binary_matrix(history)[:, self.active_items]
        device = self.weights.device
        x = torch.from_numpy(np.asarray(rows.todense(), dtype=np.float32)).to(device)
        out = torch.zeros(rows.shape[0], self.num_items, dtype=torch.float32, device=device)
        out[:, torch.from_numpy(self.active_items).to(device)] = x @ self.weights
        return out


def _spd_inverse(a: np.ndarray) -> np.ndarray:
    """The inverse of a symmetric positive-definite matrix by Cholesky (LAPACK ``potrf`` +
    ``potri``), overwriting ``a``: one dense copy instead of the two of ``np.linalg.inv``."""
    c, info = scipy.linalg.lapack.dpotrf(a, lower=0, overwrite_a=1, clean=0)
    if info != 0:
        raise ValueError(f"ease: X^T X + λI is not positive definite (LAPACK potrf info {info}); "
                         "use a larger reg_weight")
    inv, info = scipy.linalg.lapack.dpotri(c, lower=0, overwrite_c=1)
    if info != 0:
        raise ValueError(f"ease: inverting X^T X + λI failed (LAPACK potri info {info})")
    n, block = len(inv), 1024
    for s in range(0, n, block):  # potri fills the upper triangle: mirror it, a band of rows at a time
        e = min(s + block, n)
        inv[s:e, :s] = inv[:s, s:e].T
        inv[s:e, s:e] = np.triu(inv[s:e, s:e]) + np.triu(inv[s:e, s:e], 1).T
    return inv


__all__ = ["EASE", "EASEConfig"]
