"""What the ``hetrec`` command groups share: data loading with clean errors, common options,
checked ``--device`` and model names. ``hetrec/cli.py`` and ``hetrec/cli_tune.py`` import from
here, never from each other's commands (no import circle)."""
from __future__ import annotations

import errno
import os
import warnings
from contextlib import contextmanager

os.environ.setdefault("DGLBACKEND", "pytorch")

import click  # noqa: E402

from ._errors import error_line  # noqa: E402
from ._signals import exit_code, signal_name, terminate_as_interrupt  # noqa: E402


def _fail(err: Exception):
    raise click.ClickException(error_line(err) or str(err))


#: how to continue what a command was doing when it was stopped
_CONTINUE = {"train": "continue the run with --resume", "tune": "run it again with the same --out to continue"}


class Stopped(click.ClickException):
    """A command stopped by SIGINT, SIGTERM or SIGHUP, after its clean-up ran: one line, and
    the shell's exit code for the signal (130, 143, 129)."""

    def __init__(self, err: KeyboardInterrupt, command: str | None):
        self.exit_code = exit_code(err)
        how = _CONTINUE.get(command or "")
        super().__init__(f"stopped by {signal_name(self.exit_code - 128)}" + (f"; {how}" if how else ""))


class CommandGroup(click.Group):
    """The ``hetrec`` group. Every command under it ends an operating-system error (a full
    disk, a read-only file system, a name too long, a file where a folder belongs; also DGL's
    C++ errors, stack trace dropped) as one line ``Error: <path>: <reason>``, exit code 1, and
    a SIGTERM or SIGHUP as a SIGINT: the clean-up runs, then one line and exit code 128 + the
    signal (``hetrec._signals``)."""

    def main(self, *args, **kwargs):
        with terminate_as_interrupt():
            return super().main(*args, **kwargs)

    def make_context(self, *args, **kwargs):
        try:  # a signal while the arguments are parsed: the same line, not click's "Aborted!"
            return super().make_context(*args, **kwargs)
        except KeyboardInterrupt as err:
            raise Stopped(err, None) from None

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as err:
            raise Stopped(err, ctx.invoked_subcommand) from None
        except OSError as err:
            if err.errno == errno.EPIPE:  # stdout closed (``| head``): click's own quiet handling
                raise
            raise click.ClickException(error_line(err)) from None
        except Exception as err:
            line = error_line(err)  # DGL's C++ errors
            if line is None:
                raise
            raise click.ClickException(line) from None


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


class CheckedPath(click.ParamType):
    """A path option checked before the command starts (:func:`hetrec._paths.path_problem`): a
    ``kind`` ("dir" or "file") that the command will ``role`` ("read": must exist; "write": may
    exist or be created). A path that cannot serve is one line naming it and its problem (exit 2),
    and nothing is read or written."""

    name = "path"

    def __init__(self, kind: str = "dir", role: str = "read"):
        self.kind, self.role = kind, role

    def convert(self, value, param, ctx):
        from ._paths import path_problem

        if value is None:
            return None
        found = path_problem(value, self.kind, self.role)
        if found:
            where, reason = found
            self.fail(f"{where}: {reason}", param, ctx)
        return os.fsdecode(value) if isinstance(value, bytes) else str(value)


IN_DIR, OUT_DIR = CheckedPath("dir", "read"), CheckedPath("dir", "write")
IN_FILE, OUT_FILE = CheckedPath("file", "read"), CheckedPath("file", "write")
DATASET_CHOICES = ["lastfm", "ml-1m"]
data_dir_option = click.option("--data-dir", type=OUT_DIR, default=None,
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


__all__ = ["CheckedPath", "CommandGroup", "DATASET_CHOICES", "IN_DIR", "IN_FILE", "OUT_DIR", "OUT_FILE", "Stopped",
           "_device", "_fail", "_load", "_model_names", "_warnings_echoed", "data_dir_option", "device_option",
           "verify_option"]
