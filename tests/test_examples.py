"""The dataset examples run end to end as scripts (quick mode) on the real files."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_example(name, *args, tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", HETREC_CACHE=str(tmp_path / "cache"))
    return subprocess.run([sys.executable, str(ROOT / "examples" / name), *args, "--quick", "--out",
                           str(tmp_path / "run")], capture_output=True, text=True, env=env, timeout=600)


@pytest.mark.realdata
@pytest.mark.slow
def test_lastfm_example(lastfm_dir, tmp_path):
    r = run_example("lastfm_mthgt.py", "--data-dir", str(lastfm_dir.parent), tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "1,892 users, 17,632 artists, 11,946 tags" in r.stdout
    assert "| MTHGT |" in r.stdout and "top 10 artists for user 2:" in r.stdout
    assert (tmp_path / "run" / "model.pt").is_file()


@pytest.mark.realdata
@pytest.mark.slow
def test_movielens_example(ml1m_dir, tmp_path):
    r = run_example("movielens1m_mthgt.py", "--data-dir", str(ml1m_dir.parent), tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "MovieLens-1M: 6,040 users, 3,883 movies, 1,000,209 ratings" in r.stdout
    assert "| MTHGT |" in r.stdout and "top 10 movies for user 1:" in r.stdout
    assert "UNVERIFIED" not in r.stdout + r.stderr
    assert (tmp_path / "run" / "model.pt").is_file()


@pytest.mark.realdata
@pytest.mark.slow
def test_movielens_example_refuses_partial_copy(ml_partial_dir, tmp_path):
    r = run_example("movielens1m_mthgt.py", "--data-dir", str(ml_partial_dir), tmp_path=tmp_path)
    assert r.returncode != 0 and "checksum mismatch" in r.stderr
    assert "Traceback" not in r.stderr
    r = run_example("movielens1m_mthgt.py", "--data-dir", str(ml_partial_dir), "--no-verify", tmp_path=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "UNVERIFIED MovieLens files (not a MovieLens-1M result)" in r.stdout


def test_dense_sampler_example(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, str(ROOT / "examples" / "dense_sampler.py"), "--batches", "2"],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    node_lines = [ln for ln in r.stdout.splitlines() if ln.startswith("node batch")]
    edge_lines = [ln for ln in r.stdout.splitlines() if ln.startswith("edge batch")]
    assert len(node_lines) == 2 and len(edge_lines) == 2
    assert all("'tag'" in ln and "'category'" in ln for ln in node_lines)  # attribute types sampled too
    assert all(ln.endswith("batch edges in subgraph: 0") for ln in edge_lines)
