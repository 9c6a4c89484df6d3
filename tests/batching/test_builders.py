"""Batch builders: every model's batches come from its builder, and from the generator it is
given only (same seed, same batches; another seed, other batches; global generators untouched,
or, for DGL's loader, seeded from it)."""
import dgl
import numpy as np
import pytest
import scipy.sparse as sp
import torch

from hetrec.batching import (
    BatchBuilder,
    BPRTripleBatches,
    EdgeSubgraphBatch,
    EdgeSubgraphBatches,
    FullGraphBatch,
    FullGraphBatches,
    ItemPairBatches,
    MiniBatches,
    UserRowBatch,
    UserRowBatches,
    WalkTripleBatches,
)
from hetrec.data import kfold_split, synthetic
from hetrec.models import MODELS, create_model, model_class

MTHGT_SMALL = dict(batch_size=128, width=8, hidden_size=8, num_heads=2, num_layers=1, lp_edges_per_relation=16)
SETTINGS = {"mthgt": dict(MTHGT_SMALL, multitask=True), "mthgt-cl": MTHGT_SMALL, "mthgt-cold": MTHGT_SMALL,
            "mthgt-coldmean": MTHGT_SMALL, "mthgt-coldmap": MTHGT_SMALL, "mthgt-coldmap2": MTHGT_SMALL,
            "mthgt-ials": MTHGT_SMALL,
            "mthgt-minibatch": dict(MTHGT_SMALL, negative_pool=64), "hgt-mb": dict(MTHGT_SMALL, negative_pool=64),
            "hgt-d-mb": dict(MTHGT_SMALL, negative_pool=64), "hgt-m-mb": dict(MTHGT_SMALL, negative_pool=64),
            "mthgt-dm-mb": dict(MTHGT_SMALL, negative_pool=64), "pinsage": dict(batch_size=32),
            "hin2vec": dict(batch_size=512, walk_length=4), "multvae": dict(batch_size=16)}
BUILDER = {"mthgt": FullGraphBatches, "mthgt-cl": FullGraphBatches, "mthgt-cold": FullGraphBatches,
           "mthgt-coldmean": FullGraphBatches, "mthgt-coldmap": FullGraphBatches, "mthgt-coldmap2": FullGraphBatches,
           "mthgt-ials": FullGraphBatches, "mthgt-minibatch": MiniBatches,
           "hgt-mb": MiniBatches, "hgt-d-mb": MiniBatches, "hgt-m-mb": MiniBatches,
           "mthgt-dm-mb": MiniBatches,
           "hgt": EdgeSubgraphBatches, "hgt-d": EdgeSubgraphBatches,
           "hgt-m": EdgeSubgraphBatches, "mthgt-sampled": EdgeSubgraphBatches, "mthgt-paper": EdgeSubgraphBatches,
           "bprmf": BPRTripleBatches, "ials": BPRTripleBatches, "lightgcn": BPRTripleBatches, "lightgcn-softmax": BPRTripleBatches,
           "ngcf": BPRTripleBatches, "pinsage": ItemPairBatches, "hin2vec": WalkTripleBatches,
           "multvae": UserRowBatches, "xsimgcl": BPRTripleBatches, "pinsage-ui": BPRTripleBatches}
TRAINABLE = [name for name in MODELS if model_class(name).trainable]


@pytest.fixture(scope="module")
def split():
    g = synthetic(num_users=50, num_items=70, num_interactions=900, num_tags=6, seed=4)
    return kfold_split(g, k=5, seed=0)[0]


def make(name, split):
    settings = SETTINGS.get(name, MTHGT_SMALL if MODELS[name][1] == "MTHGT" else dict(batch_size=128))
    model = create_model(name, **settings)
    model.setup(split)
    return model


def values(obj):
    """Everything a batch holds, flattened: tensors, numbers, and a graph's edges and ids."""
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, dgl.DGLGraph):
        for et in obj.canonical_etypes:
            yield from obj.edges(etype=et, order="eid")
            data = obj.edges[et].data
            yield from (data[k] for k in sorted(data.keys()))
        for t in obj.ntypes:
            data = obj.nodes[t].data
            yield from (data[k] for k in sorted(data.keys()))
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield repr(k)
            yield from values(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from values(v)
    elif hasattr(obj, "__dataclass_fields__"):
        for k in obj.__dataclass_fields__:
            yield from values(getattr(obj, k))
    else:
        yield obj


def same(a, b) -> bool:
    va, vb = list(values(a)), list(values(b))
    return len(va) == len(vb) and all(
        torch.equal(x, y) if isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor) else x == y
        for x, y in zip(va, vb))


def first_batches(model, seed, n=2):
    out = []
    for batch in model.train_batches(torch.Generator().manual_seed(seed)):
        out.append(batch)
        if len(out) == n:
            break
    return out


