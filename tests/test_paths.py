"""Up-front path checks (hetrec._paths.path_problem) against what the file system then does: over
generated path shapes — folders, files, missing names, dangling links, link loops, links to
folders and files, names over the limit — a path is accepted exactly when the command's use of it
(list or read it; create it with its folders and write into it) succeeds. And every CLI command
refuses such a path in one line before it writes anything."""
import os
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from hetrec._paths import path_problem
from hetrec.cli import main

SHAPES = ["dir", "file", "missing", "dangling", "loop", "link-dir", "link-file", "long"]


def build(root: Path, shapes) -> Path:
    """The path ``root/c0/c1/...``; every component made as its shape says, as far as the path
    can exist (below a file, a dangling link or a loop nothing more is made)."""
    target_dir, target_file = root / "_target_dir", root / "_target_file"
    target_dir.mkdir()
    target_file.write_text("x")
    path, can_make = root, True
    for i, shape in enumerate(shapes):
        name = "n" * 300 if shape == "long" else f"c{i}-{shape}"
        path = path / name
        if not can_make or shape in ("missing", "long"):
            can_make = False
            continue
        if shape == "dir":
            path.mkdir()
        elif shape == "file":
            path.write_text("x")
            can_make = False
        elif shape == "dangling":
            os.symlink(root / "_nowhere", path)
            can_make = False
        elif shape == "loop":
            os.symlink(path, path)
            can_make = False
        elif shape == "link-dir":
            os.symlink(target_dir, path)
            target_dir = target_dir / f"t{i}"  # a fresh target for a later link
            target_dir.mkdir()
        elif shape == "link-file":
            os.symlink(target_file, path)
            can_make = False
    return path


def works(path: Path, kind: str, role: str) -> bool:
    """Does the use succeed? (run after the check: writing changes the tree)"""
    try:
        if role == "read":
            if kind == "dir":
                return os.path.isdir(path) and (os.listdir(path) is not None)
            with open(path, "rb"):
                return os.path.isfile(path)
        if kind == "dir":
            os.makedirs(path, exist_ok=True)
            (path / "probe").write_text("x")
            return True
        if os.path.islink(path) and not os.path.exists(path):
            # open() would create the link's target, but hetrec writes a temporary file and
            # renames it over the path, which would replace the link: refused, by design
            return False
        os.makedirs(path.parent, exist_ok=True)
        with open(path, "ab"):
            pass
        return True
    except OSError:
        return False


@settings(max_examples=300, deadline=None)
@given(shapes=st.lists(st.sampled_from(SHAPES), min_size=1, max_size=4),
       kind=st.sampled_from(["dir", "file"]), role=st.sampled_from(["read", "write"]))
def test_a_path_is_accepted_exactly_when_its_use_succeeds(shapes, kind, role):
    with tempfile.TemporaryDirectory() as tmp:
        path = build(Path(tmp), shapes)
        found = path_problem(path, kind, role)
        assert found is None or (isinstance(found[1], str) and found[1])
        assert (found is None) == works(path, kind, role), (shapes, kind, role, found)


@pytest.mark.parametrize("shape", ["file", "dangling", "loop", "long", "link-file"])
@pytest.mark.parametrize("args", [
    ["train", "--model", "mostpop", "--synthetic", "1", "--out", "{p}"],
    ["evaluate", "--run", "{p}"],
    ["data", "info", "--tables", "{p}"],
    ["partition", "--synthetic", "600", "--num-parts", "2", "--out", "{p}"],
    ["tune", "--tables", "{p}", "--model", "mostpop", "--trials", "1", "--out", "{o}"],
    ["recommend", "--run", "{p}", "--user", "1"],
    ["export", "--run", "{p}", "--out", "{o}.npz"],
    ["dist-train", "--parts", "{p}", "--out", "{o}"],
])
def test_every_command_refuses_an_unusable_path_in_one_line(tmp_path, shape, args):
    path = build(tmp_path, [shape, "dir"] if shape != "long" else [shape])
    if "--synthetic" in args and "train" in args:
        args = ["train", "--model", "mostpop", "--out", "{p}", "--tables", str(tmp_path)]
    argv = [a.format(p=path, o=tmp_path / "out") for a in args]
    before = sorted(p.name for p in tmp_path.rglob("*"))
    r = CliRunner().invoke(main, argv)
    assert r.exit_code not in (0, None), r.output
    assert "Traceback" not in r.output and isinstance(r.exception, SystemExit), (r.exception, r.output)
    last = r.output.strip().splitlines()[-1]
    assert last.startswith("Error: ") and sum(line.startswith("Error") for line in r.output.splitlines()) == 1, r.output
    assert f"c0-{shape}" in last or "File name too long" in last, last  # the path's own problem
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing written
