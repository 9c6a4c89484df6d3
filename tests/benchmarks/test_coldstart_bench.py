"""benchmarks/coldstart.py: bad arguments end in one line; a cell's rows on a tiny graph."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "coldstart.py"


@pytest.mark.parametrize("args, message", [
    (["--models", "nosuch"], "unknown model(s) nosuch"),
    (["--settings", "cold-tags"], "unknown setting(s) cold-tags"),
    (["--folds", "7"], "every fold in 0..k-1"),
])
def test_bad_arguments_are_one_line(args, message, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path), *args], capture_output=True,
                       text=True, env=env, timeout=300)
    assert r.returncode == 2
    last = r.stderr.strip().splitlines()[-1]
    assert message in last and "Traceback" not in r.stderr


@pytest.fixture(scope="module")
def bench(load_benchmark):
    return load_benchmark("coldstart", "bench_coldstart")


def test_a_cold_user_cell_reports_every_reveal_and_contrast_models_are_marked(bench):
    from hetrec.data import cold_start_split, synthetic
    from hetrec.models import create_model

    g = synthetic(num_users=50, num_items=60, num_interactions=1200, seed=3)
    split = cold_start_split(g, "cold-users", k=5, seed=0)[0]
    for name, inductive in (("attr-mostpop", True), ("mostpop", False)):
        model = create_model(name)
        model.setup(split)
        out = bench.evaluate_cell(model, split)
        assert set(out) == {"cold-users", "cold-users-n0", "cold-users-n1", "cold-users-n3", "cold-users-n5"}
        assert all(m["inductive"] is inductive for m in out.values())
        # the reveal variants share their targets
        assert len({m["num_users"] for k, m in out.items() if k != "cold-users"}) == 1


def test_inference_only_variant_reuses_the_donor_weights(bench, tmp_path):
    """mthgt-coldmean's cell loads mthgt's weights of the same cell (no second training) and is
    evaluated with its own inference rule; a donor with other training settings is refused."""
    import argparse
    import json

    import torch

    from hetrec.data import cold_start_split, synthetic
    from hetrec.models import create_model

    g = synthetic(num_users=50, num_items=60, num_interactions=1200, seed=3)
    folds = cold_start_split(g, "cold-items", k=5, seed=0)
    args = argparse.Namespace(dataset="synthetic", epochs=2, patience=None, seed=0, threads=1, k=5, validation=False)
    cell = lambda m: tmp_path / m / "cold-items" / "fold-0"  # noqa: E731
    bench.run_cell(args, "mthgt", "cold-items", 0, folds, cell("mthgt"))
    bench.run_cell(args, "mthgt-coldmean", "cold-items", 0, folds, cell("mthgt-coldmean"))
    donor = json.loads((cell("mthgt") / "result.json").read_text())
    mine = json.loads((cell("mthgt-coldmean") / "result.json").read_text())
    assert mine["weights_of"] == "mthgt" and not (cell("mthgt-coldmean") / "model.pt").exists()
    assert mine["best_epoch"] == donor["best_epoch"] and mine["warm_val"] == donor["warm_val"]
    # the same weights evaluated by hand with the imputing rule
    from hetrec._integrity import load_pt
    from hetrec._schemas import MODEL_FILE

    model = create_model("mthgt-coldmean")
    model.setup(folds[0])
    model.load_state_dict(load_pt(cell("mthgt") / "model.pt", MODEL_FILE)[0]["model"])
    want = bench.evaluate_cell(model, folds[0])["cold-items"]
    assert mine["results"]["cold-items"]["NDCG@10"] == pytest.approx(want["NDCG@10"])
    assert mine["results"]["cold-items"]["NDCG@10"] != donor["results"]["cold-items"]["NDCG@10"]
    # a donor trained with other settings is refused by name
    other = tmp_path / "other"
    saved = torch.load(cell("mthgt") / "model.pt", weights_only=True)
    assert saved["model_config"]["hidden_size"] == create_model("mthgt").config.hidden_size != 32
    (other / "mthgt" / "cold-items" / "fold-0").mkdir(parents=True)
    for f in ("result.json", "model.pt"):
        (other / "mthgt" / "cold-items" / "fold-0" / f).write_bytes((cell("mthgt") / f).read_bytes())
    model = create_model("mthgt-coldmean", hidden_size=32)
    with pytest.raises(SystemExit, match="not a 'mthgt' model trained with"):
        bench._reuse_weights(args, model, "mthgt-coldmean", folds[0], other / "mthgt-coldmean" / "cold-items" / "fold-0",
                             folds, other / "x.json", bench.REUSE["mthgt-coldmean"], None)


def test_a_map_variant_scores_an_interaction_only_model_through_the_attribute_map(bench, tmp_path):
    """"bprmf+map" reuses bprmf's weights of the same cell and scores the cold items through the
    attribute map: its cold-item embeddings are the numpy ridge fit of the warm ones (the plain
    model ranks them by untrained vectors), and the row says it is inductive."""
    import argparse
    import json

    import numpy as np

    from hetrec._integrity import load_pt
    from hetrec._schemas import MODEL_FILE
    from hetrec.data import INTERACTS, ITEM, cold_start_split, synthetic
    from hetrec.models import create_model
    from hetrec.models.attrmap import attribute_features, embedding_cold_start_scorer

    g = synthetic(num_users=50, num_items=60, num_interactions=1200, seed=3)
    folds = cold_start_split(g, "cold-items", k=5, seed=0)
    args = argparse.Namespace(dataset="synthetic", epochs=2, patience=None, seed=0, threads=1, k=5, validation=False)
    cell = lambda m: tmp_path / m / "cold-items" / "fold-0"  # noqa: E731
    bench.run_cell(args, "bprmf", "cold-items", 0, folds, cell("bprmf"))
    bench.run_cell(args, "bprmf+map", "cold-items", 0, folds, cell("bprmf+map"))
    plain = json.loads((cell("bprmf") / "result.json").read_text())["results"]["cold-items"]
    mine = json.loads((cell("bprmf+map") / "result.json").read_text())
    assert mine["weights_of"] == "bprmf" and mine["model"] == "bprmf+map"
    assert mine["results"]["cold-items"]["inductive"] is True and plain["inductive"] is False
    model = create_model("bprmf")
    split = folds[0]
    model.setup(split)
    model.load_state_dict(load_pt(cell("bprmf") / "model.pt", MODEL_FILE)[0]["model"])
    model.eval()
    user, item = (e.detach().double().numpy() for e in model.embeddings())
    graph = split.train_graph
    has = np.bincount(graph.edges(etype=INTERACTS)[1].numpy(), minlength=graph.num_nodes(ITEM)) > 0
    fit = np.flatnonzero(has & ~np.isin(np.arange(len(item)), split.cold))
    x = attribute_features(graph, ITEM, 1)[0].toarray()
    w = np.linalg.solve(x[fit].T @ x[fit] + 10.0 * np.eye(x.shape[1]), x[fit].T @ item[fit])
    item[split.cold] = x[split.cold] @ w
    import torch
    users = torch.arange(graph.num_nodes("user"))
    got = embedding_cold_start_scorer(model, graph, split.cold_nodes)(users).numpy()
    np.testing.assert_allclose(got, user @ item.T, rtol=1e-4, atol=1e-6)


def test_a_map_variant_trains_with_its_base_models_settings(bench, tmp_path, monkeypatch):
    """Without a donor cell, "bprmf+map" trains bprmf with bprmf's recommended settings."""
    import argparse
    import json

    from hetrec.data import cold_start_split, synthetic

    monkeypatch.setitem(bench.TRAINING, "bprmf", dict(lr=1e-3, epochs=3, patience=100))
    g = synthetic(num_users=50, num_items=60, num_interactions=1200, seed=3)
    folds = cold_start_split(g, "cold-items", k=5, seed=0)
    args = argparse.Namespace(dataset="synthetic", epochs=None, patience=None, seed=0, threads=1, k=5, validation=False)
    out = tmp_path / "bprmf+map" / "cold-items" / "fold-0"
    bench.run_cell(args, "bprmf+map", "cold-items", 0, folds, out)
    assert len((out / "log.jsonl").read_text().splitlines()) == 3  # not TrainConfig's default 30 epochs
    assert json.loads((out / "result.json").read_text())["model"] == "bprmf+map"