@pytest.mark.parametrize("name", TRAINABLE)
def test_every_model_names_its_builder_and_trains_on_its_batches(name, split):
    model = make(name, split)
    assert type(model.batch_builder) is BUILDER[name]
    batches = first_batches(model, 0)
    again = list(model.batch_builder.batches(torch.Generator().manual_seed(0)))[:2]
    assert all(same(a, b) for a, b in zip(batches, again))
    assert torch.isfinite(model.loss(batches[0]).loss)


@pytest.mark.parametrize("name", TRAINABLE)
def test_batches_come_from_the_generator_only(name, split):
    """Same generator seed: the same batches, whatever the global generators (torch's, numpy's,
    DGL's) held before; another seed: other batches. Every builder but the sampled one leaves torch's
    global generator as it found it; the sampled one seeds it from the generator (DGL's loader
    draws from it), so its batches do not depend on it either."""
    model = make(name, split)
    torch.manual_seed(123)
    np.random.seed(123)
    dgl.seed(123)
    state = torch.random.get_rng_state()
    a = first_batches(model, 5)
    if not isinstance(model.batch_builder, EdgeSubgraphBatches):
        assert torch.equal(torch.random.get_rng_state(), state), "building batches drew from torch's generator"
    torch.manual_seed(321)
    np.random.seed(321)
    dgl.seed(321)
    b = first_batches(model, 5)
    other = first_batches(model, 6)
    assert len(a) == len(b) == 2
    assert all(same(x, y) for x, y in zip(a, b))
    assert not same(a[0], other[0])


def test_sampled_batches_carry_the_loss_seed(split):
    model = make("mthgt-sampled", split)
    batch = first_batches(model, 0, 1)[0]
    assert isinstance(batch, EdgeSubgraphBatch) and isinstance(batch.seed, int)
    assert batch[:4] == (batch.input_nodes, batch.pair_graph, batch.negative_graph, batch.subgraph)
    sub = batch.subgraph
    predicted = batch.pair_graph.edges[("user", "interacts", "item")].data[dgl.EID]
    assert not torch.isin(sub.edges[("user", "interacts", "item")].data[dgl.EID], predicted).any()


def test_model_delegates_batches_and_shards_to_its_builder(split):
    model = make("lightgcn", split)
    calls = []

    class Recording(BatchBuilder):
        def batches(self, generator):
            calls.append("batches")
            yield from model_builder.batches(generator)

        def shard(self, batch, rank, world):
            calls.append("shard")
            return model_builder.shard(batch, rank, world)

    model_builder = model.batch_builder
    model.batch_builder = Recording()
    part = next(iter(model.distributed_batches(torch.Generator().manual_seed(0), 1, 2)))
    assert calls == ["batches", "shard"]
    whole = next(iter(model_builder.batches(torch.Generator().manual_seed(0))))
    assert torch.equal(part.users, whole.users[1::2])
    assert BatchBuilder().shard(whole, 0, 2) is None


def test_full_graph_batches_without_link_prediction(split):
    builder = FullGraphBatches(split.train_graph, split.train, batch_size=64, num_negatives=2,
                               drop_batch_edges=False)
    batches = list(builder.batches(torch.Generator().manual_seed(0)))
    assert all(isinstance(b, FullGraphBatch) and b.lp == {} and b.hidden == {} for b in batches)
    assert sum(len(b.users) for b in batches) == split.train.nnz
    half = builder.shard(batches[0], 1, 2)
    assert torch.equal(half.neg_items, batches[0].neg_items[1::2])


def test_bpr_triples_refuse_zero_negatives(split):
    with pytest.raises(ValueError, match="num_negatives"):
        BPRTripleBatches(split.train, batch_size=8, num_negatives=0)


def test_user_rows_are_a_permutation_of_the_users_with_training_items(split):
    builder = UserRowBatches(split.train, batch_size=7)
    batches = list(builder.batches(torch.Generator().manual_seed(0)))
    assert all(isinstance(b, UserRowBatch) and isinstance(b.seed, int) for b in batches)
    assert [len(b.users) for b in batches[:-1]] == [7] * (len(batches) - 1)
    users = torch.cat([b.users for b in batches])
    expected = np.flatnonzero(np.diff(split.train.tocsr().indptr) > 0)
    assert sorted(users.tolist()) == expected.tolist()  # every user with a training item, once
    assert len({b.seed for b in batches}) == len(batches)
    parts = [builder.shard(batches[0], r, 3) for r in range(3)]
    assert sorted(torch.cat([p.users for p in parts]).tolist()) == sorted(batches[0].users.tolist())
    assert len({p.seed for p in parts}) == 3  # the ranks draw different noise
    assert parts[1].seed == builder.shard(batches[0], 1, 3).seed  # and the same seed every time
    empty_row = UserRowBatches(sp.csr_matrix(np.array([[1, 0], [0, 0], [0, 1]], dtype=np.float32)), batch_size=5)
    assert sorted(next(iter(empty_row.batches(torch.Generator()))).users.tolist()) == [0, 2]
