import pytest
import torch
import torch.nn.functional as F

from hetrec.nn import MMoE


def test_gates_are_distributions_and_outputs_have_task_structure():
    torch.manual_seed(0)
    mmoe = MMoE(8, 6, num_experts=3, num_tasks=2, ntypes=["user", "item"])
    x = {"user": torch.randn(5, 8) * 3, "item": torch.randn(4, 8) * 3}
    outs, gates = mmoe(x, return_gates=True)
    assert len(outs) == len(gates) == 2
    for k in range(2):
        for t, xt in x.items():
            assert outs[k][t].shape == (xt.shape[0], 6)
            g = gates[k][t]
            assert g.shape == (xt.shape[0], 3)
            assert torch.all(g >= 0)
            torch.testing.assert_close(g.sum(-1), torch.ones(xt.shape[0]))
    # the two tasks' gates differ (separate parameters), so tasks see different mixtures
    assert not torch.allclose(gates[0]["user"], gates[1]["user"])


def test_one_expert_reduces_to_that_expert_plus_residual():
    torch.manual_seed(1)
    mmoe = MMoE(8, 8, num_experts=1, num_tasks=2, ntypes=["user", "item"])
    with torch.no_grad():
        mmoe.skip.copy_(torch.tensor([[0.3, -1.0], [2.0, 0.5]]))
    x = torch.randn(7, 8)
    expert = F.gelu(x @ mmoe.experts.weight.T + mmoe.experts.bias)
    for k in range(2):
        for col, t in enumerate(["user", "item"]):
            alpha = torch.sigmoid(mmoe.skip[k, col])
            expected = alpha * expert + (1 - alpha) * x
            torch.testing.assert_close(mmoe(x, ntype=t)[k], expected)


def test_tensor_input_projection_and_errors():
    torch.manual_seed(2)
    mmoe = MMoE(8, 4, num_experts=2, num_tasks=3)
    x = torch.randn(6, 8, requires_grad=True)
    outs = mmoe(x)
    assert len(outs) == 3 and all(o.shape == (6, 4) for o in outs)
    sum(o.sum() for o in outs).backward()
    for name, p in mmoe.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    typed = MMoE(8, 8, 2, 2, ntypes=["user"])
    with pytest.raises(ValueError):
        typed(torch.randn(2, 8))
    with pytest.raises(KeyError):
        typed(torch.randn(2, 8), ntype="song")


def test_dict_equals_per_type_tensor_calls():
    torch.manual_seed(3)
    mmoe = MMoE(8, 8, num_experts=4, num_tasks=2, ntypes=["user", "item"])
    with torch.no_grad():
        mmoe.skip.uniform_(-1, 1)
    x = {"user": torch.randn(3, 8), "item": torch.randn(2, 8)}
    outs = mmoe(x)
    for t, xt in x.items():
        single = mmoe(xt, ntype=t)
        for k in range(2):
            torch.testing.assert_close(outs[k][t], single[k])


def test_named_tasks_and_one_task_at_a_time_equal_the_full_output():
    """LibMTL's shape: names give {task: output}; task= computes that task only (one gate) and
    equals the same task's entry of the full forward."""
    torch.manual_seed(0)
    named = MMoE(8, 6, num_experts=3, num_tasks=["link", "rec", "aux"], ntypes=["user", "item"])
    x = {"user": torch.randn(4, 8), "item": torch.randn(5, 8)}
    full, gates = named(x, return_gates=True)
    assert list(full) == ["link", "rec", "aux"]
    for i, name in enumerate(["link", "rec", "aux"]):
        one, g = named(x, task=name, return_gates=True)
        by_index = named(x, task=i)
        for t in x:
            torch.testing.assert_close(one[t], full[name][t])
            torch.testing.assert_close(by_index[t], full[name][t])
            torch.testing.assert_close(g[t], gates[name][t])
    with pytest.raises(KeyError, match="unknown task 'clicks'"):
        named(x, task="clicks")
    with pytest.raises(ValueError, match="distinct"):
        MMoE(8, 6, num_experts=3, num_tasks=["a", "a"])
    plain = MMoE(8, 6, num_experts=3, num_tasks=2)
    assert isinstance(plain(torch.randn(2, 8)), list)  # unnamed tasks: a list, as before
