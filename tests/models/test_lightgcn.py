"""LightGCN against the closed form mean_k (D^-1/2 A D^-1/2)^k E on a tiny graph."""
import dataclasses

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from hetrec.models import create_model
from hetrec.models._bpr import normalized_adjacency

# 3 users x 4 items; user 1 and item 3 are isolated
R = np.array([[1, 1, 0, 0], [0, 0, 0, 0], [1, 0, 1, 0]], dtype=np.float32)


def tiny_split():
    from hetrec.data import Split

    train = sp.csr_matrix(R)
    empty = sp.csr_matrix(R.shape, dtype=np.float32)
    return Split(fold=0, k=5, seed=0, train_graph=None, train=train, val=empty, test=empty,
                 train_eids=np.arange(train.nnz), val_eids=np.zeros(0, int), test_eids=np.zeros(0, int))


def reference_normalized_adjacency(r):
    """Dense, straight from the definition: A = [[0, R], [R^T, 0]], D = diag(row sums)."""
    nu, ni = r.shape
    a = np.zeros((nu + ni, nu + ni))
    a[:nu, nu:], a[nu:, :nu] = r, r.T
    d = a.sum(1)
    d_inv_sqrt = np.where(d > 0, 1 / np.sqrt(np.where(d > 0, d, 1)), 0.0)
    return d_inv_sqrt[:, None] * a * d_inv_sqrt[None, :]


def test_normalized_adjacency_matches_the_definition():
    a = normalized_adjacency(sp.csr_matrix(R)).toarray()
    expected = reference_normalized_adjacency(R)
    np.testing.assert_allclose(a, expected, rtol=1e-6)
    assert a[0, 3] == pytest.approx(1 / np.sqrt(2 * 2))  # user 0 (degree 2) - item 0 (degree 2)
    assert not a[1].any() and not a[:, 3 + 3].any()  # isolated user 1 and item 3


@pytest.mark.parametrize("num_layers", [0, 1, 3])
def test_propagation_equals_the_closed_form(num_layers):
    torch.manual_seed(0)
    model = create_model("lightgcn", embedding_size=5, num_layers=num_layers)
    model.setup(tiny_split())
    user_emb, item_emb = model.embeddings()
    e0 = torch.cat([model.user_embedding.weight, model.item_embedding.weight]).detach().double().numpy()
    a = reference_normalized_adjacency(R)
    expected = sum(np.linalg.matrix_power(a, k) @ e0 for k in range(num_layers + 1)) / (num_layers + 1)
    got = torch.cat([user_emb, item_emb]).detach().double().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    if num_layers > 0:
        assert not np.allclose(got, e0)


def test_gradients_reach_layer0_through_propagation():
    torch.manual_seed(0)
    model = create_model("lightgcn", embedding_size=4, num_layers=2)
    model.setup(dataclasses.replace(tiny_split()))
    user_emb, item_emb = model.embeddings()
    (user_emb[0] @ item_emb[2]).backward()  # no direct edge: only reachable by propagation
    grad = model.item_embedding.weight.grad
    assert grad[1].abs().sum() > 0  # item 1 reaches user 0's representation
    assert grad[3].abs().sum() == 0  # item 3 is isolated
