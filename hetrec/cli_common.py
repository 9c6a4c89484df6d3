"""What the ``hetrec`` command groups share: data loading with clean errors, common options,
checked ``--device`` and model names. ``hetrec/cli.py`` and ``hetrec/cli_tune.py`` import from
here, never from each other's commands (no import circle)."""
from __future__ import annotations

import os
import warnings
from contextlib import contextmanager

os.environ.setdefault("DGLBACKEND", "pytorch")

import click  # noqa: E402


def _fail(err: Exception):
    raise click.ClickException(str(err))


def _load(dataset: str | None, data_dir, verify: bool, tables=None):
    """A dataset by name, or from a tables folder; errors become clean CLI errors."""
    from .data import DataError, load_dataset, load_tables_dir

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ds = load_tables_dir(tables) if tables else load_dataset(dataset, root=data_dir, verify=verify)
        for w in caught:
            if issubclass(w.category, UserWarning) and "NumPy array is not writable" not in str(w.message):
                click.echo(f"warning: {w.message}", err=True)
        return ds
    except DataError as err:
        _fail(err)


@contextmanager
def _warnings_echoed():
    """Python warnings raised in the block are printed as one ``warning: ...`` line each."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            for w in caught:
                if issubclass(w.category, UserWarning) and "NumPy array is not writable" not in str(w.message):
                    click.echo(f"warning: {w.message}", err=True)


DATASET_CHOICES = ["lastfm", "ml-1m"]
data_dir_option = click.option("--data-dir", type=click.Path(file_okay=False), default=None,
                               help="Folder with the dataset files (default: $HETREC_DATA, else ~/.hetrec/data).")
device_option = click.option("--device", default="cpu", show_default=True, metavar="DEVICE",
                             help="Where to train / score: auto (CUDA when available), cpu, cuda or cuda:N.")
verify_option = click.option("--verify/--no-verify", default=True, show_default=True,
                             help="Check every file against its published checksum.")


def _device(spec: str):
    """``--device`` checked before anything is read or written."""
    from .train import resolve_device

    try:
        return resolve_device(spec)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--device") from None


def _model_names():
    from .models import MODELS

    return list(MODELS)


__all__ = ["DATASET_CHOICES", "_device", "_fail", "_load", "_warnings_echoed", "_model_names", "data_dir_option", "device_option",
           "verify_option"]
