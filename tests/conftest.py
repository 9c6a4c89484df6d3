"""Shared fixtures. Real-data tests read ``$HETREC_DATA``; they skip when it is unset or lacks
the files, and fail instead when ``HETREC_REQUIRE_DATA=1`` (CI sets both)."""
import os
from pathlib import Path

import pytest

os.environ.setdefault("DGLBACKEND", "pytorch")

import torch  # noqa: E402

# One intra-op thread: with 2 cores and anything else running, OpenMP's spin-waiting made
# small ops ~40x slower in measurements here; tests do not time anything.
torch.set_num_threads(1)

LASTFM_DIR = "hetrec2011-lastfm-2k"
ML_PARTIAL_DIR = "ml-1m-partial"
ML_DIR = "ml-1m"


def real_data_dir(sub: str) -> Path:
    """The folder ``$HETREC_DATA/sub``, or skip (fail under HETREC_REQUIRE_DATA=1)."""
    root = os.environ.get("HETREC_DATA")
    path = Path(root) / sub if root else None
    if path is None or not path.is_dir():
        msg = f"real data {sub!r} not found (HETREC_DATA={root!r})"
        if os.environ.get("HETREC_REQUIRE_DATA") == "1":
            pytest.fail(msg + " but HETREC_REQUIRE_DATA=1")
        pytest.skip(msg)
    return path


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Processed-graph caches go to a temporary folder, never the user's home."""
    os.environ["HETREC_CACHE"] = str(tmp_path_factory.mktemp("hetrec-cache"))


@pytest.fixture(scope="session")
def lastfm_dir():
    return real_data_dir(LASTFM_DIR)


@pytest.fixture(scope="session")
def lastfm_dataset(lastfm_dir):
    from hetrec.data import LastFM2K

    return LastFM2K(root=lastfm_dir.parent)


@pytest.fixture(scope="session")
def lastfm_graph(lastfm_dataset):
    return lastfm_dataset.graph


@pytest.fixture(scope="session")
def ml1m_dir():
    return real_data_dir(ML_DIR)


@pytest.fixture(scope="session")
def ml1m_dataset(ml1m_dir):
    """The complete MovieLens-1M, verified, loaded once per test session (≈10 s uncached)."""
    from hetrec.data import MovieLens1M

    return MovieLens1M(root=ml1m_dir.parent)


@pytest.fixture(scope="session")
def ml_partial_dir():
    return real_data_dir(ML_PARTIAL_DIR)


@pytest.fixture
def tiny_graph():
    from hetrec.data import synthetic

    return synthetic(num_users=30, num_items=40, num_interactions=300, num_tags=10, seed=1)


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    """A tables folder of 40 users and 50 items (raw ids offset from the node ids), for the CLI's
    reliability tests."""
    import pandas as pd

    from hetrec.data import synthetic

    folder = tmp_path_factory.mktemp("tables")
    g = synthetic(num_users=40, num_items=50, num_interactions=600, num_tags=5, seed=2)
    s, d = g.edges(etype="interacts")
    pd.DataFrame({"user": s.numpy() + 100, "item": d.numpy() + 7}).to_csv(folder / "interactions.csv", index=False)
    return folder


def _load_benchmark(script: str, alias: str):
    """The module of ``benchmarks/<script>.py`` under the name ``alias``. ``benchmarks/`` is on
    ``sys.path`` only while it loads; its helper module ``_common`` is imported then too, so that
    the scripts' later ``from _common import ...`` (some import it inside functions) finds it in
    ``sys.modules``."""
    import importlib
    import importlib.util
    import sys

    folder = str(Path(__file__).resolve().parents[1] / "benchmarks")
    sys.path.insert(0, folder)
    try:
        importlib.import_module("_common")
        spec = importlib.util.spec_from_file_location(alias, Path(folder) / f"{script}.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    finally:
        sys.path.remove(folder)


@pytest.fixture(scope="session")
def load_benchmark():
    """``load_benchmark(script, alias)``: a benchmark script's module (:func:`_load_benchmark`)."""
    return _load_benchmark