def test_nested_validation_split_holds_no_outer_test_interaction():
    """--validation deals outer fold 0's training graph again: every interaction of the nested
    split (train, validation, test) is an outer training interaction, no outer test node is dealt."""
    import numpy as np

    from hetrec.data import INTERACTS, cold_start_split, synthetic

    g = synthetic(num_users=50, num_items=60, num_interactions=1200, seed=3)
    for setting in ("cold-items", "cold-users"):
        outer = cold_start_split(g, setting, k=5, seed=0)[0]
        inner = cold_start_split(outer.train_graph, setting, k=5, seed=0)
        outer_train = set(zip(*outer.train.nonzero()))
        for f in range(5):
            s = inner[f]
            for m in (s.train, s.val, s.test):
                assert set(zip(*m.nonzero())) <= outer_train
            assert not set(s.cold.tolist()) & set(outer.cold.tolist())
        assert outer.train_graph.num_edges(INTERACTS) == len(outer_train) and np.all(outer.test.sum() > 0)


def test_a_variant_name_carries_its_settings_and_gets_a_cell_of_its_own(bench, tmp_path):
    """"bprmf+map~cold_map_l2=1000" is bprmf+map with the map's λ = 1000: it reuses bprmf's weights,
    scores as the map fitted with that λ (checked against the scorer called directly), and differs
    from λ = 10; "mthgt~hidden_size=16" trains a model of that width."""
    import argparse
    import json

    import torch

    from hetrec._integrity import load_pt
    from hetrec._schemas import MODEL_FILE
    from hetrec.data import cold_start_split, synthetic
    from hetrec.models import create_model
    from hetrec.models.attrmap import embedding_cold_start_scorer

    assert bench.name_settings("mthgt-coldmap~cold_map_l2=100~cold_map_degree=2") == {
        "cold_map_l2": 100, "cold_map_degree": 2}
    assert bench.name_settings("lightfm~loss=bpr") == {"loss": "bpr"}
    assert bench.split_name("bprmf+map2~cold_map_l2=3") == ("bprmf", 2)
    with pytest.raises(ValueError, match="expected MODEL~KEY=VALUE"):
        bench.name_settings("bprmf~epochs")

    g = synthetic(num_users=50, num_items=60, num_interactions=1200, seed=3)
    folds = cold_start_split(g, "cold-items", k=5, seed=0)
    split = folds[0]
    args = argparse.Namespace(dataset="synthetic", epochs=2, patience=None, seed=0, threads=1, k=5, validation=False)
    cell = lambda m: tmp_path / m / "cold-items" / "fold-0"  # noqa: E731
    bench.run_cell(args, "bprmf", "cold-items", 0, folds, cell("bprmf"))
    for name in ("bprmf+map", "bprmf+map~cold_map_l2=1000"):
        bench.run_cell(args, name, "cold-items", 0, folds, cell(name))
    rec = {n: json.loads((cell(n) / "result.json").read_text()) for n in ("bprmf+map", "bprmf+map~cold_map_l2=1000")}
    assert rec["bprmf+map~cold_map_l2=1000"]["weights_of"] == "bprmf"
    model = create_model("bprmf")
    model.setup(split)
    model.load_state_dict(load_pt(cell("bprmf") / "model.pt", MODEL_FILE)[0]["model"])
    model.eval()
    from hetrec.eval import topn_metrics
    users = torch.arange(split.train_graph.num_nodes("user"))
    for l2, name in ((10.0, "bprmf+map"), (1000.0, "bprmf+map~cold_map_l2=1000")):
        fn = embedding_cold_start_scorer(model, split.train_graph, split.cold_nodes, l2=l2)
        want = topn_metrics(score_fn=fn, test=split.test, candidates=split.candidates, ns=bench.NS)
        assert rec[name]["results"]["cold-items"]["NDCG@10"] == pytest.approx(want["NDCG@10"])
        scores = fn(users)
    assert not torch.allclose(scores, embedding_cold_start_scorer(model, split.train_graph, split.cold_nodes)(users))
    bench.run_cell(args, "mthgt~hidden_size=16", "cold-items", 0, folds, cell("mthgt~hidden_size=16"))
    saved = torch.load(cell("mthgt~hidden_size=16") / "model.pt", weights_only=True)
    assert saved["model_config"]["hidden_size"] == 16
    # a variant reads the weights of a cell trained with the same settings (the plain model's or a
    # sibling variant's that differs only in inference settings); one trained otherwise (hidden_size)
    # is never a donor
    names = ("mthgt-coldmap~cold_map_l2=30~hidden_size=16", "mthgt-coldmap~cold_map_l2=100",
             "mthgt-coldmap~cold_map_l2=300")
    for name in names:
        bench.run_cell(args, name, "cold-items", 0, folds, cell(name))
    got = {n: json.loads((cell(n) / "result.json").read_text()).get("weights_of") for n in names}
    assert got == {"mthgt-coldmap~cold_map_l2=30~hidden_size=16": "mthgt~hidden_size=16",
                   "mthgt-coldmap~cold_map_l2=100": None,
                   "mthgt-coldmap~cold_map_l2=300": "mthgt-coldmap~cold_map_l2=100"}


