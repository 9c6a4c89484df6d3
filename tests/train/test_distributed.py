"""Data-parallel training: 2 ranks x 1 thread on this machine (gloo over 127.0.0.1)."""
import json

import pytest
import torch
from click.testing import CliRunner

from hetrec.cli import main
from hetrec.data import kfold_split, synthetic
from hetrec.models import create_model
from hetrec.train import TrainingError
from hetrec.train.distributed import average_gradients_equivalent_batch, launch, one_step_check

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("name, overrides", [("bprmf", {"batch_size": 256}), ("lightgcn", {"batch_size": 256}),
                                             ("lightgcn", {"batch_size": 256, "num_negatives": 4, "loss": "softmax"})])
def test_one_ddp_step_equals_one_process_on_the_concatenated_batch(name, overrides, tmp_path):
    path = tmp_path / "step.pt"
    launch(one_step_check, 2, name, overrides, str(path))
    saved = torch.load(path, weights_only=False)  # written by the test's own child processes
    shards = saved["shards"]
    assert len(shards) == 2 and len(shards[0].users) == len(shards[1].users) == 128
    assert not torch.equal(shards[0].users, shards[1].users)  # each rank its own shard
    # one process, same initial parameters, the concatenated batch
    g = synthetic(num_users=60, num_items=80, num_interactions=1200, num_tags=6, seed=5)
    model = create_model(name, **overrides)
    model.setup(kfold_split(g, k=5, seed=0)[0])
    model.load_state_dict(saved["initial"])
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    model.train()
    out = model.loss(average_gradients_equivalent_batch(shards))
    opt.zero_grad()
    out.loss.backward()
    opt.step()
    moved = False
    for k, v in model.state_dict().items():
        torch.testing.assert_close(saved["after"][k], v, rtol=1e-4, atol=1e-6)  # float32 sums in another order
        moved |= not torch.equal(saved["initial"][k], v)
    assert moved


def test_a_failing_rank_ends_the_run_with_a_clear_error(tmp_path):
    """Rank 1 raises before its first step while rank 0 waits in the gradient all-reduce: the
    run ends at once with the rank's error, not after a hang."""
    import time

    t0 = time.time()
    with pytest.raises(TrainingError, match=r"failed in rank 1 of 2: RuntimeError: rank 1 fails on purpose; "
                                            "the other ranks were stopped"):
        launch(one_step_check, 2, "bprmf", {"batch_size": 256}, str(tmp_path / "x.pt"), 1)
    assert time.time() - t0 < 120


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    import pandas as pd

    folder = tmp_path_factory.mktemp("tables")
    g = synthetic(num_users=80, num_items=100, num_interactions=2500, num_tags=6, seed=3)
    s, d = g.edges(etype="interacts")
    pd.DataFrame({"user": s.numpy(), "item": d.numpy()}).to_csv(folder / "interactions.csv", index=False)
    return folder


def test_mthgt_trains_with_two_processes_and_resumes(tables, tmp_path):
    out = tmp_path / "run"
    args = ["train", "--tables", str(tables), "--model", "mthgt", "--epochs", "4", "--patience", "10",
            "--set", "hidden_size=16", "--set", "batch_size=512", "--nproc", "2", "--out", str(out)]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    log = [json.loads(line) for line in (out / "fold-0" / "log.jsonl").read_text().splitlines()]
    losses = [rec["loss"] for rec in log]
    assert len(losses) == 4 and losses[-1] < losses[0]  # the loss falls
    assert json.loads((out / "config.json").read_text())["nproc"] == 2
    # interrupted before its final evaluation: --resume with 2 processes reads the checkpoint
    # on every rank and ends with the same best model and test metrics
    first = json.loads((out / "fold-0" / "metrics.json").read_text())["test"]
    (out / "fold-0" / "metrics.json").unlink()
    (out / "metrics.json").unlink()
    ck = torch.load(out / "fold-0" / "checkpoint.pt", weights_only=True)
    assert ck["state"]["epoch"] == 4
    r = CliRunner().invoke(main, [*args, "--resume"])
    assert r.exit_code == 0, r.output
    assert json.loads((out / "fold-0" / "metrics.json").read_text())["test"] == first
    r = CliRunner().invoke(main, [*args[:-4], "--nproc", "1", "--out", str(out), "--resume"])
    assert r.exit_code == 1 and "nproc: 2 -> 1" in r.output
