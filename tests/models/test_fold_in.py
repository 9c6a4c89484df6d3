"""``scores_from_history`` (serving new users, docs/serving.md): a model that scores a user's
row gives a training user's own row the user's scores; an inner-product model scores a history
by the mean of its items' vectors (PinSage: its own user rule)."""
import numpy as np
import pytest
import torch

from hetrec.models import create_model


def _ready(name, split, **settings):
    torch.manual_seed(0)
    model = create_model(name, **settings)
    model.setup(split)
    model.eval()
    return model


@pytest.mark.parametrize("name", ["mostpop", "itemknn", "rp3beta", "ease", "gfcf", "multvae"])
def test_a_users_own_row_gives_its_scores(name, split):
    model = _ready(name, split, **({"num_factors": 16} if name == "gfcf" else {}))
    users = torch.tensor([0, 5, 17])
    got = model.scores_from_history(split.train[users.numpy()])
    np.testing.assert_allclose(got.numpy(), model.scores(users).numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["bprmf", "lightgcn"])
def test_inner_product_models_use_the_mean_item_vector(name, split):
    model = _ready(name, split)
    history = split.train[[0, 3]]
    with torch.no_grad():
        _, items = (t.numpy() for t in model.embeddings())
    expected = np.stack([items[row.indices].mean(0) for row in history]) @ items.T
    np.testing.assert_allclose(model.scores_from_history(history).detach().numpy(), expected, rtol=1e-4, atol=1e-6)


def test_pinsage_folds_in_with_its_own_user_rule(split):
    model = _ready("pinsage", split, item_bias=True)
    users = torch.tensor([1, 4])
    np.testing.assert_allclose(model.scores_from_history(split.train[users.numpy()]).detach().numpy(),
                               model.scores(users).detach().numpy(), rtol=1e-4, atol=1e-6)
