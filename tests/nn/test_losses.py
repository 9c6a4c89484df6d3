"""The ranking losses against closed forms and a straightforward loop."""
import math

import pytest
import torch

from hetrec.nn import bpr_loss, ranking_loss, sampled_softmax_loss
from hetrec.nn.losses import dot_scores, full_softmax_loss


def test_bpr_is_the_mean_over_pairs():
    pos = torch.tensor([1.0, -0.5])
    neg = torch.tensor([[0.0, 2.0, 1.0], [-1.0, -0.5, 3.0]])
    pairs = [math.log1p(math.exp(n - p)) for p, row in zip(pos.tolist(), neg.tolist()) for n in row]
    assert bpr_loss(pos, neg).item() == pytest.approx(sum(pairs) / len(pairs), rel=1e-6)
    # one negative per positive, given flat, is the paper's BPR
    assert bpr_loss(pos, neg[:, 0]).item() == pytest.approx(
        (math.log1p(math.exp(-1.0)) + math.log1p(math.exp(-0.5))) / 2, rel=1e-6)


def test_sampled_softmax_against_a_loop_and_its_limits():
    gen = torch.Generator().manual_seed(0)
    pos, neg = torch.randn(5, generator=gen), torch.randn(5, 7, generator=gen)
    for t in (0.1, 0.5, 1.0):
        ref = 0.0
        for p, row in zip(pos.tolist(), neg.tolist()):
            z = [p / t] + [n / t for n in row]
            m = max(z)
            ref += -(z[0] - (m + math.log(sum(math.exp(v - m) for v in z))))
        assert sampled_softmax_loss(pos, neg, t).item() == pytest.approx(ref / 5, rel=1e-5)
        assert ranking_loss(pos, neg, "softmax", t).item() == pytest.approx(ref / 5, rel=1e-5)
    # with one negative and T = 1 the sampled softmax equals BPR
    assert sampled_softmax_loss(pos, neg[:, 0]).item() == pytest.approx(bpr_loss(pos, neg[:, 0]).item(), rel=1e-6)
    # a positive far above its negatives costs ~0; far below costs ~ the gap / T
    assert sampled_softmax_loss(torch.tensor([50.0]), torch.zeros(1, 3)).item() < 1e-6
    assert sampled_softmax_loss(torch.tensor([0.0]), torch.tensor([[10.0]]), 0.5).item() == pytest.approx(20.0, abs=1e-3)


def test_bad_arguments():
    with pytest.raises(ValueError, match="temperature must be positive"):
        sampled_softmax_loss(torch.zeros(2), torch.zeros(2, 2), 0.0)
    with pytest.raises(ValueError, match="loss must be one of"):
        ranking_loss(torch.zeros(2), torch.zeros(2), "hinge")


def test_dot_scores_and_squared_norms_equal_loops():
    from hetrec.nn.losses import dot_scores, squared_norm_sum

    g = torch.Generator().manual_seed(0)
    q = torch.randn(5, 3, generator=g)
    table = torch.randn(4, 3, generator=g)
    one = torch.randint(0, 4, (5,), generator=g)
    many = torch.randint(0, 4, (5, 6), generator=g)  # 30 entries > 4 rows: the norms-first path
    assert torch.allclose(dot_scores(q, table, one), torch.stack([q[b] @ table[one[b]] for b in range(5)]))
    ref = torch.tensor([[float(q[b] @ table[many[b, j]]) for j in range(6)] for b in range(5)])
    assert torch.allclose(dot_scores(q, table, many), ref, atol=1e-6)
    for idx in (one[:3], many):  # fewer entries than rows, and more
        expected = sum(float(table[i].pow(2).sum()) for i in idx.flatten().tolist())
        assert abs(float(squared_norm_sum(table, idx)) - expected) < 1e-5


