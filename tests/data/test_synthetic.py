import numpy as np
import torch

from hetrec.data import INTERACTS, reverse_etypes, synthetic


def test_schema_and_determinism():
    a = synthetic(num_users=50, num_items=60, num_interactions=700, seed=5)
    b = synthetic(num_users=50, num_items=60, num_interactions=700, seed=5)
    c = synthetic(num_users=50, num_items=60, num_interactions=700, seed=6)
    assert {"user", "item", "tag", "category", "group"} == set(a.ntypes)
    rev = reverse_etypes(a)  # raises if a reverse is missing
    assert len(rev) == len(a.canonical_etypes)
    for et in a.canonical_etypes:
        assert torch.equal(torch.stack(a.edges(etype=et)), torch.stack(b.edges(etype=et)))
    assert not torch.equal(torch.stack(a.edges(etype=INTERACTS)), torch.stack(c.edges(etype=INTERACTS)))
    # interactions are distinct pairs
    u, i = a.edges(etype=INTERACTS)
    assert len(set(zip(u.tolist(), i.tolist()))) == a.num_edges(INTERACTS) == 700


def test_power_law_degrees_and_cluster_signal():
    g = synthetic(num_users=2000, num_items=3000, num_interactions=60_000, affinity=0.8, seed=0)
    u, i = (x.numpy() for x in g.edges(etype=INTERACTS))
    deg = np.bincount(i, minlength=3000)
    assert deg.max() > 20 * max(deg.mean(), 1)  # heavy tail, not uniform
    uc = g.nodes["user"].data["cluster"].numpy()
    ic = g.nodes["item"].data["category"].numpy()
    same = (uc[u] == ic[i]).mean()
    assert same > 0.75  # affinity 0.8 plus chance hits


def test_scales_to_a_million_edges():
    g = synthetic(num_users=50_000, num_items=100_000, num_interactions=1_000_000, seed=0)
    assert g.num_edges(INTERACTS) == 1_000_000
