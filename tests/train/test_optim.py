"""Sparse embedding updates: lazy Adam against dense Adam, checkpoints, clipping."""
import copy

import pytest
import torch
from torch import nn

from hetrec.train.optim import SparseDenseAdam, clip_grad_norm, make_optimizer, sparse_parameters


class Toy(nn.Module):
    def __init__(self, sparse):
        super().__init__()
        torch.manual_seed(0)
        self.emb = nn.Embedding(50, 8, sparse=sparse)
        self.lin = nn.Linear(8, 1)

    def forward(self, ids):
        return self.lin(self.emb(ids)).pow(2).mean()


def _step(model, opt, ids):
    opt.zero_grad(set_to_none=True)
    model(ids).backward()
    opt.step()


def test_first_step_equals_dense_adam_and_unused_rows_stay_put():
    dense, sparse = Toy(False), Toy(True)
    assert sparse_parameters(sparse) == [sparse.emb.weight] and not sparse_parameters(dense)
    od, os_ = make_optimizer(dense, 0.01), make_optimizer(sparse, 0.01)
    assert isinstance(od, torch.optim.Adam) and isinstance(os_, SparseDenseAdam)
    ids = torch.tensor([1, 4, 4, 9])
    before = sparse.emb.weight.detach().clone()
    _step(dense, od, ids)
    _step(sparse, os_, ids)
    for a, b in zip(dense.parameters(), sparse.parameters()):
        torch.testing.assert_close(a, b)
    moved = (sparse.emb.weight.detach() != before).any(1)
    assert moved.nonzero().flatten().tolist() == [1, 4, 9]
    # second step on other rows: dense Adam moves the earlier rows by momentum, lazy Adam does not
    ids2 = torch.tensor([2, 3])
    w_lazy, w_dense = sparse.emb.weight.detach().clone(), dense.emb.weight.detach().clone()
    _step(dense, od, ids2)
    _step(sparse, os_, ids2)
    assert torch.equal(sparse.emb.weight.detach()[[1, 4, 9]], w_lazy[[1, 4, 9]])
    assert not torch.equal(dense.emb.weight.detach()[[1, 4, 9]], w_dense[[1, 4, 9]])


def test_state_dict_round_trip_resumes_exactly():
    a, b = Toy(True), Toy(True)
    oa = make_optimizer(a, 0.01)
    for ids in ([1, 2], [2, 3]):
        _step(a, oa, torch.tensor(ids))
    b.load_state_dict(a.state_dict())
    ob = make_optimizer(b, 0.01)
    ob.load_state_dict(copy.deepcopy(oa.state_dict()))  # as from a file: no state shared with oa
    _step(a, oa, torch.tensor([2, 7]))
    _step(b, ob, torch.tensor([2, 7]))
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)
    with pytest.raises(ValueError, match="sparse"):
        ob.load_state_dict(torch.optim.Adam(Toy(False).parameters()).state_dict())


def test_weight_decay_with_sparse_tables_is_refused():
    with pytest.raises(ValueError, match="weight_decay"):
        make_optimizer(Toy(True), 0.01, weight_decay=1e-4)


def test_clipping_counts_sparse_rows_like_dense():
    dense, sparse = Toy(False), Toy(True)
    for m in (dense, sparse):
        m(torch.tensor([1, 1, 5])).backward()
    clip_grad_norm(dense.parameters(), 0.01)
    clip_grad_norm(sparse.parameters(), 0.01)
    torch.testing.assert_close(sparse.emb.weight.grad.to_dense(), dense.emb.weight.grad)
    torch.testing.assert_close(sparse.lin.weight.grad, dense.lin.weight.grad)
    total = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in dense.parameters()]))
    assert total == pytest.approx(0.01, rel=1e-3)
