"""``hetrec tune``: a seeded, resumable hyper-parameter search of one model (hetrec.tune).

Kept apart from hetrec/cli.py, which adds this command to its ``main`` group; both take their
shared helpers from hetrec/cli_common.py.
"""
from __future__ import annotations

import click

from .cli_common import (
    DATASET_CHOICES,
    IN_DIR,
    OUT_DIR,
    _device,
    _fail,
    _load,
    _model_names,
    data_dir_option,
    device_option,
    verify_option,
)


@click.command("tune")
@click.option("--dataset", type=click.Choice(DATASET_CHOICES), default=None, help="Tune on a named dataset.")
@click.option("--tables", type=IN_DIR, default=None, help="Tune on your own tables folder.")
@click.option("--model", "model_name", type=click.Choice(_model_names()), required=True)
@click.option("--trials", type=click.IntRange(min=1), required=True,
              help="Budget: finished (complete or pruned) trials the study ends with, those of earlier runs included.")
@click.option("--out", type=OUT_DIR, required=True,
              help="The study's folder (study.db, trials.csv, best.json); rerun with it to resume.")
@click.option("--seed", type=click.IntRange(min=0, max=2**32 - 1), default=0, show_default=True,
              help="Seed of the split, the sampler and every trial's training.")
@click.option("--fold", type=click.IntRange(min=0, max=4), default=0, show_default=True,
              help="The fold of the 5-fold split whose validation set scores the trials (its test set is never used).")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=None, metavar="SECONDS",
              help="Start no trial after this many seconds (a running trial finishes); rerun to continue.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="torch intra-op threads.")
@data_dir_option
@verify_option
@device_option
def tune(dataset, tables, model_name, trials, out, seed, fold, timeout, threads, data_dir, verify, device):
    """Tune a model's settings on the validation set of one fold (Optuna, TPE, median pruning).

    Samples the model's search space (docs/tuning.md), trains each trial with early stopping
    and scores it by validation NDCG@10; one line per trial on stderr. The first trial is the
    model's registry settings (where the space holds them), so the result is never below them. Writes --out/study.db,
    trials.csv and best.json (the best settings, for benchmarks/accuracy.py --tuned). A stopped
    study resumes when run again with the same --out; a folder holds one study.
    """
    from .data import DataError
    from .train import TrainingError
    from .tune import TuneError
    from .tune import tune as run_study

    if (dataset is None) == (tables is None):
        raise click.UsageError("name the data with one of --dataset or --tables")
    device = _device(device)
    log = lambda m: click.echo(m, err=True)
    try:  # the data is read only when a trial is to run (a study at its budget, or refused, reads none)
        best = run_study(model_name, trials, out, dataset=dataset or "tables", tables=tables,
                         data=lambda: _load(dataset, data_dir, verify, tables), seed=seed, fold=fold, timeout=timeout,
                         num_threads=threads, device=device, log=log)
    except (TuneError, DataError, TrainingError, ValueError) as err:
        _fail(err)
    if best is None:
        raise click.ClickException(f"{out}: no trial has completed yet (see {out}/trials.csv)")
    from .models import model_class

    trained = model_class(model_name).trainable  # a closed-form model's training settings mean nothing
    settings = {**best["model_overrides"], **({f"train.{k}": v for k, v in best["train"].items()} if trained else {})}
    click.echo(f"{best['dataset']} / {best['model']}: best validation {best['metric']} {best['value']:.4f} "
               f"(fold {best['fold']}, trial #{best['best_trial']} of {best['trials']})")
    click.echo("settings: " + (" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                       for k, v in settings.items()) or "the model's defaults"))
    click.echo(f"wrote {out}/best.json and {out}/trials.csv")

