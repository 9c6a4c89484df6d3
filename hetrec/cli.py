"""The ``hetrec`` command line."""
from __future__ import annotations

import os
import sys
import warnings

os.environ.setdefault("DGLBACKEND", "pytorch")

import click  # noqa: E402

from . import __version__  # noqa: E402


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


DATASET_CHOICES = ["lastfm", "ml-1m"]
data_dir_option = click.option("--data-dir", type=click.Path(file_okay=False), default=None,
                               help="Folder with the dataset files (default: $HETREC_DATA, else ~/.hetrec/data).")
verify_option = click.option("--verify/--no-verify", default=True, show_default=True,
                             help="Check every file against its published checksum.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hetrec")
def main():
    """hetrec: recommendation on heterogeneous graphs (MTHGT and baselines) with DGL."""


@main.group()
def data():
    """Inspect datasets."""


@data.command("info")
@click.argument("dataset", type=click.Choice(DATASET_CHOICES), required=False)
@click.option("--tables", type=click.Path(file_okay=False), default=None,
              help="A folder of your own tables (interactions.csv, user_<attr>.csv, item_<attr>.csv).")
@data_dir_option
@verify_option
def data_info(dataset, tables, data_dir, verify):
    """Node counts per type, edge counts per relation and interaction density of DATASET."""
    if not dataset and not tables:
        raise click.UsageError(f"name a DATASET ({', '.join(DATASET_CHOICES)}) or give --tables")
    ds = _load(dataset, data_dir, verify, tables)
    click.echo(format_info(ds))


def format_info(ds) -> str:
    from .data import INTERACTS, ITEM, USER

    g = ds.graph
    lines = [f"dataset: {getattr(ds, 'name', 'tables')}"
             + ("" if getattr(ds, "verified", True) else "  (UNVERIFIED: checksums did not match)")]
    lines.append("nodes:")
    for t in sorted(g.ntypes, key=lambda t: ({USER: 0, ITEM: 1}.get(t, 2), t)):
        lines.append(f"  {t:<14}{g.num_nodes(t):>12,}")
    lines.append("edges:")
    for et in sorted(g.canonical_etypes, key=lambda e: (e != INTERACTS, e)):
        lines.append(f"  {'(' + ', '.join(et) + ')':<42}{g.num_edges(et):>12,}")
    nu, ni, ne = g.num_nodes(USER), g.num_nodes(ITEM), g.num_edges(INTERACTS)
    lines.append(f"interaction density: {ne:,} / ({nu:,} x {ni:,}) = {ne / max(nu * ni, 1):.6f}")
    dropped = getattr(ds, "dropped", {}) or {}
    if dropped:
        lines.append("dropped rows:")
        lines += [f"  {k}: {v:,}" for k, v in dropped.items()]
    else:
        lines.append("dropped rows: none")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
