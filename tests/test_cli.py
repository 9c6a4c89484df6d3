"""The ``hetrec`` command: data info, versions, errors with non-zero exits."""
import json

import pandas as pd
import pytest
from click.testing import CliRunner

from hetrec import __version__
from hetrec.cli import main


def run(*args):
    return CliRunner().invoke(main, list(args))


def test_version_and_help():
    r = run("--version")
    assert r.exit_code == 0 and __version__ in r.output
    r = run("--help")
    assert r.exit_code == 0 and "data" in r.output


@pytest.mark.realdata
def test_data_info_lastfm(lastfm_dir):
    r = run("data", "info", "lastfm", "--data-dir", str(lastfm_dir.parent))
    assert r.exit_code == 0, r.output
    for expected in ("user", "1,892", "17,632", "11,946", "92,834", "25,434", "(user, friend, user)",
                     "interaction density: 92,834 / (1,892 x 17,632) = 0.002783",
                     "tag assignments with unknown artist"):
        assert expected in r.output


@pytest.mark.realdata
def test_run_records_data_dir_from_env(lastfm_dir, tmp_path, monkeypatch):
    """A run trained with HETREC_DATA can be evaluated after the variable is gone."""
    import json

    monkeypatch.setenv("HETREC_DATA", str(lastfm_dir.parent))
    out = tmp_path / "run"
    r = run("train", "--dataset", "lastfm", "--model", "mostpop", "--out", str(out))
    assert r.exit_code == 0, r.output
    assert json.loads((out / "config.json").read_text())["data_dir"] == str(lastfm_dir.parent.resolve())
    monkeypatch.delenv("HETREC_DATA")
    r = run("recommend", "--run", str(out), "--user", "2", "-k", "3")
    assert r.exit_code == 0, r.output
    assert "top 3 items for user 2" in r.output


@pytest.mark.realdata
def test_data_info_ml_partial_needs_no_verify(ml_partial_dir):
    r = run("data", "info", "ml-1m", "--data-dir", str(ml_partial_dir))
    assert r.exit_code != 0
    assert "ratings.dat" in r.output and "a89aa3591bc97d6d4e0c89459ff39362" in r.output
    assert "Traceback" not in r.output
    r = run("data", "info", "ml-1m", "--data-dir", str(ml_partial_dir), "--no-verify")
    assert r.exit_code == 0, r.output
    assert "UNVERIFIED" in r.output and "562,245" in r.output and "6,040" in r.output


def test_unknown_dataset_lists_choices():
    r = run("data", "info", "movielens")
    assert r.exit_code == 2 and "'lastfm'" in r.output and "'ml-1m'" in r.output


def test_missing_files_is_a_clean_error(tmp_path):
    (tmp_path / "ml-1m").mkdir()
    r = run("data", "info", "ml-1m", "--data-dir", str(tmp_path))
    assert r.exit_code == 1 and "missing ratings.dat" in r.output and "Traceback" not in r.output


def test_data_info_tables(tmp_path):
    pd.DataFrame({"user": [1, 2], "item": [5, 6]}).to_csv(tmp_path / "interactions.csv", index=False)
    pd.DataFrame({"item": [5, 6], "genre": ["x", "y"]}).to_csv(tmp_path / "item_genre.csv", index=False)
    r = run("data", "info", "--tables", str(tmp_path))
    assert r.exit_code == 0, r.output
    assert "(item, has_genre, genre)" in r.output and "= 0.500000" in r.output


# -- train / evaluate / recommend on a tiny tables dataset ---------------------------------------

@pytest.fixture(scope="module")
def tables_dir(tmp_path_factory):
    from hetrec.data import synthetic

    d = tmp_path_factory.mktemp("tables")
    g = synthetic(num_users=50, num_items=70, num_interactions=800, seed=0)
    u, i = g.edges(etype="interacts")
    pd.DataFrame({"user": u.numpy() + 100, "item": i.numpy() + 1000}).to_csv(d / "interactions.csv", index=False)
    pd.DataFrame({"item": range(1000, 1070), "genre": g.nodes["item"].data["category"].numpy()}).to_csv(
        d / "item_genre.csv", index=False)
    pd.DataFrame({"item": range(1000, 1070), "name": [f"song {j}" for j in range(70)]}).to_csv(
        d / "items.csv", index=False)
    return d


