"""The ``hetrec`` command: data info, versions, errors with non-zero exits."""
import pandas as pd
import pytest
from click.testing import CliRunner

from hetrec import __version__
from hetrec.cli import main


def run(*args):
    return CliRunner().invoke(main, list(args))


def test_version_and_help():
    r = run("--version")
    assert r.exit_code == 0 and __version__ in r.output
    r = run("--help")
    assert r.exit_code == 0 and "data" in r.output


@pytest.mark.realdata
def test_data_info_lastfm(lastfm_dir):
    r = run("data", "info", "lastfm", "--data-dir", str(lastfm_dir.parent))
    assert r.exit_code == 0, r.output
    for expected in ("user", "1,892", "17,632", "11,946", "92,834", "25,434", "(user, friend, user)",
                     "interaction density: 92,834 / (1,892 x 17,632) = 0.002783",
                     "tag assignments with unknown artist"):
        assert expected in r.output


@pytest.mark.realdata
def test_data_info_ml_partial_needs_no_verify(ml_partial_dir):
    r = run("data", "info", "ml-1m", "--data-dir", str(ml_partial_dir))
    assert r.exit_code != 0
    assert "ratings.dat" in r.output and "a89aa3591bc97d6d4e0c89459ff39362" in r.output
    assert "Traceback" not in r.output
    r = run("data", "info", "ml-1m", "--data-dir", str(ml_partial_dir), "--no-verify")
    assert r.exit_code == 0, r.output
    assert "UNVERIFIED" in r.output and "562,245" in r.output and "6,040" in r.output


def test_unknown_dataset_lists_choices():
    r = run("data", "info", "movielens")
    assert r.exit_code == 2 and "'lastfm'" in r.output and "'ml-1m'" in r.output


def test_missing_files_is_a_clean_error(tmp_path):
    (tmp_path / "ml-1m").mkdir()
    r = run("data", "info", "ml-1m", "--data-dir", str(tmp_path))
    assert r.exit_code == 1 and "missing ratings.dat" in r.output and "Traceback" not in r.output


def test_data_info_tables(tmp_path):
    pd.DataFrame({"user": [1, 2], "item": [5, 6]}).to_csv(tmp_path / "interactions.csv", index=False)
    pd.DataFrame({"item": [5, 6], "genre": ["x", "y"]}).to_csv(tmp_path / "item_genre.csv", index=False)
    r = run("data", "info", "--tables", str(tmp_path))
    assert r.exit_code == 0, r.output
    assert "(item, has_genre, genre)" in r.output and "= 0.500000" in r.output
