"""Run folders read back (hetrec.train.runs) and serving (hetrec.eval.recommend): their homes,
and the old import paths (hetrec.train.experiment) that benchmarks and examples still use."""
import pytest

import hetrec.train.experiment as experiment
from hetrec.data import DataError
from hetrec.eval import recommend
from hetrec.train import runs


def test_moved_functions_are_still_importable_from_experiment():
    from hetrec.train.experiment import load_fold_model, load_run, trained_folds  # the old path
    from hetrec.train.experiment import recommend as old_recommend

    assert (load_run, load_fold_model, trained_folds) == (runs.load_run, runs.load_fold_model, runs.trained_folds)
    assert old_recommend is recommend
    with pytest.raises(AttributeError, match="no_such_name"):
        experiment.no_such_name  # noqa: B018 - the lookup is the test


def test_trained_folds_and_a_folder_that_is_no_run(tmp_path):
    for f in (2, 0):
        (tmp_path / f"fold-{f}").mkdir()
        (tmp_path / f"fold-{f}" / "model.pt").write_bytes(b"")
    (tmp_path / "fold-1").mkdir()  # no model: not trained
    assert runs.trained_folds(tmp_path) == [0, 2]
    with pytest.raises(DataError, match="not a hetrec run folder"):
        runs.load_run(tmp_path)