TINY = ["--set", "batch_size=128", "--set", "hidden_size=16", "--set", "width=16", "--set", "num_heads=2"]


def test_train_evaluate_recommend_end_to_end(tables_dir, tmp_path):
    import json

    out = tmp_path / "run"
    r = run("train", "--tables", str(tables_dir), "--model", "hgt-d", "--folds", "2", "--epochs", "2",
            "--out", str(out), *TINY)
    assert r.exit_code == 0, r.output
    assert "mean" not in r.output or "±" in r.output
    summary = json.loads((out / "metrics.json").read_text())
    assert set(summary["folds"]) == {"0", "1"}
    assert (out / "fold-1" / "model.pt").is_file() and (out / "config.json").is_file()
    # evaluate reloads the checkpoints and reproduces the stored test metrics
    r = run("evaluate", "--run", str(out))
    assert r.exit_code == 0, r.output
    ndcg = summary["folds"]["0"]["test"]["NDCG@10"]
    row = next(line for line in r.output.splitlines() if line.startswith("| fold 0"))
    assert f"{ndcg:.4f}" in row
    r = run("recommend", "--run", str(out), "--user", "105", "-k", "4")
    assert r.exit_code == 0, r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()[:2].rstrip(".").isdigit()]
    assert len(lines) == 4 and all("song" in ln for ln in lines)
    # the user's known items are never recommended
    known = set(pd.read_csv(tables_dir / "interactions.csv").query("user == 105")["item"])
    assert not any(int(ln.split()[1]) in known for ln in lines)


def test_resume_skips_finished_folds(tables_dir, tmp_path):
    out = tmp_path / "run"
    args = ["train", "--tables", str(tables_dir), "--model", "bprmf", "--fold", "1", "--epochs", "2", "--out", str(out)]
    assert run(*args).exit_code == 0
    r = run(*args, "--resume")
    assert r.exit_code == 0 and "finished earlier" in r.output


def test_resumed_runs_over_other_folds_add_up(tables_dir, tmp_path):
    import json

    out = tmp_path / "run"
    base = ["train", "--tables", str(tables_dir), "--model", "mostpop", "--out", str(out)]
    assert run(*base, "--fold", "2").exit_code == 0
    first = json.loads((out / "fold-2" / "metrics.json").read_text())["test"]
    r = run(*base, "--fold", "0", "--resume")
    assert r.exit_code == 0, r.output
    summary = json.loads((out / "metrics.json").read_text())
    assert set(summary["folds"]) == {"0", "2"}  # fold 2 is not dropped from the summary
    assert summary["folds"]["2"]["test"] == first
    assert json.loads((out / "config.json").read_text())["folds"] == [0, 2]
    r = run("evaluate", "--run", str(out))
    assert r.exit_code == 0 and "| fold 0" in r.output and "| fold 2" in r.output
    # a fold finished meanwhile by a parallel run (after this one read config.json) is kept too
    import dataclasses

    from hetrec.train.experiment import ExperimentConfig

    assert run(*base, "--fold", "4", "--resume").exit_code == 0
    cfg = ExperimentConfig.from_json((out / "config.json").read_text())
    dataclasses.replace(cfg, folds=[0, 2]).write(out / "config.json")  # as read before fold 4 was added
    assert run(*base, "--fold", "3", "--resume").exit_code == 0
    assert set(json.loads((out / "metrics.json").read_text())["folds"]) == {"0", "2", "3", "4"}
    assert json.loads((out / "config.json").read_text())["folds"] == [0, 2, 3, 4]
    # without --resume a used folder is refused, and nothing in it changes
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    r = run(*base, "--fold", "1")
    assert r.exit_code == 1 and "already holds a run" in r.output and "--resume" in r.output
    assert "Traceback" not in r.output and not (out / "fold-1").exists()
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_resume_refuses_other_settings(tables_dir, tmp_path):
    out = tmp_path / "run"
    base = ["train", "--tables", str(tables_dir), "--model", "bprmf", "--epochs", "2", "--out", str(out)]
    assert run(*base, "--fold", "0").exit_code == 0
    # folds trained under different settings must not be averaged into one summary
    r = run(*base, "--fold", "1", "--resume", "--lr", "0.05")
    assert r.exit_code != 0 and "other settings" in r.output and "train.lr: 0.001 -> 0.05" in r.output
    assert "Traceback" not in r.output and not (out / "fold-1").exists()
    r = run(*base, "--fold", "1", "--resume", "--set", "embedding_size=8")
    assert r.exit_code != 0 and "model_overrides" in r.output
    # the thread count does not change the protocol: allowed
    assert run(*base, "--fold", "1", "--resume", "--threads", "1").exit_code == 0