def test_dot_scores_with_many_negatives_match_gather_and_matmul_with_gradients():
    from hetrec.nn.losses import dot_scores

    g = torch.Generator().manual_seed(1)
    q = torch.randn(7, 8, generator=g, requires_grad=True)
    table = torch.randn(11, 8, generator=g, requires_grad=True)
    idx = torch.randint(0, 11, (7, 5), generator=g)  # repeated rows: their gradients add up
    w = torch.randn(7, 5, generator=g)
    got = dot_scores(q, table, idx)
    gq, gt = torch.autograd.grad((got * w).sum(), (q, table))
    want = torch.bmm(table[idx], q.unsqueeze(-1)).squeeze(-1)
    wq, wt = torch.autograd.grad((want * w).sum(), (q, table))
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(gq, wq)
    torch.testing.assert_close(gt, wt)
    # one side without a gradient (a fixed table, or fixed queries) gets none, the other the same
    assert torch.equal(torch.autograd.grad((dot_scores(q, table.detach(), idx) * w).sum(), q)[0], gq)
    assert torch.equal(torch.autograd.grad((dot_scores(q.detach(), table, idx) * w).sum(), table)[0], gt)
    empty = dot_scores(q[:0], table, idx[:0])
    assert empty.shape == (0, 5)
    empty.sum().backward()  # an empty shard still has a graph to back-propagate through


def test_full_softmax_is_the_cross_entropy_over_every_item():
    g = torch.Generator().manual_seed(0)
    q, table = torch.randn(5, 4, generator=g), torch.randn(9, 4, generator=g)
    pos = torch.tensor([0, 3, 3, 8, 1])
    expected = []
    for b in range(5):  # one query at a time, straight from the definition
        s = [float(q[b] @ table[j]) / 0.5 for j in range(9)]
        expected.append(-s[pos[b]] + math.log(sum(math.exp(x) for x in s)))
    got = full_softmax_loss(q, table, pos, temperature=0.5)
    assert abs(got.item() - sum(expected) / 5) < 1e-5
    # with every item as a negative, the sampled softmax gives the same value
    others = torch.stack([torch.tensor([j for j in range(9) if j != p]) for p in pos.tolist()])
    sampled = sampled_softmax_loss((q * table[pos]).sum(-1), dot_scores(q, table, others), 0.5)
    assert abs(got.item() - sampled.item()) < 1e-5


def test_models_train_with_the_full_softmax_and_mthgt_refuses_it_when_sampled():
    from hetrec.data import kfold_split, synthetic
    from hetrec.models import create_model

    split = kfold_split(synthetic(num_users=30, num_items=40, num_interactions=500, seed=1), k=5, seed=0)[0]
    for name, extra in (("lightgcn", {}), ("bprmf", {}), ("mthgt", dict(hidden_size=8, num_heads=2))):
        model = create_model(name, loss="full-softmax", batch_size=64, **extra)
        model.setup(split)
        batch = next(iter(model.train_batches(torch.Generator().manual_seed(0))))
        out = model.loss(batch)
        out.loss.backward()
        assert torch.isfinite(out.loss) and out.loss.item() > 0
    with pytest.raises(ValueError, match="full-softmax' needs full-graph training"):
        create_model("mthgt", loss="full-softmax", training="sampled").setup(split)


@pytest.mark.parametrize("kind", ["bpr", "softmax"])
def test_an_empty_batch_has_zero_loss_and_a_gradient(kind):
    """A data-parallel rank can get no pair of a short last batch: its loss is 0, and backward
    runs (zero gradients), so every rank takes part in the gradient exchange."""
    from hetrec.nn.losses import ranking_loss

    emb = torch.randn(5, 3, requires_grad=True)
    pos = (emb[:0] * emb[:0]).sum(-1)
    neg = (emb[:0].unsqueeze(1) * emb[:0].unsqueeze(1)).sum(-1).reshape(0, 4)
    loss = ranking_loss(pos, neg, kind)
    assert loss.item() == 0.0
    loss.backward()
    assert emb.grad is not None and torch.equal(emb.grad, torch.zeros_like(emb))


