"""The ``hetrec`` command line."""
from __future__ import annotations

import os
import re
import sys

os.environ.setdefault("DGLBACKEND", "pytorch")

import click  # noqa: E402

from . import __version__  # noqa: E402
from .cli_common import (  # noqa: E402 - the helpers every command group shares
    DATASET_CHOICES,
    IN_DIR,
    IN_FILE,
    OUT_DIR,
    CommandGroup,
    _device,
    _fail,
    _load,
    _model_names,
    _warnings_echoed,
    data_dir_option,
    device_option,
    verify_option,
)


@click.group(cls=CommandGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hetrec")
def main():
    """hetrec: recommendation on heterogeneous graphs (MTHGT and baselines) with DGL."""


@main.group()
def data():
    """Inspect datasets."""


@data.command("info")
@click.argument("dataset", type=click.Choice(DATASET_CHOICES), required=False)
@click.option("--tables", type=IN_DIR, default=None,
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


def _parse_sets(pairs) -> dict:
    """``key=value`` pairs; values parse as JSON (numbers, true/false, null), else as text."""
    import json

    out = {}
    for item in pairs:
        if "=" not in item:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--set")
        key, value = item.split("=", 1)
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def _train_errors():
    from .data import DataError
    from .train import TrainingError

    return (DataError, TrainingError, ValueError)


@main.command()
@click.option("--dataset", type=click.Choice(DATASET_CHOICES), default="lastfm", show_default=True)
@click.option("--tables", type=IN_DIR, default=None,
              help="Train on your own tables folder instead of a named dataset.")
@click.option("--model", "model_name", type=click.Choice(_model_names()), default="mthgt", show_default=True)
@click.option("--fold", type=click.IntRange(min=0), default=None, help="Run this fold of a 5-fold split (default: fold 0).")
@click.option("--folds", type=click.IntRange(min=2), default=None, help="Run all K folds of a K-fold split (K >= 2).")
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="Most epochs (early stopping may end sooner; default: the model's recommended setting).")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True, max=10), default=None,
              help="Adam learning rate (default: the model's recommended setting).")
@click.option("--patience", type=click.IntRange(min=1), default=None, help="Epochs without validation NDCG@10 gain before stopping.")
@click.option("--val-ratio", type=click.FloatRange(min=0, max=1, min_open=True, max_open=True), default=0.1,
              show_default=True, help="Share of each user's non-test interactions held out for validation.")
@click.option("--max-batches", type=click.IntRange(min=1), default=None, help="Cap on batches per epoch (quick runs).")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="torch intra-op threads.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Model setting, e.g. --set hidden_size=32 (repeatable).")
@data_dir_option
@verify_option
@click.option("--out", type=OUT_DIR, default=None,
              help="Run folder (default: runs/<dataset>-<model>-seed<seed>).")
@click.option("--seed", type=click.IntRange(min=0, max=2**32 - 1), default=0, show_default=True)
@click.option("--resume", is_flag=True, help="Continue an interrupted run in --out.")
@device_option
@click.option("--nproc", type=click.IntRange(min=1, max=64), default=1, show_default=True,
              help="Data-parallel processes per fold (DistributedDataParallel; gloo on CPU, nccl on GPU).")
def train(dataset, tables, model_name, fold, folds, epochs, lr, patience, val_ratio, max_batches, threads, sets,
          data_dir, verify, out, seed, resume, device, nproc):
    """Train and test a model under the hetrec protocol; prints test metrics (mean ± std over folds)."""
    from .eval import format_metrics_table
    from .models import model_config
    from .train import TrainConfig
    from .train.experiment import ExperimentConfig, run_experiment

    if fold is not None and folds is not None:
        raise click.UsageError("give either --fold F or --folds K, not both")
    k = folds or 5
    fold_list = list(range(folds)) if folds else [fold if fold is not None else 0]
    if fold is not None and fold >= k:
        raise click.BadParameter(f"fold {fold} does not exist in a {k}-fold split (folds 0..{k - 1})",
                                 param_hint="--fold")
    overrides = _parse_sets(sets)
    try:
        model_config(model_name, **overrides)  # unknown settings fail before any data is read
    except (ValueError, TypeError) as err:
        raise click.BadParameter(str(err), param_hint="--set") from None
    from .models import training_settings

    # the model's recommended lr / epochs / patience, unless given on the command line
    settings = training_settings(model_name)
    settings.update({n: v for n, v in (("epochs", epochs), ("lr", lr), ("patience", patience)) if v is not None})
    try:
        tcfg = TrainConfig(seed=seed, num_threads=threads, max_batches=max_batches, **settings)
    except ValueError as err:
        raise click.UsageError(str(err)) from None
    device = _device(device)
    label = "tables" if tables else dataset
    cfg = ExperimentConfig(dataset=label, model=model_name, folds=fold_list, k=k, seed=seed, val_ratio=val_ratio, nproc=nproc,
                           data_dir=data_dir, verify=verify, tables=tables, model_overrides=overrides, train=tcfg)
    out = out or f"runs/{label}-{model_name}-seed{seed}"
    ds = _load(dataset, data_dir, verify, tables)
    try:
        summary = run_experiment(cfg, out, resume=resume, log=lambda m: click.echo(m, err=True), dataset=ds,
                                 device=device)
    except _train_errors() as err:
        _fail(err)
    folds_run = [summary["folds"][f]["test"] for f in fold_list]
    click.echo(f"{label} / {model_name}: test metrics over {len(fold_list)} fold(s) (run folder: {out})")
    click.echo(format_metrics_table({model_name: folds_run} if len(folds_run) > 1 else {model_name: folds_run[0]},
                                    tcfg.ns))


