"""NGCF layers against a per-node reference of the paper's message passing (Eq. 3-6)."""
import numpy as np
import pytest
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from hetrec.data import Split
from hetrec.models import create_model
from hetrec.models._bpr import BPRBatch

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
