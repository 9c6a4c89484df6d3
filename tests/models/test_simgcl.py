"""XSimGCL against a dense re-implementation of its noisy propagation and loss, against LightGCN
without noise, and on the planted signal."""
import numpy as np
import pytest
import torch
from planted_signal import cluster_auc

from hetrec.models import create_model
from hetrec.train import TrainConfig, Trainer


def make(split, name="xsimgcl", **kw):
    torch.manual_seed(0)
    model = create_model(name, **kw)
    model.setup(split)
    return model


def dense_adjacency(train):
    """D^-1/2 A D^-1/2 of A = [[0, R], [R^T, 0]], dense, from the definition."""
    r = (train.toarray() > 0).astype(np.float64)
    nu, ni = r.shape
    a = np.zeros((nu + ni, nu + ni))
    a[:nu, nu:], a[nu:, :nu] = r, r.T
    d = a.sum(1)
    inv = np.where(d > 0, 1 / np.sqrt(np.maximum(d, 1)), 0.0)
    return torch.from_numpy(inv[:, None] * a * inv[None, :])


def reference_layers(a, e0, num_layers, eps, generator=None):
    """E^(k) = A E^(k-1) + eps * sign(A E^(k-1)) * Delta / ||Delta|| (rows), Delta ~ U(0, 1)
    drawn per layer from ``generator``; no noise without one."""
    out, e = [], e0
    for _ in range(num_layers):
        e = a @ e
        if generator is not None:
            delta = torch.rand(e.shape, generator=generator).double()
            e = e + eps * torch.sign(e) * delta / delta.norm(dim=1, keepdim=True)
        out.append(e)
    return out


def reference_info_nce(v1, v2, tau):
    """-1/n sum_i log( exp(cos(v1_i, v2_i)/tau) / sum_j exp(cos(v1_i, v2_j)/tau) )."""
    n1, n2 = v1 / v1.norm(dim=1, keepdim=True), v2 / v2.norm(dim=1, keepdim=True)
    sim = torch.exp(n1 @ n2.T / tau)
    return float(-torch.log(torch.diagonal(sim) / sim.sum(1)).mean())


def reference_loss(model, split, batch):
    cfg = model.config
    e0 = torch.cat([model.user_embedding.weight, model.item_embedding.weight]).detach().double()
    nu = model.num_users
    layers = reference_layers(dense_adjacency(split.train), e0, cfg.num_layers, cfg.eps,
                              torch.Generator().manual_seed(batch.seed))
    final = sum(layers) / cfg.num_layers  # layers 1..K, not layer 0
    u, i, j = batch.users, batch.pos_items + nu, batch.neg_items + nu
    pos, neg = (final[u] * final[i]).sum(1), (final[u] * final[j]).sum(1)
    bpr = float(torch.log1p(torch.exp(neg - pos)).mean())
    reg = float((e0[u].pow(2).sum() + e0[i].pow(2).sum() + e0[j].pow(2).sum()) / (2 * len(u)))
    view = layers[cfg.cl_layer - 1]
    users, items = sorted(set(u.tolist())), sorted(set(i.tolist()))
    cl = (reference_info_nce(final[users], view[users], cfg.cl_temperature)
          + reference_info_nce(final[items], view[items], cfg.cl_temperature))
    return bpr + cfg.reg_weight * reg + cfg.cl_weight * cl, cl


@pytest.mark.parametrize("num_layers, cl_layer", [(2, 1), (3, 2)])
def test_loss_equals_a_dense_reference(split, num_layers, cl_layer):
    model = make(split, num_layers=num_layers, cl_layer=cl_layer, batch_size=64, embedding_size=8, reg_weight=0.01)
    model.train()
    batch = next(iter(model.train_batches(torch.Generator().manual_seed(2))))
    expected, expected_cl = reference_loss(model, split, batch)
    out = model.loss(batch)
    assert out.logs["cl"] == pytest.approx(expected_cl, rel=1e-5)
    assert float(out.loss) == pytest.approx(expected, rel=1e-5)


def test_without_noise_it_is_lightgcn_without_layer_0(split):
    """(K + 1) * LightGCN's layer mean - E^(0) = K * XSimGCL's, with the same layer-0 tables;
    with eps = 0 the training embeddings are the inference ones."""
    model = make(split, num_layers=3, eps=0.0, embedding_size=8)
    lightgcn = make(split, "lightgcn", num_layers=3, embedding_size=8)
    lightgcn.load_state_dict(model.state_dict())
    e0 = torch.cat([model.user_embedding.weight, model.item_embedding.weight]).detach()
    got = torch.cat(model.embeddings()).detach()
    expected = (4 * torch.cat(lightgcn.embeddings()).detach() - e0) / 3
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)
    batch = next(iter(model.train_batches(torch.Generator().manual_seed(0))))
    torch.testing.assert_close(torch.cat(model.train_embeddings(batch)), torch.cat(model.embeddings()))


def test_noise_follows_the_seed_and_is_absent_at_inference(split):
    model = make(split, num_layers=1, embedding_size=8, eps=0.3)
    batch = next(iter(model.train_batches(torch.Generator().manual_seed(0))))
    clean = torch.cat(model.embeddings()).detach()
    noisy = torch.cat(model.train_embeddings(batch)).detach()
    again = torch.cat(model.train_embeddings(batch)).detach()
    other = torch.cat(model.train_embeddings(batch._replace(seed=batch.seed + 1))).detach()
    assert torch.equal(noisy, again) and not torch.allclose(noisy, other)
    # one layer: the noise of every node with no zero entry is a vector of norm eps
    full = (clean != 0).all(1)
    assert full.sum() > 0.9 * len(full)
    torch.testing.assert_close((noisy - clean)[full].norm(dim=1), torch.full((int(full.sum()),), 0.3))
    # sign(E) * |noise|: the noise pushes every entry away from zero
    assert ((noisy - clean)[full] * clean[full] > 0).all()
    model.eval()
    assert torch.equal(torch.cat(model.train_embeddings(batch)).detach(), clean)
    model.prepare_scoring()
    assert torch.equal(model.scores(torch.arange(3)), clean[:3] @ clean[model.num_users:].T)


def test_same_seed_same_trained_parameters(split):
    def fit():
        model = make(split, batch_size=128, embedding_size=8)
        cfg = TrainConfig(epochs=2, patience=5, max_batches=3, progress=False, seed=3)
        Trainer(cfg, log=lambda m: None).fit(model, split, evaluate_test=False)
        return model.state_dict()

    a, b = fit(), fit()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_learns_the_planted_clusters(graph, split):
    model = make(split, batch_size=128, embedding_size=16)
    before = cluster_auc(model, graph, split)
    cfg = TrainConfig(epochs=8, patience=8, progress=False, seed=0, lr=1e-2, ns=(10,), metric="NDCG@10")
    Trainer(cfg, log=lambda m: None).fit(model, split, evaluate_test=False)
    after = cluster_auc(model, graph, split)
    assert after > 0.75 and after > before + 0.1


@pytest.mark.parametrize("settings, message", [
    (dict(num_layers=2, cl_layer=3), "cl_layer"), (dict(num_layers=0), "num_layers"), (dict(cl_layer=0), "cl_layer"),
    (dict(eps=-0.1), "eps"), (dict(cl_temperature=0.0), "cl_temperature"), (dict(cl_weight=-1.0), "cl_weight")])
def test_settings_are_checked(settings, message):
    with pytest.raises(ValueError, match=message):
        create_model("xsimgcl", **settings)