@main.command()
@click.option("--run", "run_dir", type=IN_DIR, required=True)
@click.option("--data-dir", type=IN_DIR, default=None, help="Override the run's data folder.")
@device_option
def evaluate(run_dir, data_dir, device):
    """Re-evaluate the saved models of a run on their test folds."""
    from .eval import format_metrics_table
    from .train import evaluate as evaluate_model
    from .train.runs import load_fold_model, load_run, trained_folds

    device = _device(device)
    try:
        with _warnings_echoed():
            cfg, ds = load_run(run_dir, data_dir=data_dir)  # --data-dir: checked against the run's digests
        folds = trained_folds(run_dir, cfg.k)
        if not folds:
            raise click.ClickException(f"{run_dir}: no trained fold (fold-*/model.pt)")
        rows = {}
        for f in folds:
            model, split = load_fold_model(run_dir, f, cfg, ds, device=device)
            rows[f"fold {f}"] = evaluate_model(model, split.train + split.val, split.test, cfg.train.ns)
    except _train_errors() as err:
        _fail(err)
    if len(rows) > 1:
        rows["mean ± std"] = list(rows.values())
    click.echo(f"{cfg.dataset} / {cfg.model}: test metrics")
    click.echo(format_metrics_table(rows, cfg.train.ns))


PARTITION_METHODS = ["auto", "metis", "random"]  # hetrec.distributed.METHODS (tests check they agree)


@main.command()
@click.option("--dataset", type=click.Choice(DATASET_CHOICES), default=None, help="Partition a named dataset.")
@click.option("--tables", type=IN_DIR, default=None, help="Partition your own tables folder.")
@click.option("--synthetic", "synthetic_n", type=click.IntRange(min=100), default=None, metavar="INTERACTIONS",
              help="Partition a synthetic graph with this many interactions (users n/15, items n/10), generated with --seed.")
@click.option("--fold", type=click.IntRange(min=0), default=0, show_default=True, help="Whose training graph to partition.")
@click.option("--k", type=click.IntRange(min=2), default=5, show_default=True, help="Folds of the split.")
@click.option("--val-ratio", type=click.FloatRange(min=0, max=1, min_open=True, max_open=True), default=0.1,
              show_default=True, help="Share of each user's non-test interactions held out for validation.")
@click.option("--seed", type=click.IntRange(min=0, max=2**32 - 1), default=0, show_default=True,
              help="Seed of the split (and of the synthetic graph and a random partitioning).")
@click.option("--num-parts", type=click.IntRange(min=1), required=True, help="Number of partitions (machines).")
@click.option("--method", type=click.Choice(PARTITION_METHODS), default="auto", show_default=True,
              help="auto: METIS when this DGL build has it, else random.")
