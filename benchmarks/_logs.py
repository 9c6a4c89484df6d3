"""Per-epoch logs of committed benchmark cells: kept in git as one compressed archive per
benchmark, not as hundreds of ``log.jsonl`` files.

``benchmarks/results/<benchmark>/logs.tar.xz`` holds the ``log.jsonl`` of every finished cell
under ``benchmarks/results/<benchmark>/`` (member names are the paths relative to that folder,
e.g. ``lastfm/mthgt/fold-0/log.jsonl``). The files themselves are ignored by git
(``.gitignore``): a cell trained here keeps its ``log.jsonl`` on disk, and
``python benchmarks/_logs.py`` adds the finished ones to their archive. :func:`read_log` reads a
cell's log from its file when it is there, else from the archive, so ``benchmarks/reproduce.py``
and the other readers work in a fresh clone. Members are only read by name, never extracted.
"""
from __future__ import annotations

import io
import json
import os
import sys
import tarfile
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
ARCHIVE = "logs.tar.xz"


def _benchmark_root(cell: Path) -> Path | None:
    """``benchmarks/results/<benchmark>`` above ``cell``, or None when ``cell`` is elsewhere."""
    cell = cell.resolve()
    try:
        rel = cell.relative_to(RESULTS.resolve())
    except ValueError:
        return None
    return RESULTS / rel.parts[0] if rel.parts else None


def read_log(cell) -> list | None:
    """The epochs of ``cell/log.jsonl`` (a list of dicts), from the file or from its benchmark's
    archive; None when neither has it."""
    cell = Path(cell)
    path = cell / "log.jsonl"
    if path.is_file():
        text = path.read_text()
    else:
        root = _benchmark_root(cell)
        if root is None or not (root / ARCHIVE).is_file():
            return None
        name = (cell.resolve().relative_to(root.resolve()) / "log.jsonl").as_posix()
        with tarfile.open(root / ARCHIVE, "r:xz") as tar:
            try:
                member = tar.getmember(name)
            except KeyError:
                return None
            text = tar.extractfile(member).read().decode()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def pack(root: Path) -> int:
    """Write ``root/logs.tar.xz`` with every log under ``root`` that is not still being written
    (a cell with ``metrics.json``, or a stopped run without a checkpoint) plus the members the
    archive already had;
    deterministic (sorted names, no times or owners), written to a temporary file and renamed.
    Returns the number of members."""
    members = {}
    archive = root / ARCHIVE
    if archive.is_file():
        with tarfile.open(archive, "r:xz") as tar:
            for m in tar.getmembers():
                if m.isfile():
                    members[m.name] = tar.extractfile(m).read()
    for log in sorted(root.rglob("log.jsonl")):
        # a cell being trained has its checkpoint and no metrics yet; a stopped run kept as a
        # record (no checkpoint) is packed too
        if (log.parent / "metrics.json").is_file() or not (log.parent / "checkpoint.pt").is_file():
            members[log.relative_to(root).as_posix()] = log.read_bytes()
    if not members:
        return 0
    tmp = archive.with_name(archive.name + ".tmp")
    with tarfile.open(tmp, "w:xz", preset=9) as tar:
        for name in sorted(members):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(members[name]), 0, 0o644
            tar.addfile(info, io.BytesIO(members[name]))
    os.replace(tmp, archive)
    return len(members)


def main(argv=None) -> None:
    """Pack the logs of every benchmark folder under benchmarks/results (or of those named)."""
    names = (argv if argv is not None else sys.argv[1:]) or sorted(p.name for p in RESULTS.iterdir() if p.is_dir())
    for name in names:
        n = pack(RESULTS / name)
        if n:
            print(f"{RESULTS / name / ARCHIVE}: {n} logs")


if __name__ == "__main__":
    main()
