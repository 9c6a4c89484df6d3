"""LightGCN on a DistGraph over 127.0.0.1, validation and early stopping, and ``hetrec dist-train``.

* The distributed K-layer output (a training batch's and the layer-wise one of evaluation) equals
  single-machine :meth:`hetrec.models.LightGCN.propagate` for the same layer-0 table.
* LightGCN trains on 2 partitions x 2 trainers: the loss falls; the test NDCG@10 agrees with
  hetrec's single-machine LightGCN and beats MostPop; the distributed ranking gives what
  :func:`hetrec.eval.topn_metrics` gives on the returned embeddings.
* Validation picks the best epoch, early stopping stops, and the tested embeddings are that
  epoch's.
"""
import json
import time

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from click.testing import CliRunner

from hetrec.cli import DIST_MODEL_CHOICES, DIST_PRESET_CHOICES, main
from hetrec.distributed import (
    DIST_MODELS,
    DistBPRConfig,
    DistLightGCNConfig,
    PartitionError,
    train_distributed,
)
from hetrec.eval import topn_metrics
from hetrec.models import create_model
from hetrec.models._bpr import normalized_adjacency
from hetrec.train import TrainConfig, Trainer

EPOCHS, LR, BATCH, DIM, LAYERS = 20, 0.01, 256, 32, 3
#: NDCG@10 of distributed and single-machine LightGCN may differ by this much. The model and the
#: loss are the same, the training is not: a different batch order and negatives, DGL's SparseAdam
#: (only the rows of a step's K-hop neighbourhood move, a row's gradient averaged over the trainers
#: that looked it up) against hetrec's dense Adam over whole tables, and each tests the epoch of its
#: best validation NDCG@10, which ~200 validation interactions pick noisily; on ~300 test
#: interactions one hit more or less moves NDCG@10 by ~0.01.
NDCG_TOLERANCE = 0.05
#: float32 sums of up to ~100 terms in another order
FLOAT_TOLERANCE = 1e-5


def test_the_distributed_output_is_single_machine_lightgcns(two_parts, synthetic_splits):
    split = synthetic_splits[0]
    gen = torch.Generator().manual_seed(7)
    user0, item0 = torch.randn(split.num_users, 8, generator=gen), torch.randn(split.num_items, 8, generator=gen)
    train_users = np.flatnonzero(np.diff(split.train.indptr) > 0)
    # a batch: training users and items, an item without training interactions if there is one
    users = torch.from_numpy(train_users[::7].copy())
    idle = np.flatnonzero(np.asarray(split.train.sum(0)).ravel() == 0)
    items = torch.cat([torch.arange(0, split.num_items, 11), torch.from_numpy(idle[:1])]).unique()
    got = train_distributed(two_parts, "lightgcn", num_trainers=2, timeout_s=120,
                            config=DistLightGCNConfig(embedding_size=8, num_layers=LAYERS),
                            probe={"user": user0, "item": item0, "users": users, "items": items})

    model = create_model("lightgcn", embedding_size=8, num_layers=LAYERS)
    model.setup(split)
    ref = model.propagate(torch.cat([user0, item0]))
    ref_user, ref_item = ref[:split.num_users], ref[split.num_users:]
    for name, rows, want in (("batch users", got["probe_batch"]["user"], ref_user[users]),
                             ("batch items", got["probe_batch"]["item"], ref_item[items]),
                             ("all users", got["probe_all"]["user"], ref_user),
                             ("all items", got["probe_all"]["item"], ref_item)):
        assert rows.shape == want.shape, name
        assert torch.allclose(rows, want, atol=FLOAT_TOLERANCE, rtol=0), (name, (rows - want).abs().max())

    # the comparison has the power to see a wrong normalisation or a wrong number of hops
    a = normalized_adjacency(split.train)
    binary = (a != 0).astype(np.float32)
    degree = np.asarray(binary.sum(1)).ravel()
    wrong = {"K - 1 layers": None, "1/d_dst normalisation": sp.diags(1 / np.maximum(degree, 1)) @ binary}
    ego = torch.cat([user0, item0]).numpy()
    for what, op in wrong.items():
        if op is None:
            other = create_model("lightgcn", embedding_size=8, num_layers=LAYERS - 1)
            other.setup(split)
            out = other.propagate(torch.cat([user0, item0]))
        else:
            total, layer = ego, ego
            for _ in range(LAYERS):
                layer = op @ layer
                total = total + layer
            out = torch.from_numpy(np.asarray(total / (LAYERS + 1), dtype=np.float32))
        assert (out[:split.num_users] - got["probe_all"]["user"]).abs().max() > 100 * FLOAT_TOLERANCE, what


