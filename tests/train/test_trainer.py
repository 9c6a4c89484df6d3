"""The training loop: checkpoints, resume, early stopping, NaN handling, JSONL log."""
import json

import pytest
import torch

from hetrec.data import kfold_split, synthetic
from hetrec.models import LossOutput, create_model
from hetrec.models.base import Recommender
from hetrec.train import TrainConfig, Trainer, TrainingError, load_checkpoint


@pytest.fixture(scope="module")
def split():
    g = synthetic(num_users=80, num_items=100, num_interactions=1500, num_tags=12, seed=0)
    return kfold_split(g, k=5, seed=0)[0]


# the two-task path: MMoE and uncertainty weighting logged too
SMALL = dict(batch_size=256, width=16, hidden_size=16, num_heads=2, num_layers=1, lp_edges_per_relation=64, multitask=True)


def quiet(**kw):
    return TrainConfig(progress=False, **kw)


def fit(split, out, epochs, resume=False, name="mthgt", patience=100):
    model = create_model(name, **SMALL)
    result = Trainer(quiet(epochs=epochs, seed=3, patience=patience), out_dir=out, log=lambda s: None).fit(
        model, split, resume=resume)
    return model, result


def test_resume_matches_uninterrupted_run(split, tmp_path):
    full_model, full = fit(split, tmp_path / "full", epochs=3)
    # "interrupted" after epoch 2: train 2 epochs, then resume to 3
    fit(split, tmp_path / "cut", epochs=2)
    resumed_model, resumed = fit(split, tmp_path / "cut", epochs=3, resume=True)
    assert [h["loss"] for h in resumed.history] == pytest.approx([h["loss"] for h in full.history], abs=0)
    assert resumed.test == full.test
    for (k, a), (_, b) in zip(full_model.state_dict().items(), resumed_model.state_dict().items()):
        assert torch.equal(a, b), k


