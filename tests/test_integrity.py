"""What hetrec reads back must be what it wrote (docs/reliability.md, "Integrity").

Every file of a run folder records the run, fold, data and split it belongs to and a digest of
its content (hetrec/_integrity.py); every hetrec JSON file is type-checked when read
(hetrec/_schemas.py). The central test swaps each file between two runs that differ only in
their seed: every command then either refuses in one line naming the file, or prints exactly
the metrics of a model trained on the run's own split."""
import json
import shutil

import pytest
import torch
from click.testing import CliRunner

from hetrec import _integrity, _schemas
from hetrec.cli import main

TRAIN = ["train", "--model", "bprmf", "--epochs", "2", "--fold", "0"]
#: every file of a run folder that hetrec reads back (or rewrites from what it reads)
RUN_FILES = ["config.json", "metrics.json", "fold-0/model.pt", "fold-0/checkpoint.pt", "fold-0/metrics.json"]


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line_error(r, *names):
    """Exit 1, one ``Error:`` line naming each of ``names``, no traceback."""
    lines = [ln for ln in r.output.splitlines() if ln.startswith("Error:")]
    assert r.exit_code == 1 and len(lines) == 1 and "Traceback" not in r.output, r.output
    for name in names:
        assert name in lines[0], r.output
    return lines[0]


@pytest.fixture(scope="module")
def two_runs(tables, tmp_path_factory):
    """Runs A (seed 0) and B (seed 1): same data, model and settings, other seed (so another split)."""
    root = tmp_path_factory.mktemp("runs")
    for name, seed in (("A", 0), ("B", 1)):
        r = run(*TRAIN, "--tables", tables, "--seed", seed, "--out", root / name)
        assert r.exit_code == 0, r.output
    return root / "A", root / "B"


def fold_test_metrics(out):
    return json.loads((out / "fold-0" / "metrics.json").read_text())["test"]


def evaluated_ndcg(output) -> str:
    (row,) = [ln for ln in output.splitlines() if ln.startswith("| fold 0 |")]
    return row


@pytest.mark.parametrize("name", RUN_FILES)
def test_a_file_swapped_between_runs_that_differ_only_in_their_seed(two_runs, tables, tmp_path, name):
    """``evaluate`` and ``train --resume`` on run A holding one file of run B: refused in one
    line naming the file, or the result is run A's own (never B's model scored on A's split)."""
    a, b = two_runs
    truth = fold_test_metrics(a)
    reference = evaluated_ndcg(run("evaluate", "--run", a).output)
    assert fold_test_metrics(b) != truth  # the runs differ, so a mix-up would show

    mixed = tmp_path / "mixed"
    shutil.copytree(a, mixed)
    shutil.copy(b / name, mixed / name)
    r = run("evaluate", "--run", mixed)
    if r.exit_code == 0:  # evaluate does not read this file: A's model on A's split
        assert name not in ("config.json", "fold-0/model.pt") and evaluated_ndcg(r.output) == reference
    else:
        one_line_error(r, name)

    r = run(*TRAIN, "--tables", tables, "--seed", 0, "--out", mixed, "--resume")
    if r.exit_code == 0:  # read back only what belongs to A: the stored result is A's
        assert name in ("fold-0/checkpoint.pt", "metrics.json")
        assert fold_test_metrics(mixed) == truth
        assert json.loads((mixed / "metrics.json").read_text())["folds"]["0"]["test"] == truth
    else:
        one_line_error(r, name)

    # an interrupted fold (no model.pt, no metrics.json) resumes only from its own checkpoint
    interrupted = tmp_path / "interrupted"
    shutil.copytree(a, interrupted)
    for f in ("model.pt", "metrics.json"):
        (interrupted / "fold-0" / f).unlink()
    if name not in ("fold-0/model.pt", "fold-0/metrics.json"):
        shutil.copy(b / name, interrupted / name)
    r = run(*TRAIN, "--tables", tables, "--seed", 0, "--out", interrupted, "--resume")
    if r.exit_code == 0:
        assert name in ("fold-0/model.pt", "fold-0/metrics.json", "metrics.json")
        assert fold_test_metrics(interrupted) == truth  # bit-identical resume from A's checkpoint
    else:
        one_line_error(r, name)


