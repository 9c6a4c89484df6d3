"""The BPR baselines with k negatives and the sampled softmax (offered to them for fairness)."""
import pytest
import torch

from hetrec.models import create_model
from hetrec.nn import bpr_loss, sampled_softmax_loss
from hetrec.train import seed_everything


@pytest.mark.parametrize("name", ["bprmf", "lightgcn", "ngcf"])
def test_k_negatives_are_true_negatives_and_the_loss_is_the_shared_one(split, name):
    seed_everything(0)
    model = create_model(name, num_negatives=5, loss="softmax", temperature=0.5)
    model.setup(split)
    dense = torch.from_numpy(split.train.toarray())
    batch = next(iter(model.train_batches(seed_everything(0, 1))))
    assert batch.neg_items.shape == (len(batch.users), 5)
    assert not dense[batch.users.repeat_interleave(5), batch.neg_items.flatten()].any()
    out = model.loss(batch)
    if name != "ngcf":  # NGCF's training embeddings use dropout; the others are deterministic
        u, i = model.embeddings()
        pos = (u[batch.users] * i[batch.pos_items]).sum(-1)
        neg = (u[batch.users].unsqueeze(1) * i[batch.neg_items]).sum(-1)
        assert out.logs["bpr"] == pytest.approx(sampled_softmax_loss(pos, neg, 0.5).item(), rel=1e-5)


def test_one_negative_keeps_the_paper_loss(split):
    """num_negatives=1 and loss="bpr" (the defaults) give exactly the paper's BPR."""
    seed_everything(0)
    model = create_model("bprmf")
    model.setup(split)
    batch = next(iter(model.train_batches(seed_everything(0, 1))))
    assert batch.neg_items.shape == (len(batch.users),)
    u, i = model.embeddings()
    pos = (u[batch.users] * i[batch.pos_items]).sum(-1)
    neg = (u[batch.users] * i[batch.neg_items]).sum(-1)
    assert model.loss(batch).logs["bpr"] == pytest.approx(bpr_loss(pos, neg).item(), rel=1e-6)
    with pytest.raises(ValueError, match="num_negatives"):
        bad = create_model("bprmf", num_negatives=0)
        bad.setup(split)
        next(iter(bad.train_batches(seed_everything(0, 1))))