def test_a_bad_variant_is_one_line(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    for bad, message in (("mthgt~hidden_size", "expected MODEL~KEY=VALUE"), ("mthgt~nosuch=1", "nosuch"),
                         ("bprmf+map~cold_map_l2=abc", "cold_map_l2 must be a number >= 0"),
                         ("mthgt~hidden_size=abc", "hidden_size expects an integer"),
                         ("mthgt-coldmap~tuned", "needs --tuned DIR")):
        r = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path), "--models", bad], capture_output=True,
                           text=True, env=env, timeout=300)
        assert r.returncode == 2 and "Traceback" not in r.stderr
        assert message in r.stderr.strip().splitlines()[-1]


def test_paired_lines_match_numpy_over_the_common_folds(bench):
    import numpy as np

    rows = []
    a = {0: 0.30, 1: 0.35, 2: 0.32, 4: 0.40}
    b = {0: 0.28, 1: 0.36, 2: 0.30, 3: 0.50}
    for model, vals in (("A", a), ("B", b)):
        for fold, v in vals.items():
            rows.append({"model": model, "setting": "cold-items", "fold": fold, "NDCG@10": v, "R@10": v / 2})
    rows.append({"model": "A", "setting": "cold-users", "fold": 3, "NDCG@10": 9.0, "R@10": 9.0})
    line = bench.paired_lines(rows, [("cold-items", "A", "B")], metrics=("NDCG@10",))
    d = np.array([0.02, -0.01, 0.02])  # folds 0, 1, 2 only
    x, y = np.mean([0.30, 0.35, 0.32]), np.mean([0.28, 0.36, 0.30])
    assert line == [f"* cold-items NDCG@10: A {x:.4f} vs B {y:.4f}: {100 * (x / y - 1):+.1f} %, paired "
                    f"{d.mean():+.4f} ± {d.std(ddof=1) / np.sqrt(3):.4f} (s.e.), ahead in 2/3 folds"]
    assert bench.paired_lines(rows, [("cold-users", "A", "B")]) == ["* cold-users: A vs B: no fold finished for both"]