def test_a_file_of_another_fold_or_an_edited_file_is_refused(tables, tmp_path):
    out = tmp_path / "run"
    assert run(*TRAIN[:-2], "--folds", "2", "--tables", tables, "--out", out).exit_code == 0
    shutil.copy(out / "fold-1" / "model.pt", out / "fold-0" / "model.pt")
    one_line_error(run("evaluate", "--run", out), "fold-0/model.pt", "is a file of another fold")
    shutil.copy(out / "fold-1" / "metrics.json", out / "fold-0" / "metrics.json")
    one_line_error(run(*TRAIN[:-2], "--folds", "2", "--tables", tables, "--out", out, "--resume"),
                   "fold-0/metrics.json", "is a file of another fold")

    out2 = tmp_path / "run2"
    assert run(*TRAIN, "--tables", tables, "--out", out2).exit_code == 0
    cfg = json.loads((out2 / "config.json").read_text())
    (out2 / "config.json").write_text(json.dumps({**cfg, "model": "lightgcn"}))  # relabel another model's metrics
    one_line_error(run("evaluate", "--run", out2), "config.json", "changed since hetrec wrote it")
    cfg.pop("integrity")  # the record removed too
    (out2 / "config.json").write_text(json.dumps(cfg))
    one_line_error(run("evaluate", "--run", out2), "config.json", "integrity record was removed")
    cfg.pop("run_id")  # made to look like an old run: the fold files still say which run they belong to
    (out2 / "config.json").write_text(json.dumps(cfg))
    one_line_error(run("evaluate", "--run", out2), "fold-0/model.pt", "records run")

    out3 = tmp_path / "run3"
    assert run(*TRAIN, "--tables", tables, "--out", out3).exit_code == 0
    model = torch.load(out3 / "fold-0" / "model.pt", weights_only=True)
    model["model"]["user_embedding.weight"][0, 0] += 1  # a flipped value
    torch.save(model, out3 / "fold-0" / "model.pt")
    one_line_error(run("evaluate", "--run", out3), "fold-0/model.pt", "changed since hetrec wrote it")


@pytest.mark.parametrize("field, value, says", [
    ("k", "5", "field k: expected an integer, got the text '5'"),
    ("seed", "0", "field seed: expected an integer, got the text '0'"),
    ("folds", 0, "field folds: expected a list"),
    ("train", {"lr": "0.1"}, "field train.lr: expected a finite number"),
    ("model_overrides", [], "field model_overrides: expected an object"),
    ("verify", "yes", "field verify: expected a boolean"),
])
def test_config_fields_of_the_wrong_type_are_named(two_runs, tmp_path, field, value, says):
    out = tmp_path / "run"
    shutil.copytree(two_runs[0], out)
    cfg = json.loads((out / "config.json").read_text())
    (out / "config.json").write_text(json.dumps({**cfg, field: value}))
    one_line_error(run("evaluate", "--run", out), "config.json", says)


def test_every_json_field_is_type_checked_by_its_schema(two_runs):
    """The files of a run pass their schemas, and a value of the wrong type anywhere is named."""
    a = two_runs[0]
    for name, schema in (("config.json", _schemas.RUN_CONFIG), ("metrics.json", _schemas.RUN_SUMMARY),
                         ("fold-0/metrics.json", _schemas.FOLD_METRICS)):
        doc = json.loads((a / name).read_text())
        _schemas.check(doc, schema, name)
    for name, schema in (("fold-0/model.pt", _schemas.MODEL_FILE), ("fold-0/checkpoint.pt", _schemas.CHECKPOINT_FILE)):
        _schemas.check(torch.load(a / name, weights_only=True), schema, name)
    doc = json.loads((a / "fold-0/metrics.json").read_text())
    doc["best_epoch"] = 1.5
    with pytest.raises(_schemas.SchemaError, match=r"m.json: field best_epoch: expected an integer of at least 0"):
        _schemas.check(doc, _schemas.FOLD_METRICS, "m.json")
    doc["best_epoch"], doc["test"] = 1, {"NDCG@10": "0.3"}
    with pytest.raises(_schemas.SchemaError, match=r"field test.NDCG@10: expected a number, got the text '0.3'"):
        _schemas.check(doc, _schemas.FOLD_METRICS, "m.json")


def test_evaluate_ignores_backup_folders_and_resume_rebuilds_a_deleted_model(two_runs, tables, tmp_path):
    a = two_runs[0]
    out = tmp_path / "run"
    shutil.copytree(a, out)
    shutil.copytree(out / "fold-0", out / "fold-0.bak")  # a backup beside the fold
    r = run("evaluate", "--run", out)
    assert r.exit_code == 0 and evaluated_ndcg(r.output) == evaluated_ndcg(run("evaluate", "--run", a).output)

    (out / "fold-0" / "model.pt").unlink()  # finished, then its model deleted
    r = run(*TRAIN, "--tables", tables, "--out", out, "--resume")
    assert r.exit_code == 0 and "training the fold again" in r.output
    assert (out / "fold-0" / "model.pt").is_file() and fold_test_metrics(out) == fold_test_metrics(a)
    assert run("evaluate", "--run", out).exit_code == 0