def test_resume_refuses_a_changed_default(tables_dir, tmp_path, monkeypatch):
    """A default or preset that changed between two parts of a run (a new hetrec, an edited
    registry) is a change of settings too: config.json records every resolved model setting."""
    import dataclasses

    from hetrec import models

    out = tmp_path / "run"
    base = ["train", "--tables", str(tables_dir), "--model", "bprmf", "--epochs", "2", "--out", str(out)]
    assert run(*base, "--fold", "0").exit_code == 0
    recorded = json.loads((out / "config.json").read_text())["model_config"]
    assert recorded == json.loads(json.dumps(dataclasses.asdict(models.model_config("bprmf"))))  # every setting
    module, cls, preset = models.MODELS["bprmf"]
    changed = recorded["embedding_size"] * 2
    monkeypatch.setitem(models.MODELS, "bprmf", (module, cls, {**preset, "embedding_size": changed}))
    r = run(*base, "--fold", "1", "--resume")
    assert r.exit_code != 0 and f"model.embedding_size: {recorded['embedding_size']} -> {changed}" in r.output
    assert "Traceback" not in r.output and not (out / "fold-1").exists()
    monkeypatch.setitem(models.MODELS, "bprmf", (module, cls, preset))
    assert run(*base, "--fold", "1", "--resume").exit_code == 0  # the same defaults: continues


def test_resume_of_a_run_without_recorded_model_settings(tables_dir, tmp_path):
    """A run folder written before config.json recorded the resolved settings still resumes, and
    keeps recording none (they are unknown for its earlier folds)."""
    import dataclasses

    from hetrec.train.experiment import ExperimentConfig

    out = tmp_path / "run"
    base = ["train", "--tables", str(tables_dir), "--model", "bprmf", "--epochs", "2", "--out", str(out)]
    assert run(*base, "--fold", "0").exit_code == 0
    cfg = ExperimentConfig.from_json((out / "config.json").read_text())
    dataclasses.replace(cfg, model_config=None).write(out / "config.json")
    assert run(*base, "--fold", "1", "--resume").exit_code == 0
    assert json.loads((out / "config.json").read_text())["model_config"] is None