@pytest.fixture(scope="module")
def lightgcn(two_parts):
    t0 = time.perf_counter()
    result = train_distributed(two_parts, "lightgcn", num_trainers=2, timeout_s=150, return_embeddings=True,
                               config=DistLightGCNConfig(embedding_size=DIM, num_layers=LAYERS, batch_size=BATCH,
                                                         lr=LR, epochs=EPOCHS, patience=EPOCHS, seed=0))
    result["wall"] = time.perf_counter() - t0
    return result


def test_lightgcn_trains_on_a_dist_graph_like_on_one_machine(lightgcn, synthetic_splits, most_pop_ndcg10):
    split = synthetic_splits[0]
    r = lightgcn
    assert r["model"] == "lightgcn" and r["num_servers"] == 2 and r["num_trainers"] == 2
    assert sum(r["interactions_per_trainer"]) == split.train.nnz and min(r["interactions_per_trainer"]) > 0
    # every user is ranked by exactly one trainer
    assert sum(r["users_per_trainer"]) == split.num_users
    assert r["loss"][-1] < 0.8 * r["loss"][0], r["loss"]
    assert [h["epoch"] for h in r["history"]] == list(range(1, EPOCHS + 1)) and r["epochs_run"] == EPOCHS
    # the distributed ranking is topn_metrics' on the tested embeddings
    central = topn_metrics(r["user_embeddings"], r["item_embeddings"], exclude=[split.train, split.val],
                           test=split.test, ns=(5, 10, 20))
    for k, v in central.items():
        assert r["test"][k] == pytest.approx(v, abs=1e-9), k

    model = create_model("lightgcn", embedding_size=DIM, batch_size=BATCH, num_layers=LAYERS)
    model.setup(split)
    one = Trainer(TrainConfig(epochs=EPOCHS, lr=LR, patience=EPOCHS, seed=0, num_threads=1)).fit(model, split).test
    dist, single = r["test"]["NDCG@10"], one["NDCG@10"]
    print(f"LightGCN NDCG@10: distributed {dist:.4f} (epoch {r['best_epoch']}), one machine {single:.4f}, "
          f"MostPop {most_pop_ndcg10:.4f}; distributed run {r['wall']:.1f} s, epochs {np.mean(r['epoch_seconds']):.3f} s")
    assert r["test"]["num_users"] == one["num_users"]
    assert abs(dist - single) <= NDCG_TOLERANCE
    assert dist > most_pop_ndcg10 + 0.05 and single > most_pop_ndcg10 + 0.05


def test_validation_picks_the_best_epoch_and_early_stopping_stops(two_parts, synthetic_splits):
    split = synthetic_splits[0]
    every, patience, epochs = 2, 2, 40
    # BPR-MF at a high learning rate: validation NDCG@10 peaks within a few epochs
    r = train_distributed(two_parts, "bprmf", num_trainers=2, timeout_s=120, return_embeddings=True,
                          config=DistBPRConfig(embedding_size=DIM, batch_size=BATCH, lr=0.05, epochs=epochs,
                                               eval_every=every, patience=patience))
    scores = [h["val"]["NDCG@10"] for h in r["history"]]
    print(f"validation NDCG@10 {[round(x, 4) for x in scores]}: best epoch {r['best_epoch']}, "
          f"stopped after {r['epochs_run']}")
    assert [h["epoch"] for h in r["history"]] == list(range(every, r["epochs_run"] + 1, every))
    assert r["stopped_early"] and r["epochs_run"] < epochs
    assert r["best_epoch"] == r["history"][int(np.argmax(scores))]["epoch"]
    # stopped after `patience` validations without a gain
    assert r["epochs_run"] == r["best_epoch"] + patience * every
    assert max(scores[-patience:]) <= max(scores)
    assert len(r["loss"]) == r["epochs_run"]
    # the tested embeddings are the best epoch's: their validation metrics are the recorded ones
    val = topn_metrics(r["user_embeddings"], r["item_embeddings"], exclude=[split.train], test=split.val,
                       ns=(5, 10, 20))
    assert r["val"] == r["history"][int(np.argmax(scores))]["val"]
    for k, v in val.items():
        assert r["val"][k] == pytest.approx(v, abs=1e-9), k


def test_bad_settings_are_refused_before_anything_starts(two_parts, tmp_path):
    with pytest.raises(ValueError, match="model must be one of bprmf, lightgcn, mthgt, got 'ngcf'"):
        train_distributed(two_parts, "ngcf")
    with pytest.raises(ValueError, match="model 'lightgcn' takes a DistLightGCNConfig, got a DistBPRConfig"):
        train_distributed(two_parts, "lightgcn", config=DistBPRConfig())
    with pytest.raises(ValueError, match="num_layers must be an integer of at least 1"):
        DistLightGCNConfig(num_layers=0)
    with pytest.raises(ValueError, match="eval_every must be an integer of at least 0"):
        DistBPRConfig(eval_every=-1)
    with pytest.raises(ValueError, match="metric must be P, R, HR or NDCG @ one of ns"):
        DistBPRConfig(metric="NDCG@50")
    with pytest.raises(PartitionError, match="no such folder"):
        train_distributed(tmp_path / "nothing", "lightgcn")


