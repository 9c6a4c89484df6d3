"""The tiny dataset most model tests share: a planted-cluster synthetic graph and its fold 0."""
import pytest

from hetrec.data import kfold_split, synthetic


@pytest.fixture(scope="session")
def graph():
    return synthetic(num_users=60, num_items=80, num_interactions=1500, seed=0)


@pytest.fixture(scope="session")
def split(graph):
    return kfold_split(graph, k=5, seed=0)[0]
