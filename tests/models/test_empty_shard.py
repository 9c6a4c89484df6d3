"""A data-parallel rank whose share of a short last batch is empty (``--nproc 2`` with a last
batch of one pair) gets a zero loss whose backward runs, instead of a reshape error."""
import pytest
import torch

from hetrec.data import kfold_split, synthetic
from hetrec.models import create_model


@pytest.fixture(scope="module")
def split():
    g = synthetic(num_users=40, num_items=50, num_interactions=600, num_tags=5, seed=2)
    return kfold_split(g, k=5, seed=0)[0]


@pytest.mark.parametrize("name, settings", [
    ("bprmf", {}), ("bprmf", {"loss": "full-softmax"}), ("ials", {}), ("lightgcn", {}), ("lightgcn-softmax", {}),
    ("ngcf", {}), ("xsimgcl", {}), ("pinsage-ui", {}),
])
def test_an_empty_shard_has_zero_loss_and_a_gradient(split, name, settings):
    model = create_model(name, batch_size=8, **settings)
    model.setup(split)
    model.train()
    batch = next(iter(model.train_batches(torch.Generator().manual_seed(0))))
    neg = batch.neg_items[:1] if batch.neg_items.dim() == 2 else batch.neg_items[: batch.neg_items.numel() // len(batch.users)]
    one = batch._replace(users=batch.users[:1], pos_items=batch.pos_items[:1], neg_items=neg)
    empty = model.shard_batch(one, 1, 2)
    assert len(empty.users) == 0 and len(model.shard_batch(one, 0, 2).users) == 1
    out = model.loss(empty)
    assert out.loss.item() == 0.0
    out.loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.count_nonzero(g) == 0 for g in grads)
