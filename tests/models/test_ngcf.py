"""NGCF layers against a per-node reference of the paper's message passing (Eq. 3-6)."""
import numpy as np
import pytest
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from hetrec.batching import BPRBatch
from hetrec.data import Split
from hetrec.models import create_model

R = np.array([[1, 1, 0, 0], [0, 1, 1, 1], [1, 0, 1, 0]], dtype=np.float32)


def tiny_split(r=R):
    train = sp.csr_matrix(r)
    empty = sp.csr_matrix(r.shape, dtype=np.float32)
    return Split(fold=0, k=5, seed=0, train_graph=None, train=train, val=empty, test=empty,
                 train_eids=np.arange(train.nnz), val_eids=np.zeros(0, int), test_eids=np.zeros(0, int))


def reference_ngcf(model, r):
    """Per node: m_i<-i = W1 e_i; m_i<-j = (W1 e_j + W2 (e_j * e_i)) / sqrt(|N_i| |N_j|);
    e_i' = LeakyReLU(sum of messages + biases); layers L2-normalized and concatenated."""
    nu, ni = r.shape
    neighbours = [[nu + j for j in np.flatnonzero(r[u])] for u in range(nu)]
    neighbours += [list(np.flatnonzero(r[:, i])) for i in range(ni)]
    e = torch.cat([model.user_embedding.weight, model.item_embedding.weight]).detach().double()
    outs = [e]
    for w1, w2 in zip(model.w1, model.w2):
        W1, b1 = w1.weight.detach().double(), w1.bias.detach().double()
        W2, b2 = w2.weight.detach().double(), w2.bias.detach().double()
        new = torch.zeros_like(e)
        for i, nbrs in enumerate(neighbours):
            msg = W1 @ e[i] + b1 + b2
            for j in nbrs:
                msg = msg + (W1 @ e[j] + W2 @ (e[j] * e[i])) / np.sqrt(len(nbrs) * len(neighbours[j]))
            new[i] = F.leaky_relu(msg, model.config.negative_slope)
        e = new
        outs.append(F.normalize(e, dim=1))
    out = torch.cat(outs, dim=1)
    return out[:nu], out[nu:]


def randomize_biases(model):
    with torch.no_grad():
        for lin in (*model.w1, *model.w2):
            lin.bias.normal_()


