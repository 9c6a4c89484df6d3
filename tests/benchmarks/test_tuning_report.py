"""benchmarks/tuning_report.py: the Markdown it prints is the study's trials.csv and best.json, and
a folder that is not a study ends in one line with exit status 1."""
import csv
import json
from types import SimpleNamespace

import pytest

from hetrec.data import synthetic

pytest.importorskip("optuna")

TINY_BPR = {"train.lr": ("log", 1e-3, 1e-1), "train.epochs": ("int", 1, 2), "train.patience": ("choice", [1, 2]),
            "embedding_size": ("choice", [8, 16])}


@pytest.fixture(scope="module")
def report(load_benchmark):
    return load_benchmark("tuning_report", "tuning_report")


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    from hetrec.tune import tune

    out = tmp_path_factory.mktemp("study") / "lastfm" / "bprmf"
    data = SimpleNamespace(graph=synthetic(num_users=60, num_items=80, num_interactions=1500, seed=0))
    tune("bprmf", 4, out, dataset="syn", data=data, space=TINY_BPR, seed=1, log=lambda m: None)
    return out


def test_trial_table_is_the_studys_trials(report, study, capsys):
    assert report.main([str(study)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    with open(study / "trials.csv", newline="") as f:
        trials = list(csv.DictReader(f))
    best = json.loads((study / "best.json").read_text())
    assert lines[0].split(" | ")[2:6] == ["lr", "epochs", "patience", "embedding_size"]
    body = lines[2:]
    assert len(body) == len(trials) == 4
    for line, t in zip(body, trials):
        cells = [c.strip() for c in line.strip("|").split("|")]
        bold = cells[0].startswith("**")
        assert cells[0].strip("*") == t["number"] and cells[1] == t["state"].lower()
        assert float(cells[2]) == pytest.approx(float(t["train.lr"]), rel=0.05)
        assert cells[3] == t["train.epochs"] and cells[5] == t["embedding_size"]
        if t["state"] == "COMPLETE":
            assert float(cells[6].strip("*")) == pytest.approx(float(t["value"]), abs=5e-5)
        # exactly the best.json trial is in bold
        assert bold == (int(t["number"]) == best["best_trial"])


def test_summary_names_budget_best_value_and_cost(report, study, tmp_path, capsys):
    (tmp_path / "not-a-study").mkdir()
    assert report.main(["--summary", str(study), str(tmp_path / "not-a-study")]) == 0
    row = capsys.readouterr().out.strip().splitlines()[2]
    cells = [c.strip() for c in row.strip("|").split("|")]
    best = json.loads((study / "best.json").read_text())
    with open(study / "trials.csv", newline="") as f:
        seconds = sum(float(t["seconds"]) for t in csv.DictReader(f))
    assert cells[:3] == ["syn", "bprmf", "4/4"]  # best.json names the dataset, not the folder
    assert float(cells[3]) == pytest.approx(best["value"], abs=5e-5) and cells[4] == str(best["best_trial"])
    assert f"embedding_size {best['model_overrides']['embedding_size']}" in cells[5]
    assert abs(float(cells[6]) - seconds) <= 0.5


def test_a_folder_that_is_not_a_study_is_one_line(report, tmp_path, capsys):
    assert report.main([str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no trials.csv" in err and str(tmp_path) in err
    (tmp_path / "trials.csv").write_text("number,state\n0,COMPLETE\n")
    assert report.main([str(tmp_path)]) == 1
    assert "missing column(s) value" in capsys.readouterr().err