@click.option("--out", type=OUT_DIR, required=True, help="A new or empty folder for the partitions.")
@click.option("--threads", type=click.IntRange(min=1), default=None, help="torch intra-op threads.")
@data_dir_option
@verify_option
def partition(dataset, tables, synthetic_n, fold, k, val_ratio, seed, num_parts, method, out, threads, data_dir, verify):
    """Partition a fold's training graph for DGL's distributed engine (dgl.distributed.partition_graph).

    Validation and test interactions are not in the partitions (nor their reverses); they are
    stored beside them in heldout.npz. hetrec_partition.json records the data, the split and the
    sha256 of every file.
    """
    from pathlib import Path

    from .distributed import PartitionError, metis_available, partition_fold
    from .distributed.partition import _check_new_folder

    given = [name for name, v in (("--dataset", dataset), ("--tables", tables), ("--synthetic", synthetic_n)) if v]
    if len(given) != 1:
        raise click.UsageError("name the data to partition with one of --dataset, --tables or --synthetic"
                               + (f" (got {' and '.join(given)})" if given else ""))
    if fold >= k:
        raise click.BadParameter(f"fold {fold} does not exist in a {k}-fold split (folds 0..{k - 1})", param_hint="--fold")
    if method == "metis" and not metis_available():
        raise click.BadParameter("this DGL build has no METIS: use --method random (or auto, which falls back to it)",
                                 param_hint="--method")
    try:
        _check_new_folder(out)  # before any data is read
    except PartitionError as err:
        _fail(err)
    if threads:
        import torch

        torch.set_num_threads(threads)
    from .data import DataError, kfold_split
    from .data import synthetic as synthetic_graph

    if synthetic_n:
        sizes = {"num_users": max(2, synthetic_n // 15), "num_items": max(2, synthetic_n // 10),
                 "num_interactions": synthetic_n}
        graph, label = synthetic_graph(**sizes, seed=seed), "synthetic"
        source = {"synthetic": {**sizes, "seed": seed}}
    else:
        ds = _load(dataset, data_dir, verify, tables)
        graph, label = ds.graph, "tables" if tables else dataset
        if tables:
            source = {"tables": str(Path(tables).resolve())}
        else:
            from .data import data_root

            source = {"dataset": dataset, "data_dir": str(data_root(data_dir).resolve()),
                      "verified": bool(getattr(ds, "verified", True))}
    splits = kfold_split(graph, k=k, seed=seed, val_ratio=val_ratio)
    name = re.sub(r"[^A-Za-z0-9_]", "_", f"{label}_fold{fold}")
    try:
        meta = partition_fold(splits, fold, num_parts, out, method=method, seed=seed, source=source, graph_name=name,
                              log=lambda m: click.echo(m, err=True))
    except (PartitionError, DataError, ValueError) as err:
        _fail(err)
    why = {("auto", "metis"): "METIS is available in this DGL build",
           ("auto", "random"): "METIS is not available in this DGL build" if not metis_available()
           else "METIS left a partition without a node of some type or an edge of some relation"}
    reason = why.get((method, meta["method"]), "asked for")
    click.echo(f"partitioned the training graph of {label}, fold {fold} of a {k}-fold split (seed {seed}), "
               f"into {num_parts} part(s)")
    click.echo(f"method: {meta['method']} ({reason})")
    nodes, edges = sum(meta["train_graph"]["num_nodes"].values()), meta["edges"]
    click.echo(f"training graph: {nodes:,} nodes, {edges:,} edges; held out: {meta['heldout']['val']:,} validation "
               f"and {meta['heldout']['test']:,} test interactions (heldout.npz, not in any partition)")
    for p, part in enumerate(meta["parts"]):
        click.echo(f"  part {p}: owns {sum(part['nodes'].values()):,} nodes and {sum(part['edges'].values()):,} edges")
    click.echo(f"edges cut (ends in different parts): {meta['cut_edges']:,} of {edges:,} "
               f"({100 * meta['cut_edges'] / max(edges, 1):.1f} %)")
    click.echo(f"wrote {out} in {meta['seconds']:.1f} s: {meta['bytes'] / 2**20:.1f} MiB, "
               f"DGL configuration {meta['dgl_config']}, metadata hetrec_partition.json")


DIST_MODEL_CHOICES = ["bprmf", "lightgcn", "mthgt"]  # hetrec.distributed.DIST_MODELS (tests check they agree)
# hetrec.distributed.mthgt.PRESETS (tests check they agree; not imported here, so that the CLI starts without DGL)
DIST_PRESET_CHOICES = ["mthgt-sampled", "hgt", "hgt-d", "hgt-m", "mthgt", "mthgt-minibatch"]
DIST_RESULTS_FILE = "results.json"


@main.command("dist-train")
@click.option("--parts", type=IN_DIR, required=True,
              help="A partition folder made by hetrec partition (one DGL graph server per partition).")
@click.option("--model", "model_name", type=click.Choice(DIST_MODEL_CHOICES), required=True)
@click.option("--preset", type=click.Choice(DIST_PRESET_CHOICES), default=None,
              help="MTHGT's preset (default mthgt-sampled). mthgt (hetrec's recipe) and mthgt-minibatch train in the "
                   "mini-batch mode (historical embeddings, in-edges drawn through DGL's distributed sampler); hgt "
                   "and hgt-m sample subgraphs with DGL's distributed neighbour sampler, mthgt-sampled and hgt-d "
                   "with the dense sampler on each partition plus HALO.")
@click.option("--num-trainers", type=click.IntRange(min=1), default=None,
              help="Trainer processes, a multiple of the number of partitions (default: one per partition).")
@click.option("--epochs", type=click.IntRange(min=1), default=None,
              help="Most epochs (default 30, MTHGT its preset's; early stopping may end sooner).")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True, max=10), default=None,
              help="Learning rate of SparseAdam (and of Adam on MTHGT's dense parameters) (default 0.001, MTHGT its "
                   "preset's).")
