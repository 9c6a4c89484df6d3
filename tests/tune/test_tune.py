"""hetrec tune: every model has a valid space, studies are seeded and resumable, the best value is
reproducible, the test set is never scored, folders hold one study, the trainer's epoch hook."""
import csv
import dataclasses
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from click.testing import CliRunner

from hetrec.cli import main
from hetrec.data import kfold_split, synthetic
from hetrec.models import MODELS, create_model, model_class
from hetrec.train import TrainConfig, Trainer
from hetrec.tune import SPACES, check_space, spaces_markdown, tune

pytest.importorskip("optuna")

ROOT = Path(__file__).resolve().parents[2]
#: a BPR-MF space that trains in well under a second per trial on the tiny graph
TINY_BPR = {"train.lr": ("log", 1e-3, 1e-1), "train.epochs": ("int", 1, 2), "train.patience": ("choice", [1, 2]),
            "embedding_size": ("choice", [8, 16]), "reg_weight": ("log", 1e-6, 1e-2)}


@pytest.fixture(scope="module")
def data():
    return SimpleNamespace(graph=synthetic(num_users=60, num_items=80, num_interactions=1500, seed=0))


def rows(folder) -> list:
    with open(Path(folder) / "trials.csv", newline="") as f:
        return list(csv.DictReader(f))


def complete(folder) -> list:
    """(params and value) of the complete trials, in order: what a study found, without timings."""
    return [{k: v for k, v in r.items() if k not in ("number", "seconds")} for r in rows(folder)
            if r["state"] == "COMPLETE"]


def quiet(_msg):
    pass


# -- the spaces ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(MODELS))
def test_every_registered_model_has_a_valid_space(name):
    """A space for every registered model; its settings are fields of the model's Config or of
    TrainConfig, and both ends of every range are settings the model and the trainer accept."""
    assert name in SPACES, f"no search space for {name!r} in hetrec/tune/spaces.py"
    try:
        cls = model_class(name)
    except ImportError as err:  # a model a colleague has registered but not yet written
        pytest.skip(f"{name}: {err}")
    space = SPACES[name]
    check_space(name, space)
    fields = {f.name for f in dataclasses.fields(cls.Config)}
    for key in space:
        assert (key[len("train."):] in {f.name for f in dataclasses.fields(TrainConfig)} if key.startswith("train.")
                else key in fields), key
    if cls.trainable:
        assert {"train.lr", "train.epochs", "train.patience"} <= set(space), name
    for end in (1, 2):
        values = {k: (spec[1][-1 if end == 2 else 0] if spec[0] == "choice" else
                      int(spec[end]) if spec[0] in ("int", "log-int") else float(spec[end]))
                  for k, spec in space.items()}
        create_model(name, **{k: v for k, v in values.items() if not k.startswith("train.")})
        TrainConfig(**{k[len("train."):]: v for k, v in values.items() if k.startswith("train.")})


def test_check_space_refuses_unknown_settings_and_bad_specs():
    with pytest.raises(ValueError, match="no such setting"):
        check_space("bprmf", {"hidden_size": ("choice", [8])})
    with pytest.raises(ValueError, match="no such setting"):
        check_space("bprmf", {"train.momentum": ("uniform", 0.0, 1.0)})
    with pytest.raises(ValueError, match="low > 0"):
        check_space("bprmf", {"train.lr": ("log", 0.0, 1.0)})
    with pytest.raises(ValueError, match="kind one of"):
        check_space("bprmf", {"train.lr": ("normal", 0.0, 1.0)})


def test_docs_table_is_the_spaces():
    """docs/tuning.md shows exactly the table printed from SPACES (python -m hetrec.tune.spaces)."""
    doc = (ROOT / "docs" / "tuning.md").read_text()
    assert spaces_markdown() in doc, "docs/tuning.md: regenerate the table with python -m hetrec.tune.spaces"
    for model, space in SPACES.items():
        assert f"| `{model}` |" in doc
        for key in space:
            assert f"`{key}`" in doc


