"""MTHGT's mini-batch mode (historical embeddings, control variates) on a DistGraph over 127.0.0.1.

* The estimator on partitions (:class:`hetrec.distributed.minibatch.DistHistory`) is the one of a
  single machine: with every in-edge it gives MTHGT's exact layers; at the snapshot, with ``k``
  draws and a step's interactions hidden, what single-machine :class:`HistoricalPropagation`
  gives; away from the snapshot its relation-stratified draws are unbiased (the mean of many draws
  within 5 standard errors of the exact layer).
* ``mthgt-minibatch`` trains on 2 partitions x 2 trainers like on one machine (test NDCG@10 within
  the tolerance of the sampled modes' test, above MostPop), and ``mthgt`` (training ``auto``)
  resolves to this mode on a DistGraph.
"""
import time

import numpy as np
import pytest
import torch

from hetrec.data import INTERACTED_BY, INTERACTS
from hetrec.distributed import DistMTHGTConfig, train_distributed
from hetrec.eval import topn_metrics
from hetrec.models import create_model
from hetrec.train import TrainConfig, Trainer

FLOAT_TOLERANCE = 1e-5
EPOCHS, LR, BATCH, DIM = 10, 0.01, 256, 32
#: as for the sampled modes (tests/distributed/test_dist_mthgt.py): the model and the estimator
#: are the same, the batches, the in-edge draws (stratified by relation here, by node on one
#: machine) and the ID rows' optimiser (SparseAdam against Adam) are not
NDCG_TOLERANCE = 0.06
SMALL = {"hidden_size": 8, "num_heads": 2}


def _randomise(model, seed, scale=1.0):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * scale * (0.1 if name.startswith("proj.") else 0.5))


def _parameters(model, tg):
    tables = {t: model.proj[t].weight.detach().clone() for t in tg.ntypes}
    state = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("proj.")}
    return tables, state


def _by_type(hp, x, tg):
    """Rows of a global-id tensor of a single-machine HistoricalPropagation, by node type."""
    return {t: x[hp.offset[t]:hp.offset[t] + tg.num_nodes(t)] for t in tg.ntypes}


@pytest.fixture(scope="module")
def probed(two_parts, synthetic_splits):
    split = synthetic_splits[0]
    tg = split.train_graph
    model = create_model("mthgt-minibatch", **SMALL)
    model.setup(split)
    _randomise(model, 3)
    tables_a, state_a = _parameters(model, tg)
    u, i = tg.edges(etype=INTERACTS)
    pick = torch.arange(0, len(u), 5)  # a step's interactions, hidden in "snapshot"
    with torch.no_grad():
        layers_a = model.propagate(tg)[0]
        hp = model.history(refresh=True)
        hidden = hp.hidden_edges(INTERACTS, u[pick], i[pick], INTERACTED_BY)
        every = torch.arange(hp.num_nodes)
        snap_a = hp.propagate(every, model.layer0_global, model._relation_logits(), 2, 2,
                              torch.Generator().manual_seed(0), hidden)[0]
        hidden_a = hp.propagate(every, model.layer0_global, model._relation_logits(), 2, None,
                                torch.Generator().manual_seed(0), hidden)[0]
    other = create_model("mthgt-minibatch", **SMALL)
    other.setup(split)
    _randomise(other, 4)
    with torch.no_grad():  # B: A moved a little (the snapshot stays A's)
        for p, q in zip(model.parameters(), other.parameters()):
            p.add_(0.3 * q)
        layers_b = model.propagate(tg)[0]
    tables_b, state_b = _parameters(model, tg)
    got = train_distributed(
        two_parts, "mthgt", num_trainers=2, timeout_s=240,
        config=DistMTHGTConfig(preset="mthgt-minibatch", overrides=SMALL),
        probe={"tables": tables_a, "state": state_a,
               "history": {"fanout": 2, "draws": 200, "hidden": (u[pick], i[pick]), "tables": tables_b,
                           "state": state_b}})
    snap = [_by_type(hp, x, tg) for x in snap_a]
    got["probe_history"]["one_machine_hidden"] = [_by_type(hp, x, tg) for x in hidden_a]
    return got["probe_history"], layers_a, snap, layers_b, tg


def _layers(rows, tg, num_layers, d):
    return [{t: rows[t][:, k * d:(k + 1) * d] for t in tg.ntypes} for k in range(num_layers + 1)]


def test_every_in_edge_gives_the_exact_layers(probed):
    got, layers_a, _, layers_b, tg = probed
    for name, ref in (("exact", layers_a), ("exact_b", layers_b)):
        mine = _layers(got[name], tg, len(ref) - 1, SMALL["hidden_size"])
        for k, (x, want) in enumerate(zip(mine, ref)):
            for t in tg.ntypes:
                assert x[t].shape == want[t].shape, (name, k, t)
                assert torch.allclose(x[t], want[t], atol=FLOAT_TOLERANCE, rtol=0), (name, k, t)
    # the check can fail: A's and B's layers differ well beyond the tolerance
    assert (layers_a[-1]["item"] - layers_b[-1]["item"]).abs().max() > 100 * FLOAT_TOLERANCE