@pytest.mark.parametrize("num_layers", [1, 3])
def test_propagation_equals_per_node_reference(num_layers):
    torch.manual_seed(0)
    model = create_model("ngcf", embedding_size=4, num_layers=num_layers)
    model.setup(tiny_split())
    randomize_biases(model)
    model.eval()
    user_emb, item_emb = model.embeddings()
    ref_user, ref_item = reference_ngcf(model, R)
    assert user_emb.shape == (3, 4 * (num_layers + 1))
    torch.testing.assert_close(user_emb.double(), ref_user, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(item_emb.double(), ref_item, rtol=1e-5, atol=1e-6)


def test_adjacency_is_symmetrically_normalized():
    model = create_model("ngcf")
    model.setup(tiny_split())
    a = model.adjacency.to_dense().numpy()
    deg = np.r_[R.sum(1), R.sum(0)]
    rows, cols = np.nonzero(a)
    np.testing.assert_allclose(a[rows, cols], 1 / np.sqrt(deg[rows] * deg[cols]), rtol=1e-6)
    assert len(rows) == 2 * R.sum()
    np.testing.assert_allclose(a, a.T)


def test_dropout_only_in_training_and_driven_by_the_batch_seed():
    torch.manual_seed(0)
    model = create_model("ngcf", embedding_size=4, num_layers=2, node_dropout=0.3, message_dropout=0.3)
    model.setup(tiny_split())
    batch = BPRBatch(torch.tensor([0, 1]), torch.tensor([0, 2]), torch.tensor([3, 0]), seed=7)
    model.train()
    a = model.train_embeddings(batch)[0]
    b = model.train_embeddings(batch)[0]
    c = model.train_embeddings(batch._replace(seed=8))[0]
    assert torch.equal(a, b) and not torch.equal(a, c)
    model.eval()
    clean = model.embeddings()[0]
    assert not torch.allclose(a, clean)
    torch.testing.assert_close(model.train_embeddings(batch)[0], clean)
    no_dropout = create_model("ngcf", embedding_size=4, num_layers=2, node_dropout=0.0, message_dropout=0.0)
    no_dropout.setup(tiny_split())
    no_dropout.load_state_dict(model.state_dict())
    no_dropout.train()
    torch.testing.assert_close(no_dropout.train_embeddings(batch)[0], clean)


def test_edge_dropout_forward_and_gradient_equal_a_dense_reference():
    """Training embeddings with both dropouts, against dense matrices built from the same draws:
    an entry of L is dropped independently (L_drop is not symmetric), so the gradient needs
    L_drop^T; the reference differentiates the dense product."""
    torch.manual_seed(1)
    r = np.array([[1, 1, 0, 1, 0], [0, 1, 1, 1, 0], [1, 0, 1, 0, 1], [0, 0, 1, 1, 1]], dtype=np.float32)
    p = 0.4
    model = create_model("ngcf", embedding_size=3, num_layers=2, node_dropout=p, message_dropout=0.25)
    model.setup(tiny_split(r))
    randomize_biases(model)
    model.train()
    batch = BPRBatch(torch.tensor([0, 1]), torch.tensor([0, 2]), torch.tensor([3, 0]), seed=11)
    users, items = model.train_embeddings(batch)
    (users.sum() + (items ** 2).sum()).backward()
    got_grad = model.user_embedding.weight.grad.clone()

    # reference: the same generator stream (edge mask over L's entries in row-major order, then
    # one message-dropout mask per layer), dense algebra, autograd on a copy of the weights
    gen = torch.Generator().manual_seed(11)
    dense = model.adjacency.to_dense()
    rows, cols = dense.nonzero(as_tuple=True)  # row-major, as the CSR entries
    keep = torch.rand(len(rows), generator=gen) >= p
    dropped = torch.zeros_like(dense)
    dropped[rows[keep], cols[keep]] = dense[rows[keep], cols[keep]] / (1 - p)
    assert not torch.equal(dropped, dropped.t())
    ue = model.user_embedding.weight.detach().clone().requires_grad_(True)
    e = torch.cat([ue, model.item_embedding.weight.detach()])
    outs, layer = [e], e
    for w1, w2 in zip(model.w1, model.w2):
        side = dropped @ layer
        layer = F.leaky_relu(w1(side + layer) + w2(side * layer), model.config.negative_slope)
        mask = torch.rand(layer.shape, generator=gen) >= 0.25
        layer = layer * mask / 0.75
        outs.append(F.normalize(layer, dim=1))
    out = torch.cat(outs, 1)
    ref_users, ref_items = out[:4], out[4:]
    torch.testing.assert_close(users, ref_users, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(items, ref_items, rtol=1e-5, atol=1e-6)
    (ref_users.sum() + (ref_items ** 2).sum()).backward()
    torch.testing.assert_close(got_grad, ue.grad, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", ["ngcf", "lightgcn"])
def test_adjacency_is_a_buffer_that_moves_but_is_not_saved(name):
    model = create_model(name, embedding_size=4)
    model.setup(tiny_split())
    buffers = dict(model.named_buffers())
    assert buffers and all(b.layout in (torch.strided, torch.sparse_csr) for b in buffers.values())
    assert not set(buffers) & set(model.state_dict())  # rebuilt by setup, never in a checkpoint
    model.to(torch.float64)
    assert model.user_embedding.weight.dtype == torch.float64
    assert all(b.dtype in (torch.float64, torch.int64) for b in model.buffers())
    model.eval()
    users, _ = model.embeddings()  # float64 operator times float64 embeddings
    assert users.dtype == torch.float64