def test_a_bad_comparison_is_one_line(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    for bad, message in (("cold-items:mthgt", "expected SETTING:MODEL_A:MODEL_B"), ("cold-tags:a:b", "unknown setting")):
        r = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path), "--collect", "--compare", bad],
                           capture_output=True, text=True, env=env, timeout=300)
        assert r.returncode == 2 and "Traceback" not in r.stderr
        assert message in r.stderr.strip().splitlines()[-1]


def test_a_foreign_or_broken_result_file_is_one_line(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cell = tmp_path / "lastfm" / "mostpop" / "cold-items" / "fold-0"
    cell.mkdir(parents=True)
    for text, message in (('{"dataset": "lastfm"', "not a readable cell result"),
                          ('{"dataset": "lastfm", "model": "mostpop"}', "missing or malformed: protocol")):
        (cell / "result.json").write_text(text)
        r = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path), "--collect"], capture_output=True,
                           text=True, env=env, timeout=300)
        assert r.returncode == 1 and "Traceback" not in r.stderr
        last = r.stderr.strip().splitlines()[-1]
        assert message in last and str(cell / "result.json") in last


def test_a_tuned_name_trains_with_its_study_and_never_reads_untuned_weights(bench, tmp_path):
    """"mthgt-coldmap~tuned" trains with mthgt's finished study (its model settings and learning
    rate, the study recorded in the cell); a sibling that differs in the map's λ reads those
    weights, and the plain mthgt cell trained otherwise beside it is never its donor."""
    import argparse
    import json

    import torch

    from hetrec.data import cold_start_split, synthetic

    tuned = tmp_path / "tuning"
    best = {"dataset": "synthetic", "model": "mthgt", "trials": 4, "budget": 4, "best_trial": 2, "value": 0.5,
            "model_overrides": {"hidden_size": 16, "num_layers": 1}, "train": {"lr": 0.003, "epochs": 2, "patience": 1}}
    (tuned / "synthetic" / "mthgt").mkdir(parents=True)
    (tuned / "synthetic" / "mthgt" / "best.json").write_text(json.dumps(best))
    args = argparse.Namespace(dataset="synthetic", epochs=None, patience=None, seed=0, threads=1, k=5,
                              validation=False, tuned=str(tuned))
    overrides, settings, study = bench.cell_config(args, "mthgt-coldmap~cold_map_l2=30~tuned")
    assert overrides == {"hidden_size": 16, "num_layers": 1, "cold_map_l2": 30} and study["value"] == 0.5
    assert settings["lr"] == 0.003 and settings["epochs"] == 2
    assert bench.cell_config(args, "mthgt~tuned~hidden_size=8")[0]["hidden_size"] == 8  # the name wins
    with pytest.raises(ValueError, match="no finished hetrec tune study of bprmf"):
        bench.cell_config(args, "bprmf+map~tuned")
    with pytest.raises(ValueError, match="needs --tuned DIR"):
        bench.cell_config(argparse.Namespace(**{**vars(args), "tuned": None}), "mthgt~tuned")

    g = synthetic(num_users=50, num_items=60, num_interactions=1200, seed=3)
    folds = cold_start_split(g, "cold-items", k=5, seed=0)
    cell = lambda m: tmp_path / "cells" / m / "cold-items" / "fold-0"  # noqa: E731
    plain = argparse.Namespace(**{**vars(args), "epochs": 1})
    bench.run_cell(plain, "mthgt", "cold-items", 0, folds, cell("mthgt"))  # 64 wide: not a donor for ~tuned
    for name in ("mthgt-coldmap~tuned", "mthgt-coldmap~cold_map_l2=30~tuned"):
        bench.run_cell(args, name, "cold-items", 0, folds, cell(name))
    rec = {n: json.loads((cell(n) / "result.json").read_text())
           for n in ("mthgt-coldmap~tuned", "mthgt-coldmap~cold_map_l2=30~tuned")}
    assert rec["mthgt-coldmap~tuned"].get("weights_of") is None
    assert rec["mthgt-coldmap~tuned"]["tuned"]["model_overrides"] == best["model_overrides"]
    assert rec["mthgt-coldmap~cold_map_l2=30~tuned"]["weights_of"] == "mthgt-coldmap~tuned"
    assert rec["mthgt-coldmap~cold_map_l2=30~tuned"]["tuned"]["value"] == 0.5
    saved = torch.load(cell("mthgt-coldmap~tuned") / "model.pt", weights_only=True)
    assert saved["model_config"]["hidden_size"] == 16 and saved["model_config"]["num_layers"] == 1
