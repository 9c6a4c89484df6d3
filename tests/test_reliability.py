"""Faults and hostile files: full disks, interrupted writes, concurrent runs, malicious pickles,
symbolic-link archive members. What each guarantees is listed in docs/reliability.md."""
import errno
import json
import os
import pickle
import subprocess
import sys
import time
import zipfile

import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from hetrec import _io
from hetrec.cli import main
from hetrec.data import DataError, extract_members, synthetic
from hetrec.train import TrainConfig, Trainer, TrainingError


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*")
            if p.is_file() and not p.name.endswith(".lock")}


# -- writes that fail half-way ----------------------------------------------------------------

class _FullDisk:
    """A file object whose writes fail with ENOSPC after ``budget`` bytes."""

    def __init__(self, f, budget):
        self.f, self.budget = f, budget

    def write(self, data):
        if len(data) > self.budget:
            self.f.write(data[: self.budget])
            raise OSError(errno.ENOSPC, "No space left on device")
        self.budget -= len(data)
        return self.f.write(data)

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


def full_disk(monkeypatch, budget=10):
    real = os.fdopen
    monkeypatch.setattr(_io.os, "fdopen", lambda fd, mode="r", *a, **k: _FullDisk(real(fd, mode, *a, **k), budget))


def test_atomic_write_on_a_full_disk_keeps_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "config.json"
    target.write_text("old")
    full_disk(monkeypatch)
    with pytest.raises(OSError, match="No space left"):
        _io.atomic_write_text(target, "new contents that do not fit")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json"]


def test_interrupt_between_write_and_rename_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "metrics.json"
    target.write_text("old")

    def killed(*a, **k):
        raise KeyboardInterrupt  # what SIGINT raises at that point

    monkeypatch.setattr(_io.os, "replace", killed)
    with pytest.raises(KeyboardInterrupt):
        _io.atomic_write_text(target, "new")
    assert target.read_text() == "old" and len(list(tmp_path.iterdir())) == 1


def test_checkpoint_on_a_full_disk_is_one_clear_error_and_earlier_files_stay(tmp_path, monkeypatch):
    g = synthetic(num_users=30, num_items=40, num_interactions=400, num_tags=4, seed=1)
    from hetrec.data import kfold_split
    from hetrec.models import create_model

    split = kfold_split(g, k=5, seed=0)[0]
    out = tmp_path / "fold"
    Trainer(TrainConfig(epochs=1, progress=False), out_dir=out, log=lambda m: None).fit(create_model("bprmf"), split)
    before = snapshot(out)
    full_disk(monkeypatch, budget=100)
    with pytest.raises(TrainingError, match="cannot write in .*No space left on device.*intact"):
        Trainer(TrainConfig(epochs=3, progress=False), out_dir=out, log=lambda m: None).fit(
            create_model("bprmf"), split, resume=True)
    assert snapshot(out) == before  # the checkpoint of epoch 1 is still the one on disk
    assert not [p for p in out.iterdir() if p.suffix == ".tmp"]


def test_dataset_cache_failure_inside_dgl_is_a_warning_and_leaves_nothing(tmp_path, monkeypatch, lastfm_dir):
    import dgl

    from hetrec.data import LastFM2K

    monkeypatch.setenv("HETREC_CACHE", str(tmp_path / "cache"))

    def broken(path, graphs, *a, **k):
        open(path, "wb").write(b"partial")
        raise dgl.DGLError("[12:00:00] Check failed: fs->Write(...): No space left on device")

    monkeypatch.setattr(dgl, "save_graphs", broken)
    with pytest.warns(UserWarning, match="could not write the dataset cache.*DGLError.*continuing"):
        ds = LastFM2K(root=lastfm_dir.parent)
    assert ds.graph.num_edges("interacts") == 92834
    assert list((tmp_path / "cache").iterdir()) == []


def test_a_damaged_cache_is_rebuilt(tmp_path, monkeypatch, lastfm_dir):
    from hetrec.data import LastFM2K

    monkeypatch.setenv("HETREC_CACHE", str(tmp_path / "cache"))
    first = LastFM2K(root=lastfm_dir.parent)
    (bin_file,) = (tmp_path / "cache").glob("*.bin")
    bin_file.write_bytes(bin_file.read_bytes()[:1000])  # truncated
    with pytest.warns(UserWarning, match="unreadable dataset cache"):
        again = LastFM2K(root=lastfm_dir.parent)
    assert torch.equal(torch.stack(again.graph.edges(etype="interacts")), torch.stack(first.graph.edges(etype="interacts")))
    assert LastFM2K(root=lastfm_dir.parent).has_cache()  # and written again, whole