# -- studies ------------------------------------------------------------------------------------

def test_same_seed_same_trials(data, tmp_path):
    for name in ("a", "b"):
        tune("bprmf", 2, tmp_path / name, dataset="syn", data=data, space=TINY_BPR, log=quiet)
    tune("bprmf", 2, tmp_path / "c", dataset="syn", data=data, space=TINY_BPR, seed=1, log=quiet)
    first, second = complete(tmp_path / "a")
    assert first != second  # each trial samples anew
    assert complete(tmp_path / "a") == complete(tmp_path / "b")
    assert complete(tmp_path / "a") != complete(tmp_path / "c")


def test_killed_study_resumes_as_if_never_stopped(data, tmp_path):
    """2 of 4 trials, then a trial left RUNNING by a killed process, then a run to 4: exactly 4
    complete trials, the first two unchanged, the same trials as an uninterrupted study."""
    import optuna

    stopped, straight = tmp_path / "stopped", tmp_path / "straight"
    tune("bprmf", 2, stopped, dataset="syn", data=data, space=TINY_BPR, log=quiet)
    first = complete(stopped)
    study = optuna.load_study(study_name="hetrec", storage=f"sqlite:///{stopped / 'study.db'}")
    study.ask()  # a trial started and never told: what kill -9 leaves behind
    lines = []
    tune("bprmf", 4, stopped, dataset="syn", data=data, space=TINY_BPR, log=lines.append)
    assert any("left running" in line for line in lines)
    assert [r["state"] for r in rows(stopped)] == ["COMPLETE", "COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]
    assert complete(stopped)[:2] == first
    tune("bprmf", 4, straight, dataset="syn", data=data, space=TINY_BPR, log=quiet)
    assert complete(stopped) == complete(straight)
    # at its budget, a study runs nothing (and needs no data)
    lines = []
    best = tune("bprmf", 4, stopped, dataset="syn", data=lambda: pytest.fail("data read"), space=TINY_BPR,
                log=lines.append)
    assert "nothing to run" in lines[0] and best["trials"] == 4


def test_best_json_is_the_best_trial_and_reproducible(data, tmp_path):
    best = tune("bprmf", 4, tmp_path, dataset="syn", data=data, space=TINY_BPR, seed=3, log=quiet)
    assert json.loads((tmp_path / "best.json").read_text()) == best
    values = [float(r["value"]) for r in rows(tmp_path) if r["state"] == "COMPLETE"]
    assert best["value"] == max(values) and best["trials"] == 4
    assert set(best["train"]) == {"lr", "epochs", "patience"} and best["seed"] == 3 and best["fold"] == 0
    # training the best settings directly gives the same validation value
    split = kfold_split(data.graph, k=5, seed=3, val_ratio=0.1)[0]
    model = create_model("bprmf", **best["model_overrides"])
    result = Trainer(TrainConfig(seed=3, **best["train"]), log=quiet).fit(model, split, evaluate_test=False)
    assert result.val[best["metric"]] == best["value"]


def test_test_split_is_never_scored(data, tmp_path, monkeypatch):
    """Tuning runs on a split without a test matrix: nothing reads it."""
    import hetrec.tune.study as study_module

    class NoTest:
        def __init__(self, splits):
            self.splits = splits

        def __getitem__(self, f):
            return dataclasses.replace(self.splits[f], test=None, test_eids=None)

        def __getattr__(self, name):
            return getattr(self.splits, name)

    monkeypatch.setattr(study_module, "kfold_split", lambda *a, **kw: NoTest(kfold_split(*a, **kw)))
    assert tune("bprmf", 2, tmp_path / "bpr", dataset="syn", data=data, space=TINY_BPR, log=quiet)["value"] > 0
    assert tune("itemknn", 2, tmp_path / "knn", dataset="syn", data=data, log=quiet)["value"] > 0


def test_empty_space_evaluates_once(data, tmp_path):
    lines = []
    best = tune("mostpop", 5, tmp_path, dataset="syn", data=data, log=lines.append)
    assert "nothing to tune" in lines[0]
    assert best["model_overrides"] == {} and best["trials"] == 1 and best["value"] > 0
    assert [r["state"] for r in rows(tmp_path)] == ["COMPLETE"]


def test_pruned_and_invalid_trials_count_with_a_reason(data, tmp_path, monkeypatch):
    import optuna

    # settings the model refuses: pruned (worst for the sampler), counted, the reason recorded
    best = tune("bprmf", 2, tmp_path / "bad", dataset="syn", data=data, log=quiet,
                space={**TINY_BPR, "embedding_size": ("choice", [0])})
    assert best is None and not (tmp_path / "bad" / "best.json").exists()
    assert [(r["state"], r["note"][:16]) for r in rows(tmp_path / "bad")] == [("PRUNED", "invalid settings")] * 2
    # the pruner's verdict at an epoch stops the trial there
    monkeypatch.setattr(optuna.trial.Trial, "should_prune", lambda self: True)
    tune("bprmf", 1, tmp_path / "pruned", dataset="syn", data=data, log=quiet,
         space={**TINY_BPR, "train.epochs": ("choice", [3])})
    (row,) = rows(tmp_path / "pruned")
    assert row["state"] == "PRUNED" and row["note"].startswith("pruned at epoch 1:")


def test_other_data_under_the_same_name_is_refused(data, tmp_path):
    from hetrec.tune import TuneError

    tune("itemknn", 1, tmp_path, dataset="syn", data=data, log=quiet)
    other = SimpleNamespace(graph=synthetic(num_users=60, num_items=80, num_interactions=1500, seed=1))
    with pytest.raises(TuneError, match="the data differ"):
        tune("itemknn", 2, tmp_path, dataset="syn", data=other, log=quiet)
    assert len(rows(tmp_path)) == 1


def test_timeout_starts_no_trial_after_it(data, tmp_path):
    assert tune("bprmf", 3, tmp_path, dataset="syn", data=data, space=TINY_BPR, timeout=1e-9, log=quiet) is None
    assert rows(tmp_path) == []


# -- the command line ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tables(tmp_path_factory, data):
    d = tmp_path_factory.mktemp("tables")
    u, i = data.graph.edges(etype="interacts")
    pd.DataFrame({"user": u.numpy(), "item": i.numpy()}).to_csv(d / "interactions.csv", index=False)
    return d


def snapshot(folder) -> dict:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(Path(folder).iterdir())}


