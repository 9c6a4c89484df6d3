"""Mult-VAE against a plain re-implementation of the paper's network and loss, its annealing,
its inference, and the planted signal."""
import numpy as np
import pytest
import torch
from planted_signal import cluster_auc

from hetrec.models import create_model
from hetrec.train import TrainConfig, Trainer, load_checkpoint

SMALL = dict(hidden_size=16, latent_size=8, batch_size=16)


def make(split, **kw):
    torch.manual_seed(0)
    model = create_model("multvae", **{**SMALL, **kw})
    model.setup(split)
    return model


def reference_forward(model, x, generator=None):
    """The paper's network written out with the model's weights: normalise, dropout (mask
    >= p, kept entries scaled by 1/(1-p)), tanh MLP to (mu, logvar), z = mu + eps * std in
    training, tanh MLP to the logits. Draws the mask, then eps, from ``generator``."""
    p = model.config.dropout
    w = {k: v.detach().double() for k, v in model.state_dict().items()}
    h = x / np.sqrt((x ** 2).sum(1, keepdims=True))
    if generator is not None:
        keep = (torch.rand(x.shape, generator=generator) >= p).double()
        h = h * keep / (1 - p)
    out = torch.tanh(h @ w["encoder_hidden.weight"].T + w["encoder_hidden.bias"]) @ w["encoder_out.weight"].T \
        + w["encoder_out.bias"]
    d = model.config.latent_size
    mu, logvar = out[:, :d], out[:, d:]
    z = mu
    if generator is not None:
        z = mu + model.config.noise_std * torch.randn(mu.shape, generator=generator).double() \
            * torch.sqrt(torch.exp(logvar))
    logits = torch.tanh(z @ w["decoder_hidden.weight"].T + w["decoder_hidden.bias"]) @ w["decoder_out.weight"].T \
        + w["decoder_out.bias"]
    return mu, logvar, logits


def reference_loss(model, x, seed, beta):
    """-mean_u sum_i x_ui log softmax(logits)_i + beta * mean_u KL(N(mu, sigma^2) || N(0, I))
    + reg_weight * (sum of the squared entries of the four weight matrices, not the biases)."""
    mu, logvar, logits = reference_forward(model, x, torch.Generator().manual_seed(seed))
    nll = -(torch.log_softmax(logits, 1) * x).sum(1).mean()
    kl = (0.5 * (-logvar + logvar.exp() + mu ** 2 - 1)).sum(1).mean()
    weights = [v.double() for k, v in model.state_dict().items() if k.endswith(".weight")]
    assert len(weights) == 4
    return float(nll + beta * kl + model.config.reg_weight * sum(w.pow(2).sum() for w in weights))


def dense_rows(split, users):
    return torch.from_numpy((split.train.toarray()[users.numpy()] > 0).astype(np.float64))


@pytest.mark.parametrize("reg_weight, noise_std", [(0.0, 1.0), (0.01, 1.0), (0.0, 0.01)])
def test_loss_equals_the_paper_written_out(split, reg_weight, noise_std):
    model = make(split, anneal_cap=0.2, total_anneal_steps=1000, reg_weight=reg_weight, noise_std=noise_std)
    model.train()
    with torch.no_grad():
        model.anneal_step.fill_(150)  # beta = 0.15, below the cap
        for name, p in model.named_parameters():
            if name.endswith(".bias"):  # large enough that a penalty on biases would show
                p.uniform_(-0.5, 0.5)
    batch = next(iter(model.train_batches(torch.Generator().manual_seed(3))))
    expected = reference_loss(model, dense_rows(split, batch.users), batch.seed, beta=0.15)
    out = model.loss(batch)
    assert out.logs["beta"] == pytest.approx(0.15)
    assert float(out.loss) == pytest.approx(expected, rel=1e-5)
    assert int(model.anneal_step) == 151
    assert float(model.loss(batch).loss) == pytest.approx(reference_loss(
        model, dense_rows(split, batch.users), batch.seed, beta=0.151), rel=1e-5)
    # another seed: other dropout masks and noise
    assert float(model.loss(batch._replace(seed=batch.seed + 1)).loss) != pytest.approx(expected, rel=1e-4)


