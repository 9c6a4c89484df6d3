"""spmm and csr_parts against dense references."""
import numpy as np
import pytest
import scipy.sparse as sp
import torch

from hetrec.nn.sparse import csr_parts, spmm


def random_pattern(n=9, density=0.3, seed=0, symmetric_values=False):
    rng = np.random.default_rng(seed)
    mask = rng.random((n, n)) < density
    mask = mask | mask.T  # symmetric pattern
    values = rng.normal(size=(n, n)).astype(np.float32)
    if symmetric_values:
        values = (values + values.T) / 2
    dense = np.where(mask, values, 0).astype(np.float32)
    return sp.csr_matrix(dense), dense


def csr(parts, shape, values=None):
    crow, col, v, _ = parts
    return torch.sparse_csr_tensor(crow, col, v if values is None else values, shape)


@pytest.mark.parametrize("symmetric", [True, False])
def test_spmm_value_and_gradient_match_dense(symmetric):
    m, dense = random_pattern(symmetric_values=symmetric, seed=3)
    parts = csr_parts(m)
    a = csr(parts, m.shape)
    a_t = None if symmetric else csr(parts, m.shape, parts[2][parts[3]])
    x = torch.randn(9, 4, dtype=torch.float32, requires_grad=True)
    w = torch.randn(9, 4)
    y = spmm(a, spmm(a, x, a_t), a_t)  # two layers
    (y * w).sum().backward()
    xr = x.detach().clone().requires_grad_(True)
    d = torch.from_numpy(dense)
    yr = d @ (d @ xr)
    (yr * w).sum().backward()
    torch.testing.assert_close(y, yr, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(x.grad, xr.grad, rtol=1e-5, atol=1e-5)


def test_spmm_without_transpose_is_wrong_for_an_asymmetric_operator():
    """The symmetric shortcut is a real assumption: omitting a_t on asymmetric values gives A x
    forward but A (not A^T) backward."""
    m, dense = random_pattern(symmetric_values=False, seed=4)
    a = csr(csr_parts(m), m.shape)
    x = torch.randn(9, 2, requires_grad=True)
    spmm(a, x).sum().backward()
    expected = torch.from_numpy(dense).t() @ torch.ones(9, 2)
    assert not torch.allclose(x.grad, expected)


def test_csr_parts_transpose_and_order():
    m, dense = random_pattern(n=12, seed=5)
    crow, col, values, perm = csr_parts(m)
    a_t = torch.sparse_csr_tensor(crow, col, values[perm], m.shape).to_dense().numpy()
    np.testing.assert_array_equal(a_t, dense.T)
    rows = np.repeat(np.arange(12), np.diff(crow.numpy()))
    keys = rows * 12 + col.numpy()
    assert np.all(np.diff(keys) > 0)  # sorted by row then column, no duplicates
    with pytest.raises(ValueError, match="symmetric sparsity pattern"):
        csr_parts(sp.csr_matrix(np.triu(np.ones((4, 4)), 1)))
    with pytest.raises(ValueError, match="square"):
        csr_parts(sp.csr_matrix(np.ones((2, 3))))
    with pytest.raises(ValueError, match="cannot multiply"):
        spmm(torch.sparse_csr_tensor(crow, col, values, m.shape), torch.ones(3, 2))


def test_edge_sum_equals_a_loop_over_edges_with_its_gradient():
    """Unsorted rows, a repeated (row, col) edge and a row without edges, against a loop."""
    from hetrec.nn.sparse import edge_sum

    g = torch.Generator().manual_seed(0)
    row = torch.tensor([3, 0, 3, 1, 0, 3, 1])
    col = torch.tensor([2, 4, 2, 0, 1, 5, 0])  # (3, 2) and (1, 0) twice; row 2 has no edge
    values = torch.rand(len(row), generator=g)
    x = torch.randn(6, 3, generator=g, requires_grad=True)
    got = edge_sum(x, row, col, values, 5)
    want = torch.zeros(5, 3)
    for r, c, v in zip(row.tolist(), col.tolist(), values):
        want[r] = want[r] + v * x[c]
    torch.testing.assert_close(got, want)
    assert got[2].abs().sum() == 0 and got[4].abs().sum() == 0
    probe = torch.randn(5, 3, generator=g)
    torch.testing.assert_close(torch.autograd.grad((got * probe).sum(), x)[0],
                               torch.autograd.grad((want * probe).sum(), x)[0])


def test_edge_sum_of_no_edges_is_zero_and_bad_shapes_are_refused():
    from hetrec.nn.sparse import edge_sum

    x = torch.randn(4, 2, requires_grad=True)
    empty = torch.zeros(0, dtype=torch.long)
    out = edge_sum(x, empty, empty, torch.zeros(0), 3)
    assert out.shape == (3, 2) and out.abs().sum() == 0
    out.sum().backward()
    with pytest.raises(ValueError, match="one entry per edge"):
        edge_sum(x, torch.tensor([0, 1]), torch.tensor([0]), torch.ones(2), 3)