# -- one run per folder -------------------------------------------------------------------------

def test_a_fold_being_trained_is_locked(tables, tmp_path):
    out = tmp_path / "run"
    base = ["train", "--tables", tables, "--model", "bprmf", "--epochs", "1", "--out", out]
    assert run(*base, "--fold", "0").exit_code == 0
    before = snapshot(out)
    with _io.exclusive_lock(out / ".fold-1.lock", "test"):  # another process trains fold 1
        r = run(*base, "--fold", "1", "--resume")
    assert r.exit_code == 1 and "in use by another process" in r.output and "Traceback" not in r.output
    assert snapshot(out) == before  # refused before writing anything
    assert not (out / "fold-1").exists()
    assert run(*base, "--fold", "1", "--resume").exit_code == 0  # free again


def test_two_processes_cannot_train_into_one_folder(tables, tmp_path):
    """A real second process: the first claims the folder and trains; the second is refused
    with or without --resume, and the first finishes unharmed."""
    out = tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "hetrec.cli", "train", "--tables", str(tables), "--model", "bprmf",
           "--epochs", "100000", "--patience", "100000", "--out", str(out)]
    first = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not (out / "fold-0" / "checkpoint.pt").exists():
            assert time.time() < deadline and first.poll() is None, first.stderr.read()
            time.sleep(0.2)
        second = subprocess.run(cmd[:-2] + ["--model", "mostpop", "--out", str(out)], env=env,
                                capture_output=True, text=True, timeout=120)
        assert second.returncode == 1 and "already holds a run (tables / bprmf" in second.stderr
        third = subprocess.run(cmd + ["--resume"], env=env, capture_output=True, text=True, timeout=120)
        assert third.returncode == 1 and "in use by another process" in third.stderr
        assert "Traceback" not in second.stderr + third.stderr
        assert json.loads((out / "config.json").read_text())["model"] == "bprmf"
    finally:
        first.kill()
        first.wait()
    # killed with SIGKILL: the kernel released its locks at once (no stale lock to clean up)
    with _io.exclusive_lock(out / ".fold-0.lock", "fold 0"), _io.exclusive_lock(out / "fold-0" / ".lock", "fold"):
        pass


# -- hostile files ------------------------------------------------------------------------------

