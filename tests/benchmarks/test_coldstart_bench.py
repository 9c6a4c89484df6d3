"""benchmarks/coldstart.py: bad arguments end in one line; a cell's rows on a tiny graph."""
import importlib.util
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
def bench():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        spec = importlib.util.spec_from_file_location("bench_coldstart", SCRIPT)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        yield mod
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


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
