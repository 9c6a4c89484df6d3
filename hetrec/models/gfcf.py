r"""GF-CF: graph filter based collaborative filtering (Shen, Wu, Zhang, Zhang, Letaief & Li, "How
Powerful is Graph Convolution for Recommendation?", CIKM 2021). Training-free.

With :math:`R` the binary training matrix (users x items), :math:`D_U, D_I` its user and item
degrees and the normalised matrix :math:`\tilde R = D_U^{-1/2} R D_I^{-1/2}`, the score of a user
with interaction row :math:`r_u` is a linear filter plus an ideal low-pass filter (paper Eq. 12):

.. math::

    s_u = r_u \left( \tilde P + \alpha\, D_I^{-1/2} \bar U \bar U^\top D_I^{1/2} \right),
    \qquad \tilde P = \tilde R^\top \tilde R ,

where :math:`\bar U` holds the top-``num_factors`` right singular vectors of :math:`\tilde R`
(the paper uses 256 and :math:`\alpha = 0.3`). Items (or users) without training interactions
have degree 0; their rows of :math:`\tilde R` are 0 (the inverse square root of 0 is taken as 0),
as in the authors' code.

Nothing dense of size :math:`|I|^2` is built: :math:`r_u \tilde P = (r_u \tilde R^\top) \tilde R`
is two sparse-times-dense products per batch of users, and the low-pass part is
:math:`((r_u D_I^{-1/2}) \bar U) \bar U^\top D_I^{1/2}`. The truncated SVD (``scipy.sparse.linalg.svds``,
ARPACK) starts from a seeded vector, so the same ``seed`` gives the same model.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.linalg import svds

from ..nn.sparse import csr_tensor, spmm
from .base import ClosedFormRecommender
from .classic import _binary_train, binary_matrix


@dataclass
class GFCFConfig:
    #: weight α of the ideal low-pass filter (0 = the linear filter alone)
    alpha: float = 0.3
    #: number of singular vectors of the ideal low-pass filter
    num_factors: int = 256
    #: seed of the SVD's starting vector
    seed: int = 0


class GFCF(ClosedFormRecommender):
    """GF-CF. Defaults (:class:`GFCFConfig`): the paper's ``alpha=0.3``, ``num_factors=256``.
    ``num_factors`` must be smaller than both the number of users and of items: a larger value
    is reduced to ``min(users, items) - 1``, with a warning."""

    name = "gfcf"
    Config = GFCFConfig

    def setup(self, split) -> None:
        r = _binary_train(split).astype(np.float64)
        num_users, num_items = r.shape
        k = self.config.num_factors
        if self.config.alpha > 0 and k >= min(num_users, num_items):
            k = min(num_users, num_items) - 1
            warnings.warn(f"gfcf: num_factors {self.config.num_factors} is not below the number of users "
                          f"({num_users:,}) and of items ({num_items:,}); using {k}", stacklevel=2)
        du = _inv_sqrt(np.asarray(r.sum(1)).ravel())
        di_raw = np.asarray(r.sum(0)).ravel()
        di = _inv_sqrt(di_raw)
        norm = sp.csr_matrix(sp.diags(du) @ r @ sp.diags(di))
        self.train_matrix = r.astype(np.float32).tocsr()
        # R~ (users x items) and its transpose as torch CSR buffers, moved with .to(device)
        self.register_buffer("norm", _torch_csr(norm), persistent=False)
        self.register_buffer("norm_t", _torch_csr(norm.T), persistent=False)
        self.register_buffer("item_inv_sqrt", torch.from_numpy(di.astype(np.float32)), persistent=False)
        self.register_buffer("item_sqrt", torch.from_numpy(np.sqrt(di_raw).astype(np.float32)), persistent=False)
        if self.config.alpha > 0:
            v0 = np.random.default_rng(self.config.seed).uniform(-1, 1, min(norm.shape))
            _, _, vt = svds(norm, k=k, v0=v0)
            factors = torch.from_numpy(np.ascontiguousarray(vt.T, dtype=np.float32))  # items x k
        else:
            factors = torch.zeros(num_items, 0, dtype=torch.float32, device=torch.device("cpu"))
        self.register_buffer("factors", factors, persistent=False)

    def scores(self, users: torch.Tensor) -> torch.Tensor:
        return self.scores_from_history(self.train_matrix[np.asarray(users.cpu(), dtype=np.int64)])

    def scores_from_history(self, history) -> torch.Tensor:
        """The filters applied to binary rows: a new user's row scored like a training user's."""
        rows = binary_matrix(history)
        device = self.norm.device
        x = torch.from_numpy(np.asarray(rows.todense(), dtype=np.float32)).to(device)  # b x items
        via_users = spmm(self.norm, x.T)  # users x b: R~ r_u^T
        linear = spmm(self.norm_t, via_users).T  # b x items: r_u R~^T R~
        if self.config.alpha == 0:
            return linear
        low_pass = ((x * self.item_inv_sqrt) @ self.factors) @ self.factors.T * self.item_sqrt
        return linear + self.config.alpha * low_pass


def _torch_csr(m: sp.spmatrix) -> torch.Tensor:
    m = sp.csr_matrix(m, dtype=np.float32)
    m.sort_indices()
    return csr_tensor(torch.from_numpy(m.indptr.astype(np.int64)), torch.from_numpy(m.indices.astype(np.int64)),
                      torch.from_numpy(m.data), m.shape)


def _inv_sqrt(degree: np.ndarray) -> np.ndarray:
    out = np.zeros_like(degree, dtype=np.float64)
    out[degree > 0] = degree[degree > 0] ** -0.5
    return out


__all__ = ["GFCF", "GFCFConfig"]