def test_hidden_edges_leave_every_layer_as_on_one_machine(probed):
    """With every in-edge and a fifth of the interactions (and their reverses) hidden, every layer
    equals single-machine HistoricalPropagation's with the same hidden edges."""
    got, layers_a, _, _, tg = probed
    ref = got["one_machine_hidden"]
    mine = _layers(got["exact_hidden"], tg, len(ref) - 1, SMALL["hidden_size"])
    for k, (x, want) in enumerate(zip(mine, ref)):
        for t in tg.ntypes:
            assert torch.allclose(x[t], want[t], atol=FLOAT_TOLERANCE, rtol=0), (k, t, (x[t] - want[t]).abs().max())
    assert (ref[-1]["item"] - layers_a[-1]["item"]).abs().max() > 100 * FLOAT_TOLERANCE


def test_at_the_snapshot_draws_with_hidden_edges_match_one_machine(probed):
    """Layer 1 at the snapshot with ``k`` draws and hidden edges does not depend on the draws
    (its sources' layer 0 is the snapshot's), so it must be single-machine's to the float: drawn
    and exact nodes, the hidden edges' snapshot messages subtracted from drawn nodes. (From layer
    2 on, a drawn source next to a hidden edge differs from its snapshot row, and the result
    depends on which sources were drawn.)"""
    got, layers_a, snap, _, tg = probed
    mine = _layers(got["snapshot"], tg, len(snap) - 1, SMALL["hidden_size"])
    for k in (0, 1):
        for t in tg.ntypes:
            x, want = mine[k][t], snap[k][t]
            assert torch.allclose(x, want, atol=FLOAT_TOLERANCE, rtol=0), (k, t, (x - want).abs().max())
    # hiding the step's interactions changed layer 1 of users and items (the comparison sees them)
    for t in ("user", "item"):
        assert (snap[1][t] - layers_a[1][t]).abs().max() > 100 * FLOAT_TOLERANCE


def test_stratified_draws_are_unbiased_away_from_the_snapshot(probed):
    got, _, _, layers_b, tg = probed
    for t in tg.ntypes:
        mean, se, want = got["mean_b"][t], got["se_b"][t], layers_b[-1][t]
        assert ((mean - want).abs() <= 5 * se + FLOAT_TOLERANCE).all(), (t, ((mean - want).abs() - 5 * se).max())
    assert max(float(got["se_b"][t].max()) for t in tg.ntypes) > 0  # the draws do vary


@pytest.fixture(scope="module")
def minibatch_run(two_parts):
    t0 = time.perf_counter()
    result = train_distributed(two_parts, "mthgt", num_trainers=2, timeout_s=240, return_embeddings=True,
                               config=DistMTHGTConfig(preset="mthgt-minibatch",
                                                      overrides={"hidden_size": DIM, "batch_size": BATCH},
                                                      epochs=EPOCHS, lr=LR, patience=EPOCHS, seed=0))
    result["wall"] = time.perf_counter() - t0
    return result


def test_minibatch_trains_on_a_dist_graph_like_on_one_machine(minibatch_run, synthetic_splits, most_pop_ndcg10):
    split = synthetic_splits[0]
    r = minibatch_run
    assert r["config"]["preset"] == "mthgt-minibatch"
    assert sum(r["interactions_per_trainer"]) == split.train.nnz
    assert min(r["loss"]) < 0.9 * r["loss"][0], r["loss"]
    central = topn_metrics(r["user_embeddings"], r["item_embeddings"], exclude=[split.train, split.val],
                           test=split.test, ns=(5, 10, 20))
    for k, v in central.items():
        assert r["test"][k] == pytest.approx(v, abs=1e-9), k
    model = create_model("mthgt-minibatch", hidden_size=DIM, batch_size=BATCH)
    model.setup(split)
    one = Trainer(TrainConfig(epochs=EPOCHS, lr=LR, patience=EPOCHS, seed=0, num_threads=1)).fit(model, split).test
    dist, single = r["test"]["NDCG@10"], one["NDCG@10"]
    print(f"mthgt-minibatch NDCG@10: distributed {dist:.4f} (epoch {r['best_epoch']}), one machine {single:.4f}, "
          f"MostPop {most_pop_ndcg10:.4f}; run {r['wall']:.1f} s, epochs {np.median(r['epoch_seconds']):.3f} s")
    assert abs(dist - single) <= NDCG_TOLERANCE
    assert dist > most_pop_ndcg10 + 0.05


def test_mthgt_on_a_dist_graph_is_the_minibatch_mode():
    assert DistMTHGTConfig(preset="mthgt").model_config().training == "minibatch"
    assert DistMTHGTConfig(preset="mthgt").minibatch
    # settings the mode cannot train fall back to sampled subgraphs, as on one machine
    assert DistMTHGTConfig(preset="mthgt", overrides={"multitask": True}).model_config().training == "sampled"
    assert not DistMTHGTConfig(preset="mthgt-sampled").minibatch
    with pytest.raises(ValueError, match="training='minibatch' trains one task"):
        DistMTHGTConfig(preset="mthgt-minibatch", overrides={"multitask": True})
    with pytest.raises(ValueError, match="minibatch.*shared_gnn"):
        DistMTHGTConfig(preset="mthgt-minibatch", overrides={"multitask": True, "shared_gnn": False})
    with pytest.raises(ValueError, match="history_draw"):
        DistMTHGTConfig(preset="mthgt-minibatch", overrides={"history_draw": "dense"})
