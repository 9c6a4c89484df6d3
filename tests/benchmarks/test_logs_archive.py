"""benchmarks/_logs.py: a cell's log is read from its file, else from its benchmark's archive;
packing is deterministic, keeps earlier members and leaves cells still being trained alone."""
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def logs(tmp_path, monkeypatch, load_benchmark):
    mod = load_benchmark("_logs", "bench_logs")
    monkeypatch.setattr(mod, "RESULTS", tmp_path / "results")
    return mod


def cell(root, rel, epochs, finished=True, checkpoint=False):
    d = root / rel
    d.mkdir(parents=True)
    (d / "log.jsonl").write_text("".join(json.dumps({"epoch": e, "loss": 1.0 / e}) + "\n" for e in range(1, epochs + 1)))
    if finished:
        (d / "metrics.json").write_text("{}")
    if checkpoint:
        (d / "checkpoint.pt").write_bytes(b"x")
    return d


def test_read_from_file_then_from_archive(logs, tmp_path):
    bench = tmp_path / "results" / "accuracy"
    a = cell(bench, "lastfm/mthgt/fold-0", 3)
    running = cell(bench, "lastfm/mthgt/fold-1", 2, finished=False, checkpoint=True)
    stopped = cell(bench, "lastfm/other/fold-0", 1, finished=False)
    assert logs.pack(bench) == 2  # the finished cell and the stopped run; not the running one
    first = (bench / "logs.tar.xz").read_bytes()
    assert logs.pack(bench) == 2 and (bench / "logs.tar.xz").read_bytes() == first  # deterministic
    expected = logs.read_log(a)
    assert [e["epoch"] for e in expected] == [1, 2, 3]
    (a / "log.jsonl").unlink()
    (stopped / "log.jsonl").unlink()
    assert logs.read_log(a) == expected  # now from the archive
    assert len(logs.read_log(stopped)) == 1
    (running / "log.jsonl").unlink()
    assert logs.read_log(running) is None
    # packing again keeps the members whose files are gone, and adds new finished cells
    cell(bench, "ml-1m/mthgt/fold-0", 4)
    assert logs.pack(bench) == 3
    assert len(logs.read_log(a)) == 3 and len(logs.read_log(bench / "ml-1m/mthgt/fold-0")) == 4


def test_a_cell_outside_the_results_has_no_archive(logs, tmp_path):
    assert logs.read_log(tmp_path / "elsewhere" / "fold-0") is None


def test_every_committed_cell_log_is_in_an_archive():
    """The repository's own cells: every cell with metrics and a training log reads it back."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from _logs import read_log
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    mthgt = ROOT / "benchmarks" / "results" / "accuracy" / "lastfm" / "mthgt"
    for f in range(5):
        log = read_log(mthgt / f"fold-{f}")
        assert log and log[-1]["epoch"] == json.loads((mthgt / f"fold-{f}" / "metrics.json").read_text())["epochs"]
