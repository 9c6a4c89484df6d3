"""The trainer's optimizer: Adam, with ID-embedding tables that have sparse gradients updated lazily.

With dense gradients, every step of a sampled model produces a gradient the size of every ID
embedding table and Adam updates every row (its moments decay even where the batch gave no
gradient): the step's time and memory grow with the number of nodes although the batch does
not. An ``nn.Embedding(..., sparse=True)`` gives a gradient for the rows the batch used only;
:class:`SparseDenseAdam` then updates those rows with :class:`torch.optim.SparseAdam` ("lazy"
Adam: the moments of a row move only when the row is used) and the other parameters with
:class:`torch.optim.Adam`. The first step is the same as dense Adam's (a row without gradient
has zero moments and does not move); later steps differ for rows a batch does not use. This is
what DGL's ``SparseAdam`` for ``NodeEmbedding`` and PyTorch's recommendation for large embedding
tables do.
"""
from __future__ import annotations

import torch
from torch import nn


def sparse_parameters(model: nn.Module) -> list:
    """Parameters of the model's ``nn.Embedding`` modules built with ``sparse=True``."""
    return [m.weight for m in model.modules() if isinstance(m, nn.Embedding) and m.sparse]


class SparseDenseAdam:
    """Adam over dense parameters plus SparseAdam over sparse-gradient embedding tables.

    Behaves as one optimizer for the trainer: ``zero_grad``, ``step``, ``state_dict`` and
    ``load_state_dict`` (the state dict holds both, under ``"dense"`` and ``"sparse"``).
    ``weight_decay`` applies to the dense parameters only: SparseAdam has none, so models with
    sparse tables regularise them in their loss (MTHGT's ``reg_weight``).
    """

    def __init__(self, dense, sparse, lr: float, weight_decay: float = 0.0):
        dense, sparse = list(dense), list(sparse)
        self.dense = torch.optim.Adam(dense, lr=lr, weight_decay=weight_decay) if dense else None
        self.sparse = torch.optim.SparseAdam(sparse, lr=lr)
        self.param_groups = (self.dense.param_groups if self.dense else []) + self.sparse.param_groups

    def zero_grad(self, set_to_none: bool = True) -> None:
        for opt in (self.dense, self.sparse):
            if opt is not None:
                opt.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        for opt in (self.dense, self.sparse):
            if opt is not None:
                opt.step()

    def state_dict(self) -> dict:
        return {"dense": self.dense.state_dict() if self.dense else None, "sparse": self.sparse.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        if not isinstance(state, dict) or set(state) != {"dense", "sparse"}:
            raise ValueError("optimizer state is not that of a sparse-embedding run (sparse_embeddings changed?)")
        if self.dense is not None:
            self.dense.load_state_dict(state["dense"])
        self.sparse.load_state_dict(state["sparse"])


def make_optimizer(model: nn.Module, lr: float, weight_decay: float = 0.0):
    """``torch.optim.Adam`` over the model's parameters, or :class:`SparseDenseAdam` when the
    model has embedding tables with sparse gradients (``weight_decay`` must then be 0 on them:
    raises ``ValueError`` otherwise)."""
    sparse = sparse_parameters(model)
    if not sparse:
        return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    if weight_decay:
        raise ValueError("weight_decay does not apply to sparse embedding tables (SparseAdam has none): set "
                         "weight_decay=0 and regularise in the loss, or turn sparse_embeddings off")
    ids = {id(p) for p in sparse}
    return SparseDenseAdam([p for p in model.parameters() if id(p) not in ids], sparse, lr)


def clip_grad_norm(parameters, max_norm: float) -> None:
    """``torch.nn.utils.clip_grad_norm_`` that also accepts sparse gradients (their values count
    once per stored row, duplicates coalesced first); without sparse gradients it is torch's."""
    params = [p for p in parameters if p.grad is not None]
    if not any(p.grad.is_sparse for p in params):
        torch.nn.utils.clip_grad_norm_(params, max_norm)  # the dense case exactly as before
        return
    for p in params:
        if p.grad.is_sparse:
            p.grad = p.grad.coalesce()
    norms = [(p.grad._values() if p.grad.is_sparse else p.grad).norm() for p in params]
    if not norms:
        return
    total = torch.linalg.vector_norm(torch.stack(norms))
    scale = (max_norm / (total + 1e-6)).clamp(max=1.0)
    for p in params:
        if p.grad.is_sparse:
            p.grad = torch.sparse_coo_tensor(p.grad._indices(), p.grad._values() * scale, p.grad.shape)
        else:
            p.grad.mul_(scale)
