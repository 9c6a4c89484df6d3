"""BPR-MF trained on a DistGraph over 127.0.0.1: two DGL graph servers (one per partition) and two
trainers; the loss falls, the test metrics agree with BPR-MF trained on one machine, and a failing
trainer ends the run with an error that names it. (LightGCN, validation and the command line:
test_dist_lightgcn.py.)"""
import signal
import time

import numpy as np
import pytest

from hetrec.distributed import DistBPRConfig, DistributedTrainingError, train_bprmf_distributed
from hetrec.models import create_model
from hetrec.train import TrainConfig, Trainer

EPOCHS, LR, BATCH, DIM = 20, 0.01, 256, 32
#: NDCG@10 of distributed and single-machine BPR-MF may differ by this much. They are not the same
#: computation: a different batch order and negatives, DGL's SparseAdam (only the batch's rows move;
#: a row's gradients averaged over its occurrences in the step) against hetrec's dense Adam
#: (gradients summed; every row keeps moving with its momentum); both test the epoch of best
#: validation NDCG@10 (patience = EPOCHS: no early stop), which a small validation set picks noisily;
#: on ~300 test interactions one hit more or less moves NDCG@10 by ~0.01.
NDCG_TOLERANCE = 0.05


@pytest.fixture(scope="module")
def distributed(two_parts):
    t0 = time.perf_counter()
    result = train_bprmf_distributed(two_parts, num_trainers=2, timeout_s=120, config=DistBPRConfig(
        embedding_size=DIM, batch_size=BATCH, lr=LR, epochs=EPOCHS, seed=0, patience=EPOCHS))
    result["wall"] = time.perf_counter() - t0
    return result


def test_bprmf_trains_on_a_dist_graph_like_on_one_machine(distributed, synthetic_splits, synthetic_graph,
                                                           most_pop_ndcg10):
    split = synthetic_splits[0]
    r = distributed
    assert r["num_servers"] == 2 and r["num_trainers"] == 2
    # every training interaction is some trainer's, once
    assert sum(r["interactions_per_trainer"]) == split.train.nnz
    assert min(r["interactions_per_trainer"]) > 0
    # the loss falls
    assert r["loss"][-1] < 0.8 * r["loss"][0], r["loss"]
    assert len(r["epoch_seconds"]) == EPOCHS
    # each server served its own partition (DGL's shared memory is kept apart per server)
    np.testing.assert_array_equal(r["user_raw_id"], synthetic_graph.nodes["user"].data["raw_id"].numpy())

    # the same model settings as the distributed run (DistBPRConfig keeps N(0, 0.1²) and λ 1e-4)
    dist_cfg = DistBPRConfig()
    model = create_model("bprmf", embedding_size=DIM, batch_size=BATCH, init_std=dist_cfg.init_std,
                         reg_weight=dist_cfg.reg_weight)
    model.setup(split)
    one = Trainer(TrainConfig(epochs=EPOCHS, lr=LR, patience=EPOCHS, seed=0, num_threads=1)).fit(model, split).test
    most_pop = most_pop_ndcg10
    dist, single = r["test"]["NDCG@10"], one["NDCG@10"]
    print(f"NDCG@10: distributed {dist:.4f}, one machine {single:.4f}, MostPop {most_pop:.4f}; "
          f"distributed run {r['wall']:.1f} s, epochs {np.mean(r['epoch_seconds']):.3f} s")
    assert r["test"]["num_users"] == one["num_users"]
    assert abs(dist - single) <= NDCG_TOLERANCE
    assert dist > most_pop + 0.02 and single > most_pop + 0.02


@pytest.mark.parametrize("how", ["error", "SIGKILL"])
def test_a_failing_or_killed_trainer_ends_the_run_with_an_error_naming_it(two_parts, how):
    t0 = time.perf_counter()
    expected = (r"trainer 1 \(pid \d+\) exited with code 1: RuntimeError: trainer 1 fails on purpose after its first step"
                if how == "error" else r"trainer 1 \(pid \d+\) was killed by signal 9 \(SIGKILL\)")
    with pytest.raises(DistributedTrainingError, match=expected + r"; the other 3 process\(es\) were stopped"):
        train_bprmf_distributed(two_parts, num_trainers=2, timeout_s=120, fail_trainer=1,
                                fail_signal=signal.SIGKILL if how == "SIGKILL" else None,
                                config=DistBPRConfig(embedding_size=8, batch_size=BATCH, epochs=3))
    assert time.perf_counter() - t0 < 60


def test_bad_arguments_are_refused_before_anything_starts(two_parts, tmp_path):
    with pytest.raises(ValueError, match="multiple of the 2 partition"):
        train_bprmf_distributed(two_parts, num_trainers=3)
    with pytest.raises(ValueError, match="epochs must be an integer of at least 1"):
        DistBPRConfig(epochs=0)
    from hetrec.distributed import PartitionError
    with pytest.raises(PartitionError, match="no such folder"):
        train_bprmf_distributed(tmp_path / "nothing")