@pytest.mark.parametrize("args, message", [
    (["--fold", "0", "--folds", "3"], "either --fold F or --folds K"),
    (["--set", "hiden_size=3"], "has no setting hiden_size"),
    (["--set", "oops"], "expected KEY=VALUE"),
    (["--model", "gcn"], "'gcn' is not one of"),
    (["--fold", "7"], "fold 7 does not exist in a 5-fold split"),
    (["--fold", "-1"], "-1 is not in the range x>=0"),
    (["--folds", "1"], "1 is not in the range x>=2"),
    (["--folds", "3", "--fold", "2"], "either --fold F or --folds K"),
    (["--epochs", "0"], "0 is not in the range x>=1"),
    (["--epochs", "-5"], "-5 is not in the range x>=1"),
    (["--epochs", "2.5"], "'2.5' is not a valid integer"),
    (["--patience", "0"], "0 is not in the range x>=1"),
    (["--lr", "0"], "not in the range 0<x<=10"),
    (["--lr", "-1e-3"], "not in the range 0<x<=10"),
    (["--lr", "nan"], "lr must be a finite number above 0, got nan"),
    (["--val-ratio", "0"], "not in the range 0<x<1"),
    (["--val-ratio", "1"], "not in the range 0<x<1"),
    (["--max-batches", "0"], "0 is not in the range x>=1"),
    (["--threads", "-2"], "-2 is not in the range x>=1"),
    (["--threads", "0"], "0 is not in the range x>=1"),
    (["--seed", "-1"], "-1 is not in the range"),
    (["--seed", "99999999999999999999"], "is not in the range"),
    (["--set", "num_layers=0"], "setting num_layers must be at least 1, got 0"),
    (["--set", "hidden_size=abc"], "setting hidden_size expects an integer, got 'abc'"),
    (["--set", "hidden_size=-4"], "setting hidden_size must be at least 1, got -4"),
    (["--set", "hidden_size=16.5"], "setting hidden_size expects an integer, got 16.5"),
    (["--set", "hidden_size=30"], "hidden_size (30) must be a multiple of num_heads (4)"),
    (["--set", "dropout=1.5"], "setting dropout must lie in [0, 1), got 1.5"),
    (["--set", "temperature=0"], "setting temperature must lie in (0, ∞), got 0"),
    (["--set", "loss=hinge"], "setting loss must be one of 'bpr', 'softmax', 'full-softmax', 'ials', got 'hinge'"),
    (["--set", "multitask=yes"], "setting multitask expects true or false, got 'yes'"),
    (["--set", "max_in_edges=null"], None),  # an optional setting may be null: accepted
    (["--model", "bprmf", "--set", "num_negatives=0"], "setting num_negatives must be at least 1, got 0"),
    (["--model", "ngcf", "--set", "node_dropout=-0.1"], "setting node_dropout must lie in [0, 1)"),
])
def test_train_bad_arguments(tables_dir, tmp_path, args, message):
    """Every option's bad values: a one-line error naming it, exit code 2 (usage), and nothing
    written: not even the run folder."""
    out = tmp_path / "x"
    extra = ["--epochs", "1", "--max-batches", "1"] if message is None else []
    r = run("train", "--tables", str(tables_dir), "--out", str(out), *args, *extra)
    if message is None:
        assert r.exit_code == 0, r.output
        return
    assert r.exit_code == 2, r.output
    assert message in r.output and "Traceback" not in r.output
    assert not out.exists()


def test_recommend_unknown_user_and_bad_run(tables_dir, tmp_path):
    out = tmp_path / "run"
    assert run("train", "--tables", str(tables_dir), "--model", "mostpop", "--out", str(out)).exit_code == 0
    r = run("recommend", "--run", str(out), "--user", "5")
    assert r.exit_code == 1 and "unknown user 5" in r.output
    r = run("evaluate", "--run", str(tmp_path))
    assert r.exit_code == 1 and "not a hetrec run folder" in r.output


def test_train_uses_the_models_recommended_settings_unless_given(tables_dir, tmp_path):
    import json

    from hetrec.models import TRAINING

    out = tmp_path / "run"
    r = run("train", "--tables", str(tables_dir), "--model", "bprmf", "--epochs", "1", "--out", str(out))
    assert r.exit_code == 0, r.output
    saved = json.loads((out / "config.json").read_text())["train"]
    assert saved["lr"] == TRAINING["bprmf"]["lr"] and saved["patience"] == TRAINING["bprmf"]["patience"]
    assert saved["epochs"] == 1  # a flag wins over the recommendation
    out2 = tmp_path / "run2"
    r = run("train", "--tables", str(tables_dir), "--model", "bprmf", "--epochs", "1", "--lr", "0.02",
            "--out", str(out2))
    assert r.exit_code == 0 and json.loads((out2 / "config.json").read_text())["train"]["lr"] == 0.02
