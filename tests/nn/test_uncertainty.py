import math

import pytest
import torch

from hetrec.nn import UncertaintyWeighting


def test_matches_closed_form():
    uw = UncertaintyWeighting(3)
    s = torch.tensor([0.5, -1.2, 2.0])
    with torch.no_grad():
        uw.log_vars.copy_(s)
    losses = [torch.tensor(0.8), torch.tensor(3.0), torch.tensor(0.1)]
    expected = sum(math.exp(-si) * li + si for si, li in zip(s.tolist(), [0.8, 3.0, 0.1]))
    assert float(uw(losses)) == pytest.approx(expected, rel=1e-6)
    assert float(uw(torch.stack(losses))) == pytest.approx(expected, rel=1e-6)
    torch.testing.assert_close(uw.task_weights(), torch.exp(-s))
    logged = uw.log_dict()
    assert logged["task1_weight"] == pytest.approx(math.exp(1.2), rel=1e-6)
    assert logged["task2_log_var"] == pytest.approx(2.0)
    # not the 0.5/sigma^2 * L + log(1 + sigma^2) variant
    sigma2 = torch.exp(s)
    variant = (0.5 / sigma2 * torch.stack(losses) + torch.log1p(sigma2)).sum()
    assert abs(float(variant) - expected) > 0.1


def test_gradient_drives_log_variance_to_log_loss():
    losses = torch.tensor([0.05, 1.0, 4.0])
    uw = UncertaintyWeighting(3)
    # d/ds [exp(-s) L + s] = 1 - exp(-s) L: negative below log L, positive above
    uw(losses).backward()
    torch.testing.assert_close(uw.log_vars.grad, 1 - losses)
    opt = torch.optim.SGD(uw.parameters(), lr=0.1)
    for _ in range(500):
        opt.zero_grad()
        uw(losses).backward()
        opt.step()
    torch.testing.assert_close(uw.log_vars.detach(), losses.log(), atol=1e-3, rtol=0)
    torch.testing.assert_close(uw.task_weights(), 1 / losses, rtol=1e-2, atol=0)


def test_loss_gradient_is_scaled_by_the_task_weight():
    uw = UncertaintyWeighting(2, init_log_var=1.0)
    a = torch.tensor(2.0, requires_grad=True)
    b = torch.tensor(3.0, requires_grad=True)
    uw([a, b]).backward()
    assert float(a.grad) == pytest.approx(math.exp(-1.0))
    with pytest.raises(ValueError):
        uw([a])


def test_equals_twice_libmtl_uw_form():
    """The docstring's claim: LibMTL's L/(2e^s) + s/2 is exactly half of this objective."""
    import torch

    from hetrec.nn import UncertaintyWeighting

    uw = UncertaintyWeighting(3)
    with torch.no_grad():
        uw.log_vars.copy_(torch.tensor([0.3, -0.2, 1.1]))
    losses = torch.tensor([0.7, 2.0, 0.05])
    libmtl = (losses / (2 * torch.exp(uw.log_vars)) + uw.log_vars / 2).sum()
    torch.testing.assert_close(uw(list(losses)), 2 * libmtl)