def test_a_run_from_before_run_ids_is_read_with_a_warning(two_runs, tmp_path):
    out = tmp_path / "old"
    shutil.copytree(two_runs[0], out)
    for name in ("config.json", "fold-0/metrics.json"):
        doc = json.loads((out / name).read_text())
        doc.pop("integrity"), doc.pop("run_id", None), doc.pop("model_sha256", None)
        (out / name).write_text(json.dumps(doc))
    for name in ("fold-0/model.pt", "fold-0/checkpoint.pt"):
        doc = torch.load(out / name, weights_only=True)
        doc.pop("integrity")
        torch.save(doc, out / name)
    r = run("evaluate", "--run", out)
    assert r.exit_code == 0 and "written before hetrec recorded run ids" in r.output, r.output


def test_integrity_records_survive_weights_only_loading_and_name_what_differs(tmp_path):
    payload = {"model": {"w": torch.arange(6.0).reshape(2, 3)}, "name": "x", "epoch": 3}
    _integrity.save_pt(tmp_path / "f.pt", payload, {"run": "r1", "fold": 0})
    doc = torch.load(tmp_path / "f.pt", weights_only=True)
    assert doc["integrity"]["belongs_to"] == {"run": "r1", "fold": 0}
    got, record = _integrity.load_pt(tmp_path / "f.pt", _schemas.Record({}, extra=True), {"run": "r1"})
    assert torch.equal(got["model"]["w"], payload["model"]["w"]) and record["belongs_to"]["fold"] == 0
    with pytest.raises(_integrity.IntegrityError, match="is a file of another fold"):
        _integrity.load_pt(tmp_path / "f.pt", _schemas.Record({}, extra=True), {"fold": 1})
    doc["model"]["w"][1, 2] = -1.0
    torch.save(doc, tmp_path / "f.pt")
    with pytest.raises(_integrity.IntegrityError, match="changed since hetrec wrote it"):
        _integrity.load_pt(tmp_path / "f.pt", _schemas.Record({}, extra=True))


def test_a_cache_with_a_flipped_bit_or_of_another_dataset_is_rebuilt(tmp_path, monkeypatch, lastfm_dir, ml1m_dir):
    """``data info lastfm`` once printed MovieLens-1M's counts from ML-1M's cache files copied
    under Last.FM's names; a flipped bit in the cached graph loaded without a word."""
    from hetrec.data import LastFM2K, MovieLens1M, graph_digest

    monkeypatch.setenv("HETREC_CACHE", str(tmp_path / "cache"))
    truth = graph_digest(LastFM2K(root=lastfm_dir.parent).graph)
    MovieLens1M(root=ml1m_dir.parent)
    (lastfm_bin,) = (tmp_path / "cache").glob("hetrec2011-lastfm-2k-*.bin")
    (ml_bin,) = (tmp_path / "cache").glob("ml-1m-*.bin")
    for suffix in (".bin", ".json"):
        shutil.copy(ml_bin.with_suffix(suffix), lastfm_bin.with_suffix(suffix))
    with pytest.warns(UserWarning, match=r"unreadable dataset cache .*is a file of another dataset .*rebuilding"):
        assert graph_digest(LastFM2K(root=lastfm_dir.parent).graph) == truth
    data = bytearray(lastfm_bin.read_bytes())
    data[len(data) // 2] ^= 0x10  # one flipped bit in the cached graph
    lastfm_bin.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match=r"\.bin: changed since it was written .*rebuilding"):
        assert graph_digest(LastFM2K(root=lastfm_dir.parent).graph) == truth
    info = json.loads(lastfm_bin.with_suffix(".json").read_text())
    lastfm_bin.with_suffix(".json").write_text(json.dumps({**info, "dropped": []}))
    with pytest.warns(UserWarning, match=r"field dropped: expected an object"):
        assert graph_digest(LastFM2K(root=lastfm_dir.parent).graph) == truth
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and the rebuilt cache is read without a word
        assert graph_digest(LastFM2K(root=lastfm_dir.parent).graph) == truth


def test_evaluate_data_dir_is_verified_and_checked_against_the_run(tmp_path, lastfm_dir):
    """``evaluate --data-dir`` reads the data through the same checks as the run (published
    checksums, then the run's data and split digests), never around them."""
    out = tmp_path / "run"
    r = run("train", "--dataset", "lastfm", "--data-dir", lastfm_dir.parent, "--model", "mostpop", "--out", out)
    assert r.exit_code == 0, r.output
    reference = evaluated_ndcg(run("evaluate", "--run", out).output)
    moved = tmp_path / "moved"
    shutil.copytree(lastfm_dir, moved / lastfm_dir.name)
    r = run("evaluate", "--run", out, "--data-dir", moved)
    assert r.exit_code == 0 and evaluated_ndcg(r.output) == reference
    ua = moved / lastfm_dir.name / "user_artists.dat"
    ua.write_text(ua.read_text().replace("\t1\n", "\t2\n", 1))  # one play count changed
    one_line_error(run("evaluate", "--run", out, "--data-dir", moved), "user_artists.dat")
