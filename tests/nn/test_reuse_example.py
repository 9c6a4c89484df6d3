"""examples/reuse_layers.py: the "reuse the layers in your own DGL model" use."""
import ast
import os
import pathlib
import subprocess
import sys

import pytest

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "reuse_layers.py"


def test_example_imports_nothing_of_hetrec_but_the_layers():
    tree = ast.parse(EXAMPLE.read_text())
    hetrec_imports = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("hetrec"):
            hetrec_imports.add((node.module, tuple(sorted(a.name for a in node.names))))
        if isinstance(node, ast.Import):
            assert not any(a.name.startswith("hetrec") for a in node.names)
    assert hetrec_imports == {("hetrec.nn", ("HGTLayer", "MMoE"))}


def test_hetrec_nn_imports_nothing_else_of_hetrec():
    package = EXAMPLE.parents[1] / "hetrec" / "nn"
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                # absolute imports of hetrec, and relative ones that leave the package
                # (``from ..data import X``), are both imports of the rest of hetrec
                assert node.level <= 1, f"{path}: from {'.' * node.level}{node.module} import ..."
                assert node.level == 1 or not (node.module or "").startswith("hetrec"), path
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("hetrec") for a in node.names), path


@pytest.mark.slow
def test_example_trains_and_its_loss_falls():
    # the script exits non-zero if the mean loss of its last 5 epochs is not below its first 5
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), "--epochs", "20"], check=False, capture_output=True, text=True,
        timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"},  # small graph: 1 thread is faster
    )
    assert result.returncode == 0, result.stdout + result.stderr