def test_cli_tunes_and_refuses_a_foreign_study(tables, tmp_path):
    out = tmp_path / "study"
    r = CliRunner().invoke(main, ["tune", "--tables", str(tables), "--model", "itemknn", "--trials", "2",
                                  "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "trial 2/2" in r.output and "best validation NDCG@10" in r.output
    assert {"study.db", "trials.csv", "best.json"} <= set(snapshot(out))
    before = snapshot(out)
    for other in (["--model", "mostpop"], ["--model", "itemknn", "--seed", "1"], ["--model", "itemknn", "--fold", "1"]):
        r = CliRunner().invoke(main, ["tune", "--tables", str(tables), "--trials", "2", "--out", str(out), *other])
        assert r.exit_code == 1, r.output
        assert len(r.output.strip().splitlines()) == 1 and "holds another study" in r.output, r.output
        assert snapshot(out) == before  # nothing written
    # a folder that holds something else
    r = CliRunner().invoke(main, ["tune", "--tables", str(tables), "--model", "mostpop", "--trials", "1",
                                  "--out", str(tables)])
    assert r.exit_code == 1 and "holds no hetrec study" in r.output and len(r.output.strip().splitlines()) == 1


def test_cli_without_optuna_says_how_to_install(tables, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna raises ImportError
    r = CliRunner().invoke(main, ["tune", "--tables", str(tables), "--model", "mostpop", "--trials", "1",
                                  "--out", str(tmp_path / "s")])
    assert r.exit_code == 1 and "pip install 'hetrec[tune]'" in r.output
    assert len(r.output.strip().splitlines()) == 1 and not (tmp_path / "s").exists()


# -- the trainer's epoch hook -------------------------------------------------------------------

def test_on_epoch_sees_each_validation_and_can_stop_training(data):
    split = kfold_split(data.graph, k=5, seed=0, val_ratio=0.1)[0]
    seen = []
    config = TrainConfig(epochs=3, patience=3, seed=0)
    result = Trainer(config, log=quiet, on_epoch=lambda e, val: seen.append((e, val["NDCG@10"]))).fit(
        create_model("bprmf", embedding_size=8), split, evaluate_test=False)
    assert seen == [(h["epoch"], h["val"]["NDCG@10"]) for h in result.history] and len(seen) == 3

    class Stop(Exception):
        pass

    epochs = []

    def stop_at_2(epoch, val):
        epochs.append(epoch)
        if epoch == 2:
            raise Stop

    trainer = Trainer(config, log=quiet, on_epoch=stop_at_2)
    with pytest.raises(Stop):
        trainer.fit(create_model("bprmf", embedding_size=8), split, evaluate_test=False)
    assert epochs == [1, 2]  # no third epoch


# -- benchmarks/accuracy.py --tuned -------------------------------------------------------------

@pytest.fixture(scope="module")
def accuracy(load_benchmark):
    return load_benchmark("accuracy", "bench_accuracy_tuned")


def test_accuracy_uses_tuned_settings(accuracy, tmp_path):
    best = {"dataset": "lastfm", "model": "bprmf", "model_overrides": {"embedding_size": 128, "reg_weight": 1e-5},
            "train": {"lr": 0.002, "epochs": 300, "patience": 10}}
    (tmp_path / "lastfm" / "bprmf").mkdir(parents=True)
    (tmp_path / "lastfm" / "bprmf" / "best.json").write_text(json.dumps(best))
    args = SimpleNamespace(tuned=str(tmp_path), dataset="lastfm", quick=False, epochs=None, patience=None)
    assert accuracy.cell_settings(args, "bprmf") == (best["train"], best["model_overrides"])
    assert accuracy.cell_settings(args, "lightgcn") == (accuracy.TRAINING["lightgcn"], {})
    # the header names a model as tuned only when its run folder was trained with those settings
    runs = tmp_path / "runs"
    for model, overrides, train in (("bprmf", best["model_overrides"], best["train"]),
                                    ("lightgcn", {}, accuracy.TRAINING["lightgcn"])):
        (runs / model).mkdir(parents=True)
        (runs / model / "config.json").write_text(json.dumps({"model_overrides": overrides, "train": train}))
    assert accuracy.tuned_models(runs, str(tmp_path), "lastfm", ["bprmf", "lightgcn"]) == ["bprmf"]


def test_a_winning_registry_trial_reuses_the_registry_cells(accuracy, tmp_path):
    """best.json of a study whose registry trial won names no model setting and the registry's
    training settings: the registry's cells are the tuned cells, not a setting to retrain."""
    best = {"dataset": "lastfm", "model": "lightgcn", "trials": 16, "budget": 16, "model_overrides": {},
            "train": dict(accuracy.TRAINING["lightgcn"])}
    (tmp_path / "lastfm" / "lightgcn").mkdir(parents=True)
    (tmp_path / "lastfm" / "lightgcn" / "best.json").write_text(json.dumps(best))
    args = SimpleNamespace(tuned=str(tmp_path), dataset="lastfm", quick=False, epochs=None, patience=None)
    assert accuracy.cell_settings(args, "lightgcn") == (accuracy.TRAINING["lightgcn"], {})
    runs = tmp_path / "runs" / "lightgcn"
    runs.mkdir(parents=True)
    (runs / "config.json").write_text(json.dumps({"model_overrides": {}, "train": accuracy.TRAINING["lightgcn"]}))
    assert accuracy.tuned_models(tmp_path / "runs", str(tmp_path), "lastfm", ["lightgcn"]) == ["lightgcn"]


def test_accuracy_ignores_a_stopped_study(accuracy, tmp_path, capsys):
    """A study stopped before its budget (``hetrec tune --timeout``) is not a tuned setting: the
    model keeps the registry's settings, and the run says why."""
    best = {"dataset": "lastfm", "model": "lightgcn", "trials": 11, "budget": 16,
            "model_overrides": {"embedding_size": 128}, "train": {"lr": 0.009, "epochs": 300, "patience": 5}}
    (tmp_path / "lastfm" / "lightgcn").mkdir(parents=True)
    (tmp_path / "lastfm" / "lightgcn" / "best.json").write_text(json.dumps(best))
    args = SimpleNamespace(tuned=str(tmp_path), dataset="lastfm", quick=False, epochs=None, patience=None)
    assert accuracy.cell_settings(args, "lightgcn") == (accuracy.TRAINING["lightgcn"], {})
    assert "stopped after 11 of 16 trials" in capsys.readouterr().err
    best.update(trials=16)  # finished: used
    (tmp_path / "lastfm" / "lightgcn" / "best.json").write_text(json.dumps(best))
    assert accuracy.cell_settings(args, "lightgcn") == (best["train"], best["model_overrides"])


def test_mthgt_minibatch_trains_with_mthgts_study_unless_it_has_its_own(accuracy, tmp_path):
    """mthgt-minibatch (MTHGT in the mini-batch mode) borrows mthgt's finished study when it has
    none: its cells train with those settings and its own history_fanout, the header says whose, and
    the tuning column counts no trial of its own; a study of its own wins. Other models never borrow."""
    def study(model, value, width):
        (tmp_path / "lastfm" / model).mkdir(parents=True, exist_ok=True)
        best = {"dataset": "lastfm", "model": model, "trials": 16, "budget": 16, "value": value,
                "model_overrides": {"hidden_size": width}, "train": {"lr": 0.004, "epochs": 200, "patience": 10}}
        (tmp_path / "lastfm" / model / "best.json").write_text(json.dumps(best))
        return best

    mthgt = study("mthgt", 0.17, 128)
    args = SimpleNamespace(tuned=str(tmp_path), dataset="lastfm", quick=False, epochs=None, patience=None)
    borrowed = {**mthgt["model_overrides"], "history_fanout": 16}  # the mode's own setting on top
    assert accuracy.cell_settings(args, "mthgt-minibatch") == (mthgt["train"], borrowed)
    assert accuracy.cell_settings(args, "hgt-mb") == (accuracy.TRAINING["hgt-mb"], {})
    assert accuracy.tuning_cost(str(tmp_path), "lastfm", "mthgt-minibatch") == "0 (MTHGT's settings)"
    assert accuracy.tuned_label(str(tmp_path), "lastfm", "mthgt-minibatch") == "mthgt-minibatch (with mthgt's study)"
    runs = tmp_path / "runs" / "mthgt-minibatch"
    runs.mkdir(parents=True)
    (runs / "config.json").write_text(json.dumps({"model_overrides": mthgt["model_overrides"], "train": mthgt["train"]}))
    assert accuracy.tuned_models(tmp_path / "runs", str(tmp_path), "lastfm", ["mthgt-minibatch"]) == []  # k=8 cells
    (runs / "config.json").write_text(json.dumps({"model_overrides": borrowed, "train": mthgt["train"]}))
    assert accuracy.tuned_models(tmp_path / "runs", str(tmp_path), "lastfm", ["mthgt-minibatch"]) == ["mthgt-minibatch"]
    own = study("mthgt-minibatch", 0.16, 64)  # its own study, even a worse one, is its own tuning
    assert accuracy.cell_settings(args, "mthgt-minibatch") == (own["train"], own["model_overrides"])
    assert accuracy.tuned_models(tmp_path / "runs", str(tmp_path), "lastfm", ["mthgt-minibatch"]) == []


# -- protocol 2: the registry's settings first, a patient pruner ----------------------------------

#: registry settings that no log-scale range can hold (an L2 weight of exactly 0)
OUTSIDE_THEIR_SPACE = {"bprmf": {"reg_weight"}, "mthgt-paper": {"reg_weight"}}


@pytest.mark.parametrize("name", [m for m in MODELS if m in SPACES and SPACES[m]])
def test_the_registry_settings_are_a_point_of_each_space(name):
    from hetrec.tune.spaces import registry_point

    point, outside = registry_point(name, SPACES[name])
    assert set(point) == set(SPACES[name])
    assert set(outside) == OUTSIDE_THEIR_SPACE.get(name, set()), (
        f"{name}: the registry's {outside} lie outside its search space, so its study cannot start from them")


def test_a_study_starts_from_the_registry_settings(data, tmp_path):
    from hetrec.tune.spaces import registry_point

    lines = []
    best = tune("itemknn", 3, tmp_path / "knn", dataset="syn", data=data, log=lines.append)
    first = rows(tmp_path / "knn")[0]
    point, _ = registry_point("itemknn", SPACES["itemknn"])
    assert first["note"] == "the registry's settings" and "(the registry's settings)" in lines[0]
    assert {k: first[k] for k in point} == {k: str(v) for k, v in point.items()}
    # its value is the registry model's own validation value (an empty space evaluates the registry once)
    registry = tune("itemknn", 1, tmp_path / "one", dataset="syn", data=data, space={}, log=quiet)
    assert float(first["value"]) == registry["value"] and best["value"] >= registry["value"]
    assert best["protocol"] == 2
    # the later trials are sampled, as before
    assert len({r["k"] for r in rows(tmp_path / "knn")}) == 3
    # best.json names only what differs from the registry: a winning registry trial is the registry model
    assert best["model_overrides"] == {k: v for k, v in best["model_overrides"].items() if point[k] != v}
    only = tune("itemknn", 2, tmp_path / "only", dataset="syn", data=data, log=quiet,
                space={"k": ("choice", [point["k"], 7])})
    assert rows(tmp_path / "only")[0]["note"] == "the registry's settings"
    assert only["model_overrides"] == ({} if only["best_trial"] == 0 else {"k": 7})


def test_a_registry_trial_left_running_is_run_again_as_it_was(data, tmp_path):
    import optuna

    assert tune("itemknn", 2, tmp_path, dataset="syn", data=data, timeout=1e-9, log=quiet) is None
    study = optuna.load_study(study_name="hetrec", storage=f"sqlite:///{tmp_path / 'study.db'}")
    killed = study.ask()  # the enqueued registry trial, started and never told
    assert killed.user_attrs["origin"] == "registry"
    tune("itemknn", 2, tmp_path, dataset="syn", data=data, log=quiet)
    got = rows(tmp_path)
    assert [r["state"] for r in got] == ["FAIL", "COMPLETE", "COMPLETE"]
    assert got[1]["note"] == "the registry's settings" and got[2]["note"] == ""
    assert {k: got[1][k] for k in killed.params} == {k: str(v) for k, v in killed.params.items()}


def test_the_pruner_spares_a_trial_that_still_improves():
    import optuna
    from optuna.distributions import FloatDistribution
    from optuna.trial import create_trial

    from hetrec.tune.study import PRUNE_PATIENCE, _pruner

    study = optuna.create_study(direction="maximize", pruner=_pruner(optuna))
    for _ in range(5):  # five complete trials at 0.5 from the first epoch on
        study.add_trial(create_trial(value=0.5, params={"x": 0.5}, distributions={"x": FloatDistribution(0, 1)},
                                     intermediate_values={e: 0.5 for e in range(1, 31)}))

    def run(curve):
        trial = study.ask()
        for epoch, v in enumerate(curve, start=1):
            trial.report(v, epoch)
            if trial.should_prune():
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                return epoch
        study.tell(trial, curve[-1])
        return None

    # a slow starter, far below the median but better every epoch: never stopped
    assert run([0.01 * e for e in range(1, 31)]) is None
    # the same below-median trial once it stops improving: stopped PRUNE_PATIENCE epochs after its best
    assert run([0.01 * min(e, 10) for e in range(1, 31)]) == 10 + PRUNE_PATIENCE
    # and one whose values fall after its best, likewise
    assert run([0.01 * e if e <= 8 else 0.05 for e in range(1, 31)]) == 8 + PRUNE_PATIENCE
    # a plateau above the median is never stopped
    assert run([0.6] * 30) is None


def test_a_protocol_1_study_is_reported_but_not_extended(data, tmp_path):
    import optuna

    from hetrec.tune import TuneError

    tune("itemknn", 2, tmp_path, dataset="syn", data=data, log=quiet)
    study = optuna.load_study(study_name="hetrec", storage=f"sqlite:///{tmp_path / 'study.db'}")
    saved = dict(study.user_attrs["hetrec"])
    del saved["protocol"]  # what a study of an earlier hetrec recorded
    study.set_user_attr("hetrec", saved)
    lines = []
    best = tune("itemknn", 2, tmp_path, dataset="syn", data=lambda: pytest.fail("data read"), log=lines.append)
    assert "nothing to run" in lines[0] and best["protocol"] == 1
    with pytest.raises(TuneError, match="study of tuning protocol 1 with 2 of 3 trials"):
        tune("itemknn", 3, tmp_path, dataset="syn", data=data, log=quiet)
    assert len(rows(tmp_path)) == 2


def test_accuracy_takes_the_best_study_among_several_folders(accuracy, tmp_path):
    """--tuned A,B: per model the finished study with the best validation value; the tuning cost
    counts the trials of every study of the model."""
    def study(folder, value, size, trials=16, seconds=(10.0, 20.0)):
        d = tmp_path / folder / "lastfm" / "lightgcn"
        d.mkdir(parents=True)
        (d / "best.json").write_text(json.dumps(
            {"dataset": "lastfm", "model": "lightgcn", "trials": trials, "budget": 16, "value": value,
             "model_overrides": {"embedding_size": size}, "train": {"lr": 0.001, "epochs": 300, "patience": 5}}))
        (d / "trials.csv").write_text("number,state,value,seconds\n" + "".join(
            f"{i},COMPLETE,0.1,{s}\n" for i, s in enumerate(seconds)))

    study("p2", 0.15, 64)
    study("p1", 0.16, 128, seconds=(5.0,))
    study("stopped", 0.99, 32, trials=3)  # not finished: never chosen
    args = SimpleNamespace(tuned=f"{tmp_path / 'p2'},{tmp_path / 'p1'},{tmp_path / 'stopped'}", dataset="lastfm",
                           quick=False, epochs=None, patience=None)
    assert accuracy.cell_settings(args, "lightgcn")[1] == {"embedding_size": 128}
    assert accuracy.tuning_seconds(args.tuned, "lastfm", "lightgcn") == (5, 65.0)  # every trial spent, the stopped study's too
    args.tuned = str(tmp_path / "p2")
    assert accuracy.cell_settings(args, "lightgcn")[1] == {"embedding_size": 64}
    assert accuracy.tuning_seconds(args.tuned, "lastfm", "lightgcn") == (2, 30.0)
