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