def test_the_first_failure_is_named_not_its_consequences(tmp_path):
    # the rule behind the failure message, without processes (their timing is not repeatable):
    # trainers before servers; a trainer killed from outside first; else the earliest of the
    # stamps failing trainers write and the times crashed ones were seen
    import signal as sig

    from hetrec.distributed.train import _first_failure

    class Proc:
        def __init__(self, code):
            self.code = code

        def poll(self):
            return self.code

    def stamp(name, t):
        (tmp_path / f"{name}.failed").write_text(repr(t))

    def run(codes, seen, stamps):
        for f in tmp_path.glob("*.failed"):
            f.unlink()
        for n, t in stamps.items():
            stamp(n.replace(" ", ""), t)
        return _first_failure(seen, {n: Proc(c) for n, c in codes.items()}, tmp_path)

    # trainer 1 raised (stamped 10.0, exit 1); server 0 aborted when its client vanished and was seen first
    codes = {"server 0": -sig.SIGABRT, "server 1": None, "trainer 0": None, "trainer 1": 1}
    assert run(codes, {"server 0": 10.1, "trainer 1": 10.3}, {"trainer 1": 10.0}) == "trainer 1"
    # stamped but not yet exited still counts
    assert run({**codes, "trainer 1": None}, {"server 0": 10.1}, {"trainer 1": 10.0}) == "trainer 1"
    # trainer 1 killed with SIGKILL (cannot stamp); trainer 0 then failed in a collective and stamped earlier
    # than trainer 1's exit was seen
    codes = {"server 0": None, "trainer 0": 1, "trainer 1": -sig.SIGKILL}
    assert run(codes, {"trainer 0": 20.2, "trainer 1": 20.3}, {"trainer 0": 20.1}) == "trainer 1"
    # a crash (SIGSEGV, no stamp) seen before the other trainer's stamp comes first; a later one does not
    codes = {"server 0": None, "trainer 0": 1, "trainer 1": -sig.SIGSEGV}
    assert run(codes, {"trainer 0": 30.5, "trainer 1": 30.2}, {"trainer 0": 30.4}) == "trainer 1"
    assert run(codes, {"trainer 0": 30.5, "trainer 1": 30.6}, {"trainer 0": 30.4}) == "trainer 0"
    # only servers failed: the earliest seen
    codes = {"server 0": -sig.SIGABRT, "server 1": 1, "trainer 0": None}
    assert run(codes, {"server 0": 5.0, "server 1": 4.0}, {}) == "server 1"


SPARSE_STEP_CHILD = r"""
import json, os, socket, sys
os.environ["DGL_DIST_MODE"] = "standalone"
import dgl, torch
from hetrec.distributed.runtime import sparse_step
dgl.distributed.initialize("")
sock = socket.socket(); sock.bind(("127.0.0.1", 0)); port = sock.getsockname()[1]; sock.close()
torch.distributed.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1)
folder = sys.argv[1]
meta = json.load(open(os.path.join(folder, "hetrec_partition.json")))
g = dgl.distributed.DistGraph(meta["graph_name"], part_config=os.path.join(folder, meta["dgl_config"]))
out = {}
for mode in ("sparse_step", "step_only"):
    emb = dgl.distributed.DistEmbedding(g.num_nodes("user"), 4, "probe_" + mode, lambda s, d: torch.zeros(s, dtype=d),
                                        g.get_node_partition_policy("user"))
    opt = dgl.distributed.optim.SparseAdam([emb], lr=0.1)
    moved = []
    for row in (0, 1, 2):  # step s looks up row s only
        before = emb.weight[torch.arange(3)].clone()
        emb(torch.tensor([row])).sum().backward()
        sparse_step(opt) if mode == "sparse_step" else opt.step()
        moved.append(((emb.weight[torch.arange(3)] - before).abs().sum(1) > 0).tolist())
    out[mode] = {"moved": moved, "trace": len(emb._trace)}
print(json.dumps(out))
"""


def test_a_sparse_step_applies_only_that_steps_lookups(synthetic_splits, tmp_path):
    """DGL's SparseAdam re-sends every traced lookup until zero_grad() is called: hetrec's trainers
    step with ``sparse_step``, which moves only the rows of the step's own lookups (the bare
    ``step()`` is run beside it, to show what the test would catch)."""
    import json
    import os
    import subprocess
    import sys

    from hetrec.distributed import partition_fold

    folder = tmp_path / "one"
    partition_fold(synthetic_splits, 0, 1, folder, graph_name="one")
    env = dict(os.environ, DGLBACKEND="pytorch", OMP_NUM_THREADS="1")
    run = subprocess.run([sys.executable, "-c", SPARSE_STEP_CHILD, str(folder)], env=env, capture_output=True,
                         text=True, timeout=300, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])
    diagonal = [[r == s for r in range(3)] for s in range(3)]
    assert got["sparse_step"] == {"moved": diagonal, "trace": 0}
    assert got["step_only"]["moved"] != diagonal and got["step_only"]["trace"] == 3


def test_distributed_defaults_are_the_single_machine_models():
    """Every setting a distributed config shares with its single-machine model has the same default
    (BPR-MF's N(0, 0.01²) and no L2 drifted apart once: distributed BPR-MF then trained at the old
    recipe's 0.1 and 1e-4)."""
    from dataclasses import fields

    from hetrec.distributed.bpr import DistBPRConfig, DistLightGCNConfig
    from hetrec.models.bprmf import BPRMFConfig
    from hetrec.models.lightgcn import LightGCNConfig

    for dist, single in ((DistBPRConfig, BPRMFConfig), (DistLightGCNConfig, LightGCNConfig)):
        mine = {f.name: f.default for f in fields(dist)}
        theirs = {f.name: f.default for f in fields(single)}
        shared = set(mine) & set(theirs)
        assert {"embedding_size", "batch_size", "reg_weight", "init_std"} <= shared
        assert {k: mine[k] for k in shared} == {k: theirs[k] for k in shared}
