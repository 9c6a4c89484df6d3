r"""Sparse-times-dense products for fixed graph operators (a normalised adjacency).

``torch.sparse.mm`` differentiates a product :math:`Y = A X` with respect to both :math:`A` and
:math:`X`; for a COO :math:`A` its backward transposes and re-coalesces :math:`A` on every call.
When :math:`A` is a constant (a degree-normalised adjacency, as in LightGCN and NGCF) only
:math:`\partial L / \partial X = A^\top \, \partial L / \partial Y` is needed, and :math:`A^\top`
can be prepared once. :func:`spmm` does exactly that with CSR operands: the forward multiplies
by ``a``, the backward by ``a_t`` (by ``a`` itself when ``a_t`` is omitted, i.e. ``a`` is
symmetric). On this project's 2-core CPU machine a 3-layer forward and backward over
MovieLens-1M's training graph takes about a third of the COO time (``benchmarks/spmm.py``).

:func:`csr_parts` prepares an operator whose sparsity pattern is symmetric so that ``A`` and
``A^T`` share one structure: a per-batch reweighting of the entries (edge dropout) is a new
``values`` vector, never a new structure.
"""
from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import torch


class _SpMM(torch.autograd.Function):
    @staticmethod
    def forward(ctx, a, a_t, x):
        ctx.a_t = a_t
        return torch.sparse.mm(a, x)

    @staticmethod
    def backward(ctx, grad):
        return None, None, torch.sparse.mm(ctx.a_t, grad.contiguous())


def csr_tensor(crow: torch.Tensor, col: torch.Tensor, values: torch.Tensor, shape) -> torch.Tensor:
    """``torch.sparse_csr_tensor`` without torch 2.2's "CSR support is in beta" warning (CSR
    products are what :func:`spmm` relies on, and they are tested here)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(crow, col, values, tuple(shape), device=values.device)


def spmm(a: torch.Tensor, x: torch.Tensor, a_t: torch.Tensor | None = None) -> torch.Tensor:
    """``a @ x`` for a constant sparse ``a`` (CSR or COO); gradients flow to ``x`` only.

    ``a_t`` is ``a``'s transpose; omit it when ``a`` is symmetric. No gradient reaches ``a``'s
    values (use ``torch.sparse.mm`` for a learnable sparse operand).
    """
    if a.dim() != 2 or x.dim() != 2 or a.shape[1] != x.shape[0]:
        raise ValueError(f"spmm: cannot multiply a {tuple(a.shape)} operator by a {tuple(x.shape)} matrix")
    return _SpMM.apply(a, a if a_t is None else a_t, x)


def csr_parts(matrix: sp.spmatrix, dtype=torch.float32) -> tuple:
    """``(crow, col, values, perm)`` of a square ``scipy.sparse`` matrix with a symmetric
    sparsity pattern (values need not be symmetric), entries sorted by row then column.

    With a symmetric pattern, ``A^T`` has the same ``(crow, col)`` as ``A``; its values are
    ``values[perm]`` (``perm[j]`` is the entry of ``A`` at the transposed position of entry
    ``j``). New entry values in this order (the entries times a dropout mask) thus give ``A``
    and ``A^T`` without building a new structure::

        a = torch.sparse_csr_tensor(crow, col, v, shape)
        a_t = torch.sparse_csr_tensor(crow, col, v[perm], shape)
    """
    m = sp.csr_matrix(matrix)
    if m.shape[0] != m.shape[1]:
        raise ValueError(f"csr_parts needs a square matrix, got {m.shape}")
    m.sum_duplicates()
    m.sort_indices()
    n = m.shape[0]
    rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(m.indptr))
    cols = m.indices.astype(np.int64)
    keys = rows * n + cols  # ascending: CSR with sorted indices
    perm = np.searchsorted(keys, cols * n + rows)
    if len(keys) and not np.array_equal(keys[np.minimum(perm, len(keys) - 1)], cols * n + rows):
        raise ValueError("csr_parts needs a symmetric sparsity pattern")
    return (torch.from_numpy(m.indptr.astype(np.int64)), torch.from_numpy(cols),
            torch.from_numpy(m.data).to(dtype), torch.from_numpy(perm))


__all__ = ["spmm", "csr_parts", "csr_tensor"]