# --- hetrec dist-train ---------------------------------------------------------------------------


def dist_train(*args):
    return CliRunner().invoke(main, ["dist-train", *map(str, args)])


def test_cli_models_are_the_libraries():
    assert DIST_MODEL_CHOICES == list(DIST_MODELS)
    from hetrec.distributed.mthgt import PRESETS

    assert DIST_PRESET_CHOICES == list(PRESETS)


@pytest.mark.parametrize("args, message", [
    (["--model", "lightgcn", "--out", "{tmp}/o"], "Missing option '--parts'"),
    (["--parts", "{tmp}/none", "--model", "lightgcn", "--out", "{tmp}/o"], "does not exist"),
    (["--parts", "{parts}", "--model", "ngcf", "--out", "{tmp}/o"], "'ngcf' is not one of 'bprmf', 'lightgcn', 'mthgt'"),
    (["--parts", "{parts}", "--model", "lightgcn", "--preset", "hgt", "--out", "{tmp}/o"], "--preset is MTHGT's"),
    (["--parts", "{parts}", "--model", "mthgt", "--preset", "mthgt-paper", "--out", "{tmp}/o"],
     "'mthgt-paper' is not one of 'mthgt-sampled', 'hgt', 'hgt-d', 'hgt-m', 'mthgt'"),
    (["--parts", "{parts}", "--model", "bprmf", "--num-layers", "2", "--out", "{tmp}/o"], "--num-layers is LightGCN's"),
    (["--parts", "{parts}", "--model", "lightgcn", "--num-trainers", "3", "--out", "{tmp}/o"],
     "multiple of the 2 partition"),
    (["--parts", "{parts}", "--model", "lightgcn", "--epochs", "0", "--out", "{tmp}/o"], "0 is not in the range x>=1"),
    (["--parts", "{parts}", "--model", "lightgcn", "--out", "{tmp}/used"], "is not empty (x.txt)"),
    (["--parts", "{parts}", "--model", "lightgcn", "--out", "{tmp}/file"], "a file where a folder is needed"),
])
def test_cli_errors_are_one_line_and_exit_non_zero(two_parts, tmp_path, args, message):
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x.txt").write_text("a run")
    (tmp_path / "file").write_text("")
    r = dist_train(*[a.format(tmp=tmp_path, parts=two_parts) for a in args])
    assert r.exit_code != 0
    errors = [line for line in r.output.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and message in errors[0], r.output  # one line, after click's usage lines
    assert "Traceback" not in r.output and isinstance(r.exception, SystemExit)
    assert not (tmp_path / "o").exists()  # nothing was created
    assert [p.name for p in (tmp_path / "used").iterdir()] == ["x.txt"]  # nor touched


def test_cli_trains_and_writes_one_run_per_folder(two_parts, synthetic_splits, tmp_path):
    out = tmp_path / "run"
    r = dist_train("--parts", two_parts, "--model", "lightgcn", "--epochs", 3, "--num-layers", 2, "--embedding-size", 16,
                   "--batch-size", BATCH, "--lr", LR, "--eval-every", 0, "--save-embeddings", "--timeout", 120, "--out", out)
    assert r.exit_code == 0, r.output
    assert "tested epoch 3" in r.output and "| test " in r.output
    record = json.loads((out / "results.json").read_text())
    assert record["model"] == "lightgcn" and record["config"]["num_layers"] == 2 and record["config"]["lr"] == LR
    assert record["best_epoch"] == 3 and record["epochs_run"] == 3 and record["history"] == [] and record["val"] == {}
    assert record["split"] == {"fold": 0, "k": 5, "seed": 0, "val_ratio": 0.1}
    assert len(record["loss"]) == 3 and 0 < record["test"]["NDCG@10"] <= 1
    assert sorted(p.name for p in (out / "logs").iterdir()) == ["server0.log", "server1.log", "trainer0.log",
                                                               "trainer1.log"]
    tables = torch.load(out / "embeddings.pt", weights_only=True)
    assert tables["user"].shape == (100, 16) and tables["item"].shape == (150, 16)
    assert not list(out.glob("*.tmp"))
    # the embeddings written are the tested ones
    split = synthetic_splits[0]
    got = topn_metrics(tables["user"], tables["item"], exclude=[split.train, split.val], test=split.test, ns=(10,))
    assert record["test"]["NDCG@10"] == pytest.approx(got["NDCG@10"], abs=1e-9)
    # a second run into the folder is refused
    again = dist_train("--parts", two_parts, "--model", "bprmf", "--out", out)
    assert again.exit_code != 0 and "a dist-train folder holds one run" in again.output
