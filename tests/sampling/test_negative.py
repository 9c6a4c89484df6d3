import dgl
import pytest
import torch

from hetrec.data import INTERACTS, synthetic
from hetrec.sampling import DenseSubgraphSampler, InBatchNegativeSampler


def test_negatives_come_from_the_batch_destinations():
    g = synthetic(num_users=40, num_items=60, num_interactions=500, seed=0)
    eids = torch.arange(0, 200, 3)
    torch.manual_seed(0)
    out = InBatchNegativeSampler(3)(g, {INTERACTS: eids})
    src, dst = out[INTERACTS]
    u, i = g.find_edges(eids, etype=INTERACTS)
    assert torch.equal(src, u.repeat_interleave(3))
    assert torch.isin(dst, i).all()
    # not a fixed permutation: over many draws every batch destination shows up
    seen = torch.cat([InBatchNegativeSampler(1)(g, {INTERACTS: eids})[INTERACTS][1] for _ in range(50)])
    assert set(seen.tolist()) == set(i.tolist())
    with pytest.raises(ValueError):
        InBatchNegativeSampler(0)


def test_composes_with_edge_prediction_sampler():
    g = synthetic(num_users=40, num_items=60, num_interactions=500, seed=0)
    sampler = dgl.dataloading.as_edge_prediction_sampler(
        DenseSubgraphSampler(1, 8), negative_sampler=InBatchNegativeSampler(2))
    loader = dgl.dataloading.DataLoader(g, {INTERACTS: torch.arange(64)}, sampler, batch_size=32)
    _, pair, neg, _ = next(iter(loader))
    assert neg.num_edges(INTERACTS) == 2 * pair.num_edges(INTERACTS)
    pos_items = set(pair.edges(etype=INTERACTS)[1].tolist())
    assert set(neg.edges(etype=INTERACTS)[1].tolist()) <= pos_items


def test_a_negative_is_never_the_edges_own_destination_and_is_uniform_over_the_others():
    g = dgl.heterograph({("user", "interacts", "item"): (torch.tensor([0, 1, 2, 3, 4, 5]),
                                                          torch.tensor([7, 7, 7, 8, 9, 9]))})
    gen = torch.Generator().manual_seed(0)
    src, dst = InBatchNegativeSampler(4000, generator=gen)(g, torch.arange(6))  # a tensor: a tuple back
    own = torch.tensor([7, 7, 7, 8, 9, 9]).repeat_interleave(4000)
    assert not (dst == own).any()
    # edge 0 (dst 7): the other destinations are positions 3, 4, 5 -> items 8, 9, 9
    first = dst[:4000]
    assert set(first.tolist()) == {8, 9}
    assert abs(float((first == 9).float().mean()) - 2 / 3) < 0.03
    # reproducible from the generator
    again = InBatchNegativeSampler(4000, generator=torch.Generator().manual_seed(0))(g, torch.arange(6))[1]
    assert torch.equal(dst, again)


def test_edge_cases_are_clear():
    g = synthetic(num_users=10, num_items=12, num_interactions=40, seed=0)
    with pytest.raises(ValueError, match="give a dict"):
        InBatchNegativeSampler(1)(g, torch.arange(3))  # several relations: which one?
    src, dst = InBatchNegativeSampler(2)(g, {INTERACTS: torch.tensor([], dtype=torch.long)})[INTERACTS]
    assert src.numel() == 0 and dst.numel() == 0
    # one destination for the whole batch: no other destination exists, so uniform over items
    one = dgl.heterograph({("user", "interacts", "item"): (torch.tensor([0, 1]), torch.tensor([3, 3]))},
                          num_nodes_dict={"user": 2, "item": 50})
    _, dst = InBatchNegativeSampler(200, generator=torch.Generator().manual_seed(1))(one, torch.arange(2))
    assert (dst != 3).float().mean() > 0.9 and dst.max() < 50
