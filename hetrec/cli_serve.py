"""``hetrec recommend`` and ``hetrec export``: serving a trained run (hetrec.serve, docs/serving.md).

Kept apart from hetrec/cli.py, which adds these commands to its ``main`` group; both take their
shared helpers from hetrec/cli_common.py.
"""
from __future__ import annotations

import time

import click

from .cli_common import IN_DIR, IN_FILE, OUT_FILE, _device, _fail, _warnings_echoed, device_option

threads_option = click.option("--threads", type=click.IntRange(min=1), default=None, help="torch intra-op threads.")


def _serve_errors():
    from .data import DataError
    from .train import TrainingError

    return (DataError, TrainingError, ValueError, OSError)


def _open_run(run_dir, fold, device, threads):
    import torch

    from .serve import load_run

    if threads:
        torch.set_num_threads(threads)
    with _warnings_echoed():  # an old run folder or a rebuilt cache: one warning line each
        return load_run(run_dir, fold=fold, device=_device(device))


def _parse_attributes(pairs) -> dict:
    """``KEY=VALUE`` options -> {attribute: [values]} (a key may repeat)."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--attributes")
        out.setdefault(key.strip(), []).append(value.strip())
    return out


def _parse_items(text: str) -> list:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise click.BadParameter("give at least one item id, e.g. --items 1193,661,914", param_hint="--items")
    try:
        return [int(p) for p in parts]
    except ValueError:
        raise click.BadParameter(f"expected item ids separated by commas, got {text!r}", param_hint="--items") from None


@click.command("recommend")
@click.option("--run", "run_dir", type=IN_DIR, required=True)
@click.option("--user", "user", type=int, default=None, help="One user, by its id in the source data (printed).")
@click.option("--users", "users_file", type=IN_FILE, default=None,
              help="Users listed in a file: one raw id per line, or a column of a CSV file (--users-column).")
@click.option("--users-column", default=None, metavar="NAME", help="The column of user ids in the --users file (a CSV with a header).")
@click.option("--all-users", is_flag=True, help="Every user of the dataset.")
@click.option("--items", "items", default=None, metavar="ID,ID,...",
              help="A new user given by the raw ids of the items it interacted with (folding in).")
@click.option("--attributes", "attributes", multiple=True, metavar="KEY=VALUE",
              help="A new user given by attribute values (cold start), e.g. --attributes gender=F --attributes "
                   "age=25 (repeatable; with --items too: her first items).")
@click.option("-k", "k", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--output", type=OUT_FILE, default=None,
              help="Write the table to this file (.csv or .parquet); required with --users / --all-users.")
@click.option("--fold", type=int, default=None, help="Which fold's model (default: the first trained).")
@threads_option
@device_option
def recommend(run_dir, user, users_file, users_column, all_users, items, attributes, k, output, fold, threads, device):
    """Top-k items (raw id and name) from a trained run: for one user (printed), for the users of
    a file or every user (--output FILE: columns user, rank, item, item_name, score), or for a new
    user given by its items and / or attribute values (cold start). Items a known user has interacted
    with are never recommended; a new user's given items neither."""
    chosen = [n for n, v in (("--user", user is not None), ("--users", users_file), ("--all-users", all_users),
                             ("--items", items and not attributes), ("--attributes", attributes)) if v]
    if len(chosen) != 1:
        raise click.UsageError("name the users with one of --user, --users FILE, --all-users or --items"
                               + (f" (got {', '.join(chosen)})" if chosen else ""))
    attrs = _parse_attributes(attributes) if attributes else None
    if users_column and not users_file:
        raise click.UsageError("--users-column goes with --users FILE")
    if (users_file or all_users) and not output:
        raise click.UsageError(f"{chosen[0]} writes a table: give --output FILE (.csv or .parquet)")
    from .serve import output_format, read_user_ids, write_table

    history = _parse_items(items) if items else None
    try:
        if output:
            output_format(output)  # a bad extension or a missing folder fails before the model loads
        raw_users = read_user_ids(users_file, users_column) if users_file else None
        served = _open_run(run_dir, fold, device, threads)
        start = time.perf_counter()
        if attrs is not None:
            table = served.recommend_new_user(attrs, history, k).drop(columns="user")
        elif history is not None:
            table = served.recommend_items(history, k).drop(columns="user")
        else:
            table = served.recommend(None if all_users else [user] if user is not None else raw_users, k)
        if output:
            write_table(table, output)
        seconds = time.perf_counter() - start
    except _serve_errors() as err:
        _fail(err)
    if output:
        n = table["user"].nunique() if "user" in table else 1
        click.echo(f"wrote {len(table):,} recommendations for {n:,} user(s) to {output} "
                   f"({served.config.dataset} / {served.config.model}, fold {served.fold}; {seconds:.2f} s)")
        return
    who = (f"user {user}" if user is not None else
           "a new user with " + " and ".join(([", ".join(f"{a}={'/'.join(v)}" for a, v in attrs.items())] if attrs else [])
                                              + ([f"{len(set(history))} item(s)"] if history else [])))
    click.echo(f"top {len(table)} items for {who} ({served.config.dataset} / {served.config.model}, fold {served.fold}):")
    for rank, raw, name, score in table[["rank", "item", "item_name", "score"]].itertuples(index=False):
        click.echo(f"{rank:3d}. {raw:>8}  {name}  ({score:.3f})")


@click.command("export")
@click.option("--run", "run_dir", type=IN_DIR, required=True)
@click.option("--out", "out", type=OUT_FILE, required=True,
              help="The embeddings file: .parquet (kind, id, name, embedding) or .npz (NumPy arrays).")
@click.option("--index", "index", type=click.Choice(["none", "faiss", "faiss-flat"]), default="none", show_default=True,
              help="Also write a FAISS inner-product index of the item vectors beside --out (<out>.faiss): "
                   "faiss = approximate (HNSW), faiss-flat = exact. Needs faiss-cpu (pip install 'hetrec[serve]').")
@click.option("--hnsw-m", type=click.IntRange(min=4), default=32, show_default=True, help="Links per node of the HNSW index.")
@click.option("--fold", type=int, default=None, help="Which fold's model (default: the first trained).")
@threads_option
@device_option
def export(run_dir, out, index, hnsw_m, fold, threads, device):
    """Write a trained run's user and item vectors (inner product = the model's score) with their
    raw ids, and optionally a FAISS index of the item vectors for approximate top-k."""
    from pathlib import Path

    from .serve import EMBEDDING_FORMATS, build_faiss_index, output_format, write_embeddings, write_faiss_index
    from .serve.files import faiss_module

    index_path = Path(out).with_suffix(".faiss")
    try:
        output_format(out, EMBEDDING_FORMATS)
        if index != "none":
            faiss_module()  # a missing faiss fails before the model loads
        served = _open_run(run_dir, fold, device, threads)
        users, items = served.embeddings()
        if index != "none":  # the index first: the embeddings file then marks a complete export
            write_faiss_index(build_faiss_index(items, "hnsw" if index == "faiss" else "flat", hnsw_m), index_path)
        write_embeddings(out, served.user_ids, users, served.item_ids, served.item_names, items)
    except _serve_errors() as err:
        _fail(err)
    click.echo(f"wrote {len(users):,} user and {len(items):,} item vectors of size {users.shape[1]} to {out}"
               + (f" and a FAISS {'HNSW' if index == 'faiss' else 'flat'} index of the items to {index_path}"
                  if index != "none" else "")
               + f" ({served.config.dataset} / {served.config.model}, fold {served.fold})")


__all__ = ["recommend", "export"]
