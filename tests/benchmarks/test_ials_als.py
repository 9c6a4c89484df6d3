"""benchmarks/ials_als.py: each half-step is the exact minimiser of its rows' objective."""
import numpy as np
import pytest
import scipy.sparse as sp
import torch


@pytest.fixture(scope="module")
def als(load_benchmark):
    return load_benchmark("ials_als", "ials_als")


def test_a_half_step_zeroes_the_gradient_of_each_rows_objective(als):
    rng = np.random.default_rng(0)
    x = sp.csr_matrix((rng.random((6, 9)) < 0.4).astype(np.float64))
    other = torch.from_numpy(rng.normal(size=(9, 3)))
    alpha, reg = 0.3, 0.05
    w = als.half_step(x, other, alpha, reg).requires_grad_(True)
    s = w @ other.T
    target = torch.from_numpy(x.toarray())
    n = torch.from_numpy(np.diff(x.indptr).astype(np.float64))
    objective = (((s - 1) ** 2) * target).sum() + alpha * (s ** 2).sum() + reg * ((n + alpha * 9) * (w ** 2).sum(1)).sum()
    objective.backward()
    assert torch.allclose(w.grad, torch.zeros_like(w.grad), atol=1e-9)
    # and it is a minimum, not just a stationary point: any nudge raises the objective
    with torch.no_grad():
        nudged = w + 1e-3 * torch.from_numpy(rng.normal(size=w.shape))
        s2 = nudged @ other.T
        worse = (((s2 - 1) ** 2) * target).sum() + alpha * (s2 ** 2).sum() + reg * ((n + alpha * 9) * (nudged ** 2).sum(1)).sum()
    assert worse > objective