@click.option("--batch-size", type=click.IntRange(min=1), default=None,
              help="BPR triples (MTHGT: interactions) per step over all trainers (default 2048, MTHGT its preset's).")
@click.option("--embedding-size", type=click.IntRange(min=1), default=None,
              help="Size d of the embeddings (default 64, MTHGT its preset's hidden_size).")
@click.option("--num-layers", type=click.IntRange(min=1), default=None,
              help="LightGCN's K (default 3) or MTHGT's number of layers (default its preset's).")
@click.option("--eval-every", type=click.IntRange(min=0), default=None,
              help="Validate every this many epochs (default 1); 0: no validation, the last epoch is tested.")
@click.option("--patience", type=click.IntRange(min=1), default=None,
              help="Validations without NDCG@10 gain before stopping (default 5).")
@click.option("--seed", type=click.IntRange(min=0, max=2**32 - 1), default=0, show_default=True)
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True, help="torch threads per process.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=1), default=3600, show_default=True,
              help="Seconds before every process is stopped and the run fails.")
@click.option("--save-embeddings", is_flag=True,
              help="Also write the tested epoch's user and item embeddings (embeddings.pt, the dataset's ids).")
@click.option("--out", type=OUT_DIR, required=True,
              help="A new or empty folder for the run: results.json, embeddings.pt, logs/.")
@click.option("--prepare", "prepare_dir", type=OUT_DIR, default=None,
              help="Do not train: write a job for DGL's tools/launch.py into this new or empty folder (job.json, "
                   "ip_config.txt) and print the launch.py command line (a run across the machines of --ip-config; "
                   "the partition, job and --out folders must be at the same paths on every machine).")
@click.option("--ip-config", "ip_config", type=IN_FILE, default=None,
              help="With --prepare: one 'IP [PORT]' line per machine, as many machines as partitions.")