class _Boom:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_a_malicious_pickle_is_never_executed(tables, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "run"
    assert run("train", "--tables", tables, "--model", "bprmf", "--epochs", "1", "--out", out).exit_code == 0
    evil = pickle.dumps({"model_name": "bprmf", "model": _Boom()})
    for name in ("model.pt", "checkpoint.pt"):
        (out / "fold-0" / name).write_bytes(evil)
    r = run("evaluate", "--run", out)
    assert r.exit_code == 1 and "not a readable hetrec checkpoint" in r.output and "Traceback" not in r.output
    r = run("train", "--tables", tables, "--model", "bprmf", "--epochs", "2", "--out", out, "--resume")
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert not (tmp_path / "PWNED").exists()


def test_a_checkpoint_missing_keys_or_a_newer_config_is_one_line(tables, tmp_path):
    out = tmp_path / "run"
    assert run("train", "--tables", tables, "--model", "bprmf", "--epochs", "1", "--out", out).exit_code == 0
    torch.save({"model_name": "bprmf"}, out / "fold-0" / "model.pt")
    r = run("evaluate", "--run", out)
    assert r.exit_code == 1 and "model.pt: field model: missing" in r.output
    cfg = json.loads((out / "config.json").read_text())
    cfg["shiny_new_setting"] = 1
    (out / "config.json").write_text(json.dumps(cfg))
    r = run("evaluate", "--run", out)
    assert r.exit_code == 1 and "settings unknown to hetrec" in r.output and "shiny_new_setting" in r.output
    (out / "config.json").write_text("{not json")
    r = run("recommend", "--run", out, "--user", "100")
    assert r.exit_code == 1 and "config.json: not valid JSON" in r.output and "Traceback" not in r.output


def test_symbolic_link_members_are_refused(tmp_path):
    archive = tmp_path / "links.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("d/ratings.dat")
        info.external_attr = (0o120777 << 16)  # a symbolic link to /etc/passwd
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(DataError, match="is a symbolic link; refusing"):
        extract_members(archive, tmp_path / "out", ["d/ratings.dat"])
    assert not (tmp_path / "out").exists()


# -- small users, changed data ------------------------------------------------------------------

def test_users_with_few_interactions_get_a_clear_error_and_a_way_out(tmp_path):
    import numpy as np

    rng = np.random.default_rng(0)
    rows = [(u, int(i)) for u in range(200) for i in rng.choice(50, 4, replace=False)]
    folder = tmp_path / "t"
    folder.mkdir()
    pd.DataFrame(rows, columns=["user", "item"]).to_csv(folder / "interactions.csv", index=False)
    out = tmp_path / "run"
    r = run("train", "--tables", folder, "--model", "mostpop", "--out", out)
    assert r.exit_code == 1 and "no user has a validation interaction" in r.output
    assert "at least 5 interactions outside the test fold" in r.output and "most any user has is 4" in r.output
    assert "--val-ratio" in r.output and not out.exists()
    r = run("train", "--tables", folder, "--model", "mostpop", "--out", out, "--val-ratio", "0.34")
    assert r.exit_code == 0, r.output
    # users dealt fewer test items than folds are named, not silently dropped
    assert "of 200 users, 0 have no validation interaction" in r.output and "no test interaction" in r.output


def test_coverage_counts_equal_a_direct_count():
    from hetrec.data import kfold_split

    g = synthetic(num_users=50, num_items=30, num_interactions=260, num_tags=3, seed=4)
    folds = kfold_split(g, k=5, seed=1, val_ratio=0.2)
    for f in range(5):
        sp, c = folds[f], folds.coverage(f)
        users = set(g.edges(etype="interacts")[0].tolist())
        test_users = set(sp.test.tocoo().row.tolist())
        val_users = set(sp.val.tocoo().row.tolist())
        assert c["users"] == len(users)
        assert c["no_test"] == len(users - test_users) and c["no_val"] == len(users - val_users)


def test_same_shape_other_data_is_refused(tables, tmp_path):
    """Edited interactions with the same counts (the old failure: silently another split)."""
    import shutil

    folder = tmp_path / "t"
    shutil.copytree(tables, folder)
    out = tmp_path / "run"
    assert run("train", "--tables", folder, "--model", "bprmf", "--epochs", "1", "--out", out).exit_code == 0
    df = pd.read_csv(folder / "interactions.csv")
    df["item"] = df["item"].sample(frac=1.0, random_state=0).to_numpy()  # same ids, other pairs
    df = df.drop_duplicates(["user", "item"])
    df.to_csv(folder / "interactions.csv", index=False)
    for args in (["evaluate", "--run", out], ["recommend", "--run", out, "--user", "100"],
                 ["train", "--tables", folder, "--model", "bprmf", "--epochs", "1", "--out", out, "--resume"]):
        r = run(*args)
        assert r.exit_code == 1 and "the data differ from the data this run was trained on" in r.output, args
        assert "Traceback" not in r.output


@pytest.mark.parametrize("args, code, message", [
    (["recommend", "--run", "{run}", "--user", "100", "-k", "0"], 2, "0 is not in the range x>=1"),
    (["recommend", "--run", "{run}", "--user", "abc"], 2, "'abc' is not a valid integer"),
    (["recommend", "--run", "{run}", "--user", "100", "--fold", "9"], 1, "no trained model for fold 9"),
    (["recommend", "--run", "{run}", "--user", "99999999999999999999999"], 1, "unknown user 99999999999999999999999"),
    (["recommend", "--run", "{missing}", "--user", "1"], 2, "does not exist"),
    (["evaluate", "--run", "{missing}"], 2, "does not exist"),
    (["evaluate", "--run", "{empty}"], 1, "not a hetrec run folder (no config.json)"),
    (["data", "info", "--tables", "{missing}"], 2, "does not exist"),
    (["data", "info", "--tables", "{empty}"], 1, "no interactions.csv"),
])
def test_evaluate_recommend_info_bad_values(tables, tmp_path_factory, args, code, message):
    base = tmp_path_factory.mktemp("cli")
    run_dir = base / "run"
    if not run_dir.exists():
        assert run("train", "--tables", tables, "--model", "mostpop", "--out", run_dir).exit_code == 0
    (base / "empty").mkdir(exist_ok=True)
    fill = {"run": run_dir, "missing": base / "nope", "empty": base / "empty"}
    r = run(*[a.format(**fill) for a in args])
    assert r.exit_code == code, r.output
    assert message in r.output and "Traceback" not in r.output