def test_ials_loss_is_the_squared_loss_over_every_item_from_its_definition():
    from hetrec.nn.losses import ials_loss

    g = torch.Generator().manual_seed(0)
    q, table = torch.randn(5, 4, generator=g), torch.randn(9, 4, generator=g)
    pos, w = torch.tensor([0, 3, 3, 8, 1]), torch.tensor([0.5, 1.0, 0.25, 1.0, 0.2])
    expected = 0.0
    for b in range(5):  # one query at a time, straight from the definition
        s = [float(q[b] @ table[j]) for j in range(9)]
        expected += (s[pos[b]] - 1) ** 2 + 0.3 * float(w[b]) * sum(x * x for x in s)
    assert ials_loss(q, table, pos, 0.3, w).item() == pytest.approx(expected / 5, rel=1e-5)
    assert ials_loss(q, table, pos, 0.0).item() == pytest.approx(
        float(((q * table[pos]).sum(-1) - 1).pow(2).mean()), rel=1e-6)
    with pytest.raises(ValueError, match="alpha must be non-negative"):
        ials_loss(q, table, pos, -1.0)


def test_an_epoch_of_ials_pairs_sums_to_the_ials_objective():
    """Visiting every training pair once with weight 1/|I_u| gives Rendle et al.'s objective
    Σ_(u,i)∈S (s_ui − 1)² + α Σ_u Σ_j s_uj² (computed here on the dense score matrix)."""
    import numpy as np

    from hetrec.nn.losses import ials_loss

    rng = np.random.default_rng(0)
    x = (rng.random((7, 11)) < 0.3).astype(np.float32)
    x[:, 0] = 1  # every user has a training item
    users, items = np.nonzero(x)
    deg = x.sum(1)
    g = torch.Generator().manual_seed(1)
    u_emb, i_emb = torch.randn(7, 3, generator=g), torch.randn(11, 3, generator=g)
    s = u_emb @ i_emb.T
    objective = float(((s - 1) ** 2 * torch.from_numpy(x)).sum() + 0.7 * (s ** 2).sum())
    ut, it = torch.from_numpy(users).long(), torch.from_numpy(items).long()
    half = len(ut) // 2  # two batches, as an epoch would have them
    total = sum(ials_loss(u_emb[ut[sl]], i_emb, it[sl], 0.7, torch.from_numpy(1 / deg[users[sl]]).float()) * len(ut[sl])
                for sl in (slice(0, half), slice(half, None)))
    assert float(total) == pytest.approx(objective, rel=1e-5)


@pytest.mark.parametrize("name,extra", [("bprmf", {}), ("lightgcn", {}), ("ngcf", {}),
                                        ("mthgt", dict(hidden_size=8, num_heads=2))])
def test_models_train_with_the_ials_loss_weighted_by_their_users_training_items(name, extra):
    import numpy as np

    from hetrec.data import kfold_split, synthetic
    from hetrec.models import create_model
    from hetrec.nn.losses import ials_loss

    split = kfold_split(synthetic(num_users=30, num_items=40, num_interactions=500, seed=1), k=5, seed=0)[0]
    model = create_model(name, loss="ials", ials_alpha=0.5, reg_weight=0.0, batch_size=64, **extra)
    model.setup(split)
    deg = np.diff(split.train.tocsr().indptr)
    assert torch.allclose(model._ials_user_weight, torch.from_numpy(1 / np.maximum(deg, 1)).float())
    batch = next(iter(model.train_batches(torch.Generator().manual_seed(0))))
    out = model.loss(batch)
    out.loss.backward()
    assert torch.isfinite(out.loss) and out.loss.item() > 0
    if name == "bprmf":  # no propagation: the loss is the formula on its own embeddings
        u, i = model.embeddings()
        want = ials_loss(u[batch.users], i, batch.pos_items, 0.5, 1 / torch.from_numpy(deg[batch.users.numpy()]).float())
        assert out.loss.item() == pytest.approx(want.item(), rel=1e-5)


def test_mthgt_trains_the_ials_loss_only_on_the_full_graph():
    from hetrec.data import kfold_split, synthetic
    from hetrec.models import create_model
    from hetrec.models.mthgt import MTHGTConfig, minibatch_problems

    split = kfold_split(synthetic(num_users=30, num_items=40, num_interactions=500, seed=1), k=5, seed=0)[0]
    with pytest.raises(ValueError, match="'ials' needs full-graph training"):
        create_model("mthgt", loss="ials", training="sampled").setup(split)
    assert "loss 'softmax' or 'bpr'" in minibatch_problems(MTHGTConfig(loss="ials"))
    with pytest.raises(ValueError, match="setting ials_alpha"):
        create_model("mthgt", ials_alpha=0.0)