def test_resume_after_a_crash_mid_epoch(split, tmp_path):
    """Kill the run inside epoch 3 (an exception in the middle of a batch), then resume."""
    full_model, full = fit(split, tmp_path / "full", epochs=3)
    model = create_model("mthgt", **SMALL)
    calls = {"n": 0}
    real_loss = model.loss

    def crashing_loss(batch):
        calls["n"] += 1
        if calls["n"] == 2 * n_batches + 2:  # second batch of epoch 3
            raise KeyboardInterrupt
        return real_loss(batch)

    n_batches = -(-split.train.nnz // SMALL["batch_size"])
    model.loss = crashing_loss
    with pytest.raises(KeyboardInterrupt):
        Trainer(quiet(epochs=3, seed=3, patience=100), out_dir=tmp_path / "crash", log=lambda s: None).fit(model, split)
    assert load_checkpoint(tmp_path / "crash" / "checkpoint.pt")["state"]["epoch"] == 2
    resumed_model, resumed = fit(split, tmp_path / "crash", epochs=3, resume=True)
    assert resumed.test == full.test
    assert all(torch.equal(a, b) for a, b in zip(full_model.state_dict().values(), resumed_model.state_dict().values()))


def test_same_seed_same_result_and_checkpoint_reload(split, tmp_path):
    model, result = fit(split, tmp_path / "a", epochs=2)
    _, again = fit(split, tmp_path / "b", epochs=2)
    assert again.test == result.test
    # model.pt holds the best parameters: a fresh model restores identical scores
    saved = load_checkpoint(tmp_path / "a" / "model.pt")
    fresh = create_model(saved["model_name"], **saved["model_config"])
    fresh.setup(split)
    fresh.load_state_dict(saved["model"])
    fresh.eval()
    model.eval()
    users = torch.arange(split.num_users)
    assert torch.equal(fresh.scores(users), model.scores(users))
    log = [json.loads(line) for line in (tmp_path / "a" / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2]
    assert {"loss", "lp_loss", "rec_loss", "lp_weight", "rec_weight", "val", "train_seconds"} <= set(log[0])
    metrics = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert metrics["test"] == result.test


def test_checkpoint_is_weights_only_loadable(split, tmp_path):
    fit(split, tmp_path, epochs=1)
    ck = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert ck["state"]["epoch"] == 1 and ck["model_name"] == "mthgt"


def test_resume_without_checkpoint_is_an_error(split, tmp_path):
    with pytest.raises(TrainingError, match="no checkpoint"):
        fit(split, tmp_path / "none", epochs=1, resume=True)


def test_early_stopping_stops_after_patience(split):
    class Stuck(Recommender):
        """Constant scores: validation never improves after epoch 1."""

        def setup(self, split):
            self.w = torch.nn.Parameter(torch.zeros(1))
            self.ni = split.num_items

        def train_batches(self, generator):
            return [0]

        def loss(self, batch):
            return LossOutput((self.w - 1) ** 2)

        def scores(self, users):
            return torch.arange(self.ni, dtype=torch.float).expand(len(users), -1)

        def prepare_scoring(self):
            pass

    result = Trainer(quiet(epochs=50, patience=2), log=lambda s: None).fit(Stuck(), split)
    assert len(result.history) == 3 and result.best_epoch == 1
    # min_epochs: no stop before epoch 7, the best epoch still the best of all
    result = Trainer(quiet(epochs=50, patience=2, min_epochs=7), log=lambda s: None).fit(Stuck(), split)
    assert len(result.history) == 7 and result.best_epoch == 1
    with pytest.raises(ValueError, match="min_epochs"):
        quiet(min_epochs=-1)


def test_nan_loss_names_epoch_and_batch(split):
    class Exploding(Recommender):
        def setup(self, split):
            self.w = torch.nn.Parameter(torch.ones(1))

        def train_batches(self, generator):
            return [0, 1, 2]

        def loss(self, batch):
            return LossOutput(self.w * (float("nan") if batch == 1 else 1.0))

    with pytest.raises(TrainingError, match=r"non-finite loss \(nan\) at epoch 1, batch 2"):
        Trainer(quiet(epochs=2), log=lambda s: None).fit(Exploding(), split)


def test_resume_with_a_checkpoint_of_another_shape_is_a_clear_error(split, tmp_path):
    fit(split, tmp_path, epochs=1)
    other = create_model("mthgt", **{**SMALL, "hidden_size": 8})
    with pytest.raises(TrainingError, match="checkpoint.pt: is a file of other settings"):
        Trainer(quiet(epochs=2, seed=3), out_dir=tmp_path, log=lambda s: None).fit(other, split, resume=True)


# -- sparse embedding tables (lazy Adam) ------------------------------------------------------------

def _fit_sparse(split, out, epochs, sparse, resume=False, **kw):
    model = create_model("mthgt-sampled", **{**SMALL, "sparse_embeddings": sparse})
    result = Trainer(quiet(epochs=epochs, seed=3, patience=100, **kw), out_dir=out, log=lambda s: None).fit(
        model, split, resume=resume)
    return model, result


def test_sparse_embeddings_first_step_is_dense_adams(split, tmp_path):
    dense, _ = _fit_sparse(split, tmp_path / "d", 1, False, max_batches=1)
    sparse, _ = _fit_sparse(split, tmp_path / "s", 1, True, max_batches=1)
    assert sparse.proj["user"].sparse and not dense.proj["user"].sparse
    # SparseAdam adds eps to sqrt(v) before the bias correction, Adam after: on the first step a
    # coordinate with gradient g moves lr * g / (|g| + eps') with eps' = 1e-8 or 1e-8 / sqrt(1 - b2),
    # the same up to coordinates whose gradient is below ~1e-6. So: the same rows move, in the same
    # direction, by nearly the same amount.
    init = create_model("mthgt-sampled", **{**SMALL, "sparse_embeddings": False})
    from hetrec.train import seed_everything

    seed_everything(3, -1)
    init.setup(split)
    lr = quiet().lr
    for (k, a), (_, b), (_, w0) in zip(dense.state_dict().items(), sparse.state_dict().items(),
                                       init.state_dict().items()):
        if a.dtype.is_floating_point:
            assert torch.equal(a != w0, b != w0), k
            assert torch.equal(torch.sign(a - w0), torch.sign(b - w0)), k
            moved = a != w0
            if moved.any():
                diff = (a - b).abs()[moved]
                assert diff.max() < lr and diff.median() < 0.01 * lr, (k, diff.max(), diff.median())


def test_sparse_embeddings_resume_matches_uninterrupted_run(split, tmp_path):
    full_model, full = _fit_sparse(split, tmp_path / "full", 3, True)
    _fit_sparse(split, tmp_path / "cut", 2, True)
    resumed_model, resumed = _fit_sparse(split, tmp_path / "cut", 3, True, resume=True)
    assert [h["loss"] for h in resumed.history] == pytest.approx([h["loss"] for h in full.history], abs=0)
    for (k, a), (_, b) in zip(full_model.state_dict().items(), resumed_model.state_dict().items()):
        assert torch.equal(a, b), k


def test_sparse_embeddings_refuse_weight_decay_and_several_processes(split, tmp_path, monkeypatch):
    with pytest.raises(TrainingError, match="weight_decay"):
        _fit_sparse(split, tmp_path / "wd", 1, True, weight_decay=1e-4)
    import hetrec.train.trainer as trainer_module

    monkeypatch.setattr(trainer_module, "rank_and_world", lambda: (0, 2))
    with pytest.raises(TrainingError, match="more than one process"):
        _fit_sparse(split, tmp_path / "ddp", 1, True)