def test_kl_weight_is_annealed_per_step_and_survives_a_state_dict_round_trip(split):
    model = make(split, anneal_cap=0.35, total_anneal_steps=10)
    batches = list(model.train_batches(torch.Generator().manual_seed(0)))
    betas = [model.loss(b).logs["beta"] for b in batches[:3]]
    assert betas == pytest.approx([0.0, 0.1, 0.2])
    model.eval()
    assert model.loss(batches[0]).logs["beta"] == pytest.approx(0.3)  # eval: no step counted
    model.train()
    assert model.loss(batches[0]).logs["beta"] == pytest.approx(0.3)
    state = model.state_dict()
    assert int(state["anneal_step"]) == 4 and "interactions" not in state  # the matrix is rebuilt by setup
    again = make(split, anneal_cap=0.35, total_anneal_steps=10)
    assert again.kl_weight() == 0.0
    again.load_state_dict(state)
    assert again.kl_weight() == pytest.approx(0.35)  # min(0.35, 4 / 10)
    assert again.loss(batches[1]).logs["beta"] == pytest.approx(0.35)


def test_resumed_training_anneals_on(split, tmp_path):
    """Two epochs in one go, or one epoch and a resume: the same step count and parameters."""
    def fit(out, epochs, resume=False):
        cfg = TrainConfig(epochs=epochs, patience=5, progress=False, seed=1, lr=1e-2)
        Trainer(cfg, out_dir=out, log=lambda m: None).fit(make(split), split, resume=resume)
        return load_checkpoint(out / "checkpoint.pt")["model"]

    whole = fit(tmp_path / "whole", 2)
    fit(tmp_path / "resumed", 1)
    resumed = fit(tmp_path / "resumed", 2, resume=True)
    steps_per_epoch = -(-int((np.diff(split.train.tocsr().indptr) > 0).sum()) // SMALL["batch_size"])
    assert int(whole["anneal_step"]) == int(resumed["anneal_step"]) == 2 * steps_per_epoch
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)


def test_scores_are_the_decoded_mean_of_the_whole_row(split):
    model = make(split, dropout=0.5)
    users = torch.tensor([0, 7, 3, 7])
    s = model.scores(users)
    _, _, expected = reference_forward(model, dense_rows(split, users))
    np.testing.assert_allclose(s.numpy(), expected.numpy(), rtol=1e-4, atol=1e-5)
    model.eval()
    assert torch.equal(model.scores(users), s)  # no dropout, no noise, whatever the mode
    other = make(split, dropout=0.9)
    other.load_state_dict(model.state_dict())
    assert torch.equal(other.scores(users), s)  # the dropout rate plays no part at inference
    assert int(model.anneal_step) == 0


def test_learns_the_planted_clusters(graph, split):
    model = make(split, hidden_size=64, latent_size=16)
    before = cluster_auc(model, graph, split)
    cfg = TrainConfig(epochs=15, patience=15, progress=False, seed=0, lr=1e-2, ns=(10,), metric="NDCG@10")
    result = Trainer(cfg, log=lambda m: None).fit(model, split)
    after = cluster_auc(model, graph, split)
    assert after > 0.7 and after > before + 0.1
    assert result.test["NDCG@10"] > 0


def test_same_seed_same_training(split):
    def train():
        model = make(split)
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        for batch in model.train_batches(torch.Generator().manual_seed(5)):
            out = model.loss(batch)
            opt.zero_grad()
            out.loss.backward()
            opt.step()
        return model.state_dict()

    a, b = train(), train()
    assert all(torch.equal(a[k], b[k]) for k in a)