def dist_train(parts, model_name, preset, num_trainers, epochs, lr, batch_size, embedding_size, num_layers, eval_every,
               patience, seed, threads, timeout_s, save_embeddings, out, prepare_dir, ip_config):
    """Train BPR-MF, LightGCN or MTHGT on a DistGraph of partitions, every process on this machine (127.0.0.1),
    or, with --prepare, prepare the same run across machines for DGL's launch.py.

    Starts one DGL graph server per partition and --num-trainers trainers, validates every
    --eval-every epochs on the fold's validation interactions (early stopping), tests the best
    epoch on its test interactions, and writes results.json (atomically) and each process's log
    (logs/) into --out. With --prepare, launch.py's trainer 0 writes results.json (and
    embeddings.pt) into --out.
    """
    import json
    from pathlib import Path

    from . import __version__ as version
    from ._io import LockedError, atomic_torch_save, atomic_write_text, exclusive_lock
    from .distributed import DIST_MODELS, DistributedTrainingError, PartitionError, check_partition, train_distributed
    from .eval import format_metrics_table

    if num_layers is not None and model_name == "bprmf":
        raise click.BadParameter(f"{model_name} has no layers: --num-layers is LightGCN's and MTHGT's",
                                 param_hint="--num-layers")
    if preset is not None and model_name != "mthgt":
        raise click.BadParameter(f"{model_name} has no presets: --preset is MTHGT's", param_hint="--preset")
    given = {"epochs": epochs, "lr": lr, "batch_size": batch_size, "embedding_size": embedding_size,
             "num_layers": num_layers, "eval_every": eval_every, "patience": patience}
    if model_name == "mthgt":  # the model's own settings are overrides of its preset
        model_settings = {"batch_size": given.pop("batch_size"), "hidden_size": given.pop("embedding_size"),
                          "num_layers": given.pop("num_layers")}
        given.update(preset=preset or "mthgt-sampled",
                     overrides={k: v for k, v in model_settings.items() if v is not None})
    try:
        config = DIST_MODELS[model_name](seed=seed, **{k: v for k, v in given.items() if v is not None})
    except ValueError as err:
        raise click.UsageError(str(err)) from None
    out = Path(out)
    if (prepare_dir is None) != (ip_config is None):
        raise click.UsageError("--prepare and --ip-config go together: --prepare DIR --ip-config FILE prepares a run "
                               "of DGL's launch.py across the machines of FILE")
    if prepare_dir is not None:
        from .distributed.worker import prepare_launch

        try:
            meta = check_partition(parts)
            if num_trainers is not None and num_trainers % meta["num_parts"]:
                raise click.BadParameter(f"{num_trainers} is not a multiple of the {meta['num_parts']} partition(s) "
                                         f"of {parts}", param_hint="--num-trainers")
            job = prepare_launch(parts, model_name, config=config, ip_config=ip_config, job_dir=prepare_dir,
                                 out_dir=out, num_trainers=num_trainers, threads=threads,
                                 return_embeddings=save_embeddings, verify=False)
        except (PartitionError, ValueError, OSError) as err:
            _fail(err)
        click.echo(f"wrote {job['job']} and {job['ip_config']}: {model_name} on {len(job['machines'])} machine(s), "
                   f"one graph server and {job['trainers_per_machine']} trainer(s) each; results.json goes to "
                   f"{Path(out).resolve()}")
        click.echo("from DGL's repository (tools/launch.py is not in the pip wheel), on the first machine of "
                   f"{job['ip_config']}, with passwordless ssh to every machine and hetrec installed on each:")
        click.echo(job["command"])
        return

    def check_unused():
        if out.exists() and not out.is_dir():
            raise ValueError(f"--out {out} is a file, not a folder")
        used = sorted(p.name for p in out.iterdir() if p.name != ".lock") if out.is_dir() else []
        if used:
            raise ValueError(f"--out {out} is not empty ({', '.join(used[:3])}{' …' if len(used) > 3 else ''}): "
                             "a dist-train folder holds one run; choose a new or empty folder")

    try:
        check_unused()
        meta = check_partition(parts)  # before anything is created
        if num_trainers is not None and num_trainers % meta["num_parts"]:
            raise click.BadParameter(f"{num_trainers} is not a multiple of the {meta['num_parts']} partition(s) of "
                                     f"{parts}", param_hint="--num-trainers")
        out.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(out / ".lock", f"run folder {out}"):
            check_unused()  # again, now that no other run can start here
            result = train_distributed(parts, model_name, num_trainers=num_trainers, config=config,
                                       timeout_s=timeout_s, threads=threads, return_embeddings=save_embeddings,
                                       log_dir=out / "logs", log=lambda m: click.echo(m, err=True), verify=False)
            embeddings = {"user": result.pop("user_embeddings", None), "item": result.pop("item_embeddings", None)}
            result.pop("user_raw_id")
            record = {"parts": str(Path(parts).resolve()), "graph_name": meta["graph_name"],
                      "split": {k: meta[k] for k in ("fold", "k", "seed", "val_ratio")},
                      "hetrec_version": version, **result}
            if save_embeddings:
                atomic_torch_save({**embeddings, "model": model_name, "best_epoch": result["best_epoch"]},
                                  out / "embeddings.pt")
            atomic_write_text(out / DIST_RESULTS_FILE, json.dumps(record, indent=2) + "\n")
    except (PartitionError, DistributedTrainingError, LockedError, ValueError, OSError) as err:
        _fail(err)
    r = result
    stop = "stopped early" if r["stopped_early"] else "no early stop"
    name = f"{model_name} ({config.preset})" if model_name == "mthgt" else model_name
    click.echo(f"{name} on {parts}: {r['num_servers']} graph server(s), {r['num_trainers']} trainer(s); "
               f"{r['epochs_run']} epoch(s) ({stop}), tested epoch {r['best_epoch']}; {r['seconds']:.1f} s")
    rows = {"test": r["test"]}
    if r["val"]:
        rows = {"validation": r["val"], **rows}
    click.echo(format_metrics_table(rows, config.ns))
    click.echo(f"wrote {out / DIST_RESULTS_FILE}" + (f" and {out / 'embeddings.pt'}" if save_embeddings else ""))


# `hetrec tune` lives in hetrec/cli_tune.py, `hetrec recommend` and `hetrec export` in
# hetrec/cli_serve.py (they share hetrec/cli_common.py with this module)
from .cli_serve import export, recommend  # noqa: E402
from .cli_tune import tune  # noqa: E402

main.add_command(tune)
main.add_command(recommend)
main.add_command(export)

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
