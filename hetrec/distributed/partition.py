"""A fold's training graph partitioned with :func:`dgl.distributed.partition_graph`.

The graph that is partitioned is ``kfold_split(g, k, seed, val_ratio)[fold].train_graph``: every
node, every relation and its reverse, but none of the fold's validation or test interactions
(in either direction). Those go to ``heldout.npz`` beside the partitions, for a later
distributed evaluation. A partition folder holds::

    <graph_name>.json        DGL's partition configuration (dgl.distributed.load_partition / DistGraph)
    part<i>/graph.dgl        partition i: its nodes and edges plus HALO nodes (DGL's files)
    part<i>/node_feat.dgl    node data of the nodes partition i owns (raw_id, ...)
    part<i>/edge_feat.dgl    edge data of the edges partition i owns (weight, count, ...)
    orig_ids.npz             DGL's ids -> the dataset graph's ids, per node type and relation
    heldout.npz              the fold's validation and test interactions (user, item, edge id)
    partition.log            DGL's own report
    hetrec_partition.json    what was partitioned (data, split, fold and their sha256), how
                             (method, parts, seed), counts, and the sha256 of every other file;
                             its own integrity record (hetrec/_integrity.py: what it belongs to
                             and the digest of its content), every field type-checked when read

DGL renumbers nodes and edges so that each partition owns one contiguous id range per type.
``orig_ids.npz`` undoes that: ``node:<type>[i]`` is the dataset graph's id of node ``i`` of that
type in DGL's numbering, ``edge:<src>:<rel>:<dst>[i]`` the dataset graph's edge id of edge ``i``
of that relation (for ``interacts`` and ``interacted_by`` the id in the full graph, which
``dgl.EID`` of the training graph records; other relations keep every edge, with the same ids).

The folder is written into a temporary sibling (``.<name>.partial-*``) and renamed into place
when complete, so an interrupted run never leaves a half-written partition folder.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import time
from functools import lru_cache
from pathlib import Path

import numpy as np

from .. import _schemas
from .._errors import first_line, is_native_error, native_os_error, os_error_line
from .._integrity import parse_json, read_file_text, unseal, write_json
from .._io import atomic_write_bytes, atomic_write_text, temporary_prefix
from ..data import INTERACTED_BY, INTERACTS, graph_digest

#: The partitioning methods; ``auto`` is METIS when this DGL build has it, else random.
METHODS = ("auto", "metis", "random")
#: hetrec's own metadata, written last (a folder without it is not a finished partition folder).
METADATA_FILE = "hetrec_partition.json"
#: The fold's validation and test interactions (``{val,test}_{users,items,eids}`` in the dataset graph's ids).
HELDOUT_FILE = "heldout.npz"
#: DGL's ids to the dataset graph's ids (arrays ``node:<type>`` and ``edge:<src>:<rel>:<dst>``).
ORIG_IDS_FILE = "orig_ids.npz"
LOG_FILE = "partition.log"
FORMAT = 2  # 2: hetrec_partition.json carries an integrity record
#: Random assignments drawn (seeds ``seed``, ``seed + 1``, ...) before a random partitioning gives up.
RANDOM_DRAWS = 20
HALO_HOPS = 1
_CHUNK = 1 << 20


class PartitionError(Exception):
    """A partitioning that cannot be done, or a partition folder that does not match the data."""


def _etype_key(etype) -> str:
    return ":".join(etype)  # DGL's own spelling of a canonical edge type in its files


@lru_cache(maxsize=1)
def metis_available() -> bool:
    """Whether this DGL build can partition with METIS (the PyPI wheels for Linux can; some
    builds, e.g. for Windows, cannot). Tried once on a four-node graph, then remembered."""
    import dgl
    import torch

    ring = dgl.graph((torch.tensor([0, 1, 2, 3]), torch.tensor([1, 2, 3, 0])))
    try:
        with contextlib.redirect_stdout(io.StringIO()), _native_stderr_silenced():
            dgl.metis_partition_assignment(ring, 2)
    except Exception:  # DGL reports a build without METIS as a DGLError from its C library
        return False
    return True


@contextlib.contextmanager
def _native_stderr_silenced():
    """Send file descriptor 2 to /dev/null for the block: DGL's C library logs every METIS run
    there, and the probe's run on a toy graph would only confuse."""
    import sys

    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable descriptor 2: nothing to silence
        yield
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def _check_new_folder(out_dir) -> Path:
    """``out_dir`` as a Path, refused when it is a file or a folder that holds anything: a
    partition folder holds one partitioning."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise PartitionError(f"{out} is a file, not a folder")
    if out.is_dir():
        names = sorted(p.name for p in out.iterdir())
        if names:
            raise PartitionError(f"{out} is not empty ({', '.join(names[:3])}{' …' if len(names) > 3 else ''}): "
                                 "a partition folder holds one partitioning; choose a new or empty folder")
    return out


def _check_partitionable(graph, num_parts: int) -> None:
    """DGL 2.1's ``partition_graph`` fails (an IndexError deep inside) when a partition owns no
    node of some type or no edge of some relation (dmlc/dgl#7779, fixed in later DGL). Refuse
    up front what no assignment can satisfy, naming the type or relation."""
    import dgl

    where = (f"DGL {dgl.__version__}'s partition_graph needs every partition to own at least one node of "
             "each type and one edge of each relation (dmlc/dgl#7779)")
    small = sorted((graph.num_nodes(t), t) for t in graph.ntypes if graph.num_nodes(t) < num_parts)
    if small:
        n, t = small[0]
        raise PartitionError(f"node type {t!r} has {n} node{'s' * (n != 1)}, fewer than the {num_parts} parts asked "
                             f"for: {where}; use at most {n} part{'s' * (n != 1)}")
    for et in graph.canonical_etypes:
        # an edge belongs to the partition of its destination node
        reached = len(np.unique(graph.edges(etype=et)[1].numpy()))
        if reached < num_parts:
            raise PartitionError(f"relation {et} reaches only {reached} distinct node{'s' * (reached != 1)}, fewer than the "
                                 f"{num_parts} parts asked for: {where}; use at most {max(reached, 1)} part(s)")


def _methods_to_try(method: str, num_parts: int) -> list:
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if method == "metis" and not metis_available():
        raise PartitionError("this DGL build has no METIS (dgl.metis_partition_assignment fails): "
                             "use method 'random' (or 'auto', which falls back to it)")
    if method != "auto":
        return [method]
    return ["metis", "random"] if metis_available() else ["random"]


def _empty_children(folder: Path) -> None:
    for p in folder.iterdir():
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()


def _run_dgl(train_graph, graph_name: str, num_parts: int, folder: Path, methods: list, seed: int, log) -> tuple:
    """Partition with the first method (and, for random, the first draw) that gives every
    partition a node of each type and an edge of each relation. Returns
    ``(method, seed of the random draw or None, orig node ids, orig edge ids, DGL's report)``."""
    import dgl

    for method in methods:
        draws = [seed + a for a in range(RANDOM_DRAWS)] if method == "random" and num_parts > 1 else [None]
        for draw in draws:
            if draw is not None:
                dgl.seed(draw)  # DGL draws the random assignment from its own generator
            report = io.StringIO()
            _empty_children(folder)
            try:
                with contextlib.redirect_stdout(report):  # DGL prints a line per partition, type and relation
                    nmap, emap = dgl.distributed.partition_graph(
                        train_graph, graph_name, num_parts, str(folder), num_hops=HALO_HOPS, part_method=method,
                        return_mapping=True)
            except IndexError:  # a partition without a node of some type or an edge of some relation
                continue
            except Exception as err:  # DGL raises DGLError, AssertionError, ...
                cause = err if isinstance(err, OSError) else native_os_error(err, folder) if is_native_error(err) else None
                if cause is not None:  # a full disk, ...: partition_fold names --out
                    raise cause from None
                raise PartitionError(f"dgl.distributed.partition_graph ({method}) failed: {first_line(str(err))}"
                                     ) from err
            if draw is not None and draw != seed:
                log(f"random draws {seed}..{draw - 1} left a partition without a node of some type or an edge "
                    f"of some relation; draw {draw} did not")
            return method, draw, nmap, emap, report.getvalue()
        if method == "metis" and "random" in methods:
            log("METIS left a partition without a node of some type or an edge of some relation; trying random")
    tried = " or ".join(f"{m} ({RANDOM_DRAWS} draws)" if m == "random" else m for m in methods)
    raise PartitionError(f"no {tried} assignment into {num_parts} parts gave every partition a node of each type and "
                         "an edge of each relation, which DGL 2.1's partition_graph needs (dmlc/dgl#7779); use "
                         "fewer parts")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _npz_bytes(arrays: dict) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _fsync_tree(folder: Path) -> None:
    """Flush every file and folder to disk before the rename publishes them."""
    for root, dirs, files in os.walk(folder):
        for name in files + dirs:
            fd = os.open(os.path.join(root, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def partition_fold(splits, fold: int, num_parts: int, out_dir, *, method: str = "auto", seed: int | None = None,
                   source: dict | None = None, graph_name: str = "hetrec", log=None) -> dict:
    """Partition fold ``fold``'s training graph into ``num_parts`` parts for DGL's distributed engine.

    Parameters
    ----------
    splits : KFold
        ``hetrec.data.kfold_split(graph, k, seed, val_ratio)``; the partitioned graph is
        ``splits[fold].train_graph`` (no validation or test interaction, in either direction).
    fold : int
        The fold whose training graph is partitioned.
    num_parts : int
        Number of partitions (machines), at least 1.
    out_dir : path
        A new or empty folder; refused otherwise (:class:`PartitionError`).
    method : str
        ``"metis"`` (:func:`dgl.distributed.partition_graph` with METIS, balancing node types),
        ``"random"``, or ``"auto"``: METIS when :func:`metis_available`, else random. DGL 2.1
        cannot write a partition that owns no node of some type or no edge of some relation:
        such a type or relation is refused up front when it has fewer nodes than parts; random
        assignment is redrawn (seeds ``seed``, ``seed + 1``, ... up to :data:`RANDOM_DRAWS`) until
        every partition owns one, and ``auto`` falls back from METIS to random.
    seed : int, optional
        Seed of the random assignment (default: the split's seed); it seeds DGL's global random
        generator (``dgl.seed``), from which DGL draws the assignment.
    source : dict, optional
        How to obtain the data again (``{"dataset": "lastfm"}``, ``{"tables": path}``, ...),
        recorded in the metadata.
    graph_name : str
        DGL's graph name (letters, digits, ``_``): the configuration is ``<graph_name>.json``
        and :class:`dgl.distributed.DistGraph` is opened under that name.
    log : callable, optional
        Receives progress lines.

    Returns
    -------
    dict
        The metadata written to ``hetrec_partition.json`` (see the module's docstring).
    """
    import dgl

    import hetrec

    log = log or (lambda m: None)
    if not isinstance(num_parts, int) or num_parts < 1:
        raise ValueError(f"num_parts must be a positive integer, got {num_parts!r}")
    if not 0 <= fold < splits.k:
        raise ValueError(f"fold {fold} does not exist in a {splits.k}-fold split (folds 0..{splits.k - 1})")
    if not re.fullmatch(r"[A-Za-z0-9_]+", graph_name):
        raise ValueError(f"graph_name must be letters, digits and '_', got {graph_name!r}")
    methods = _methods_to_try(method, num_parts)
    out = _check_new_folder(out_dir)
    seed = splits.seed if seed is None else int(seed)
    t0 = time.perf_counter()
    split = splits[fold]
    train_graph = split.train_graph
    _check_partitionable(train_graph, num_parts)

    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=temporary_prefix(out.name, ".") + "partial-", dir=out.parent))
    except OSError as err:
        raise PartitionError(f"cannot write the partitions into {out}: {os_error_line(err)}") from None
    try:
        os.chmod(tmp, 0o755)
        used, draw, nmap, emap, report = _run_dgl(train_graph, graph_name, num_parts, tmp, methods, seed, log)
        config = json.loads((tmp / f"{graph_name}.json").read_text())

        # DGL's ids -> the dataset graph's ids; interactions through the training graph's dgl.EID
        interaction_ids = train_graph.edges[INTERACTS].data[dgl.EID].numpy()
        node_ids = {t: nmap[t].numpy().astype(np.int64) for t in train_graph.ntypes}
        edge_ids = {}
        for et in train_graph.canonical_etypes:
            ids = emap[et].numpy().astype(np.int64)
            edge_ids[et] = interaction_ids[ids] if et in (INTERACTS, INTERACTED_BY) else ids
        # the guarantee itself, checked on what was written: no held-out interaction is an edge
        held = np.concatenate([split.val_eids, split.test_eids])
        for et in (INTERACTS, INTERACTED_BY):
            if et in edge_ids and np.isin(edge_ids[et], held).any():  # pragma: no cover - a bug, not a user error
                raise PartitionError(f"internal error: a validation or test interaction is an edge of {et}")
        atomic_write_bytes(tmp / ORIG_IDS_FILE, _npz_bytes(
            {**{f"node:{t}": v for t, v in node_ids.items()},
             **{f"edge:{_etype_key(et)}": v for et, v in edge_ids.items()}}))

        users, items = (x.numpy().astype(np.int64) for x in splits.graph.edges(etype=INTERACTS))
        heldout = {}
        for name, eids in (("val", split.val_eids), ("test", split.test_eids)):
            eids = np.asarray(eids, dtype=np.int64)
            heldout.update({f"{name}_users": users[eids], f"{name}_items": items[eids], f"{name}_eids": eids})
        atomic_write_bytes(tmp / HELDOUT_FILE, _npz_bytes(heldout))
        atomic_write_text(tmp / LOG_FILE, report)

        counts = _counts(config, train_graph, num_parts)
        cut = _cut_edges(config, train_graph, node_ids, num_parts)
        files = {}
        for path in sorted(p for p in tmp.rglob("*") if p.is_file()):
            files[path.relative_to(tmp).as_posix()] = {"sha256": _sha256(path), "bytes": path.stat().st_size}
        meta = {
            "format": FORMAT, "hetrec_version": hetrec.__version__, "dgl_version": dgl.__version__,
            "source": source or {},
            "fold": fold, "k": splits.k, "seed": splits.seed, "val_ratio": splits.val_ratio,
            "graph_digest": graph_digest(splits.graph), "split_digest": splits.digest(),
            "train_graph_digest": graph_digest(train_graph),
            "num_parts": num_parts, "method": used, "method_requested": method,
            "random_seed": draw, "halo_hops": HALO_HOPS,
            "graph_name": graph_name, "dgl_config": f"{graph_name}.json",
            "train_graph": {"num_nodes": {t: train_graph.num_nodes(t) for t in train_graph.ntypes},
                            "num_edges": {_etype_key(et): train_graph.num_edges(et)
                                          for et in train_graph.canonical_etypes}},
            "heldout": {"val": int(len(split.val_eids)), "test": int(len(split.test_eids))},
            "parts": counts,
            "cut_edges": cut, "edges": int(train_graph.num_edges()),
            "seconds": round(time.perf_counter() - t0, 3),
            "bytes": sum(f["bytes"] for f in files.values()),
            "files": files,
        }
        write_json(tmp / METADATA_FILE, meta, _metadata_identity(meta))
        for name in (ORIG_IDS_FILE, HELDOUT_FILE, LOG_FILE, METADATA_FILE):
            os.chmod(tmp / name, 0o644)  # readable like DGL's files (atomic writes create private files)
        _fsync_tree(tmp)
        _publish(tmp, out)
    except BaseException as err:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(err, OSError):  # a full or read-only disk, DGL's writer included
            raise PartitionError(f"cannot write the partitions into {out}: {err.strerror or first_line(str(err))}; "
                                 "nothing was written") from None
        raise
    return meta


def _publish(tmp: Path, out: Path) -> None:
    """Rename the finished folder into place; an empty ``out`` is replaced, anything else
    (another process finished first) is refused."""
    try:
        os.rename(tmp, out)
    except OSError as err:
        if err.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
            raise  # not another process's folder: partition_fold says why
        raise PartitionError(f"{out} is not empty any more (another process wrote into it meanwhile?): "
                             f"{err.strerror}; nothing was written") from None


def _counts(config: dict, graph, num_parts: int) -> list:
    """Nodes per type and edges per relation that each partition owns (from DGL's id ranges)."""
    parts = []
    for p in range(num_parts):
        parts.append({
            "nodes": {t: int(config["node_map"][t][p][1] - config["node_map"][t][p][0]) for t in graph.ntypes},
            "edges": {_etype_key(et): int(config["edge_map"][_etype_key(et)][p][1] - config["edge_map"][_etype_key(et)][p][0])
                      for et in graph.canonical_etypes}})
    return parts


def _cut_edges(config: dict, graph, node_ids: dict, num_parts: int) -> int:
    """Edges whose two ends lie in different partitions (what METIS minimises)."""
    part_of = {}
    for t in graph.ntypes:
        owned = [e - s for s, e in config["node_map"][t]]
        part = np.empty(graph.num_nodes(t), dtype=np.int64)
        part[node_ids[t]] = np.repeat(np.arange(num_parts), owned)  # DGL's ids are contiguous per partition
        part_of[t] = part
    cut = 0
    for s, r, d in graph.canonical_etypes:
        u, v = graph.edges(etype=(s, r, d))
        cut += int(np.count_nonzero(part_of[s][u.numpy()] != part_of[d][v.numpy()]))
    return cut


def _metadata_identity(meta: dict) -> dict:
    return {"graph": meta["graph_digest"], "split": meta["split_digest"], "fold": meta["fold"]}


def read_metadata(out_dir) -> dict:
    """The ``hetrec_partition.json`` of a partition folder, or a :class:`PartitionError` naming
    what is wrong (no such folder or file, invalid JSON, written by another hetrec version, a
    field of the wrong type, content changed since it was written)."""
    path = Path(out_dir) / METADATA_FILE
    if not Path(out_dir).is_dir():
        raise PartitionError(f"{out_dir}: no such folder")
    if not path.is_file():
        raise PartitionError(f"{out_dir}: no {METADATA_FILE}: not a hetrec partition folder")
    try:
        doc = parse_json(read_file_text(path), path)
        if isinstance(doc.get("format"), int) and doc["format"] != FORMAT:
            raise PartitionError(f"{path}: format {doc['format']!r}, this hetrec reads format {FORMAT}: "
                                 "written by another hetrec version; partition again into a new folder")
        _schemas.check(doc, _schemas.PARTITION_META, path)
        return unseal(doc, path, _metadata_identity(doc), fix="partition again into a new folder")
    except ValueError as err:  # IntegrityError, SchemaError
        raise PartitionError(str(err)) from None


def _verify(out: Path, meta: dict, names) -> None:
    for name in names:
        record = meta["files"].get(name)
        path = out / name
        if record is None or Path(name).is_absolute() or ".." in Path(name).parts:
            raise PartitionError(f"{path}: not listed in {METADATA_FILE}")
        if not path.is_file():
            raise PartitionError(f"{path}: missing ({METADATA_FILE} lists it)")
        digest = _sha256(path)
        if digest != record["sha256"]:
            raise PartitionError(f"{path}: changed since it was written (sha256 {digest[:12]}…, {METADATA_FILE} records "
                                 f"{record['sha256'][:12]}…); partition again into a new folder")


def _describe(meta: dict) -> str:
    src = meta.get("source") or {}
    if "dataset" in src:
        what = f"{src['dataset']} from {src.get('data_dir')}"
    elif "tables" in src:
        what = f"tables {src['tables']}"
    elif "synthetic" in src:
        what = "synthetic graph (" + ", ".join(f"{k}={v}" for k, v in dict(src["synthetic"]).items()) + ")"
    else:
        what = ", ".join(f"{k} {v}" for k, v in src.items()) or "a graph given in Python"
    return f"{what}; k={meta['k']}, seed={meta['seed']}, val_ratio={meta['val_ratio']}, fold {meta['fold']}"


def check_partition(out_dir, splits=None, fold: int | None = None, *, files: bool = True) -> dict:
    """Check that the partition folder ``out_dir`` is complete and intact (the sha256 of every
    file it lists) and, given ``splits`` (a :class:`~hetrec.data.KFold`) and ``fold``, that it
    partitions that fold of that split of that graph. Returns the metadata; raises
    :class:`PartitionError` naming the file and what differs."""
    out = Path(out_dir)
    meta = read_metadata(out)
    if files:
        _verify(out, meta, sorted(meta["files"]))
    if splits is not None:
        new = graph_digest(splits.graph)
        if new != meta["graph_digest"]:
            raise PartitionError(f"{out / METADATA_FILE}: these partitions are of other data ({_describe(meta)}): "
                                 f"the graph's sha256 is {new[:12]}…, the partitioned graph's {meta['graph_digest'][:12]}…")
        new = splits.digest()
        if new != meta["split_digest"]:
            raise PartitionError(f"{out / METADATA_FILE}: these partitions are of another split ({_describe(meta)}; "
                                 f"given: k={splits.k}, seed={splits.seed}, val_ratio={splits.val_ratio}): "
                                 f"the split's sha256 is {new[:12]}…, the partitioned split's {meta['split_digest'][:12]}…")
    if fold is not None and fold != meta["fold"]:
        raise PartitionError(f"{out / METADATA_FILE}: these partitions are of fold {meta['fold']}, not fold {fold}")
    return meta


def load_heldout(out_dir, verify: bool = True) -> dict:
    """The fold's validation and test interactions stored beside the partitions:
    ``{"val": (users, items, eids), "test": (users, items, eids)}``, int64 arrays of node ids
    and ``interacts`` edge ids in the dataset graph (``raw_id`` node data gives the source ids)."""
    out = Path(out_dir)
    meta = read_metadata(out)
    if verify:
        _verify(out, meta, [HELDOUT_FILE])
    with np.load(out / HELDOUT_FILE, allow_pickle=False) as z:
        return {n: (z[f"{n}_users"], z[f"{n}_items"], z[f"{n}_eids"]) for n in ("val", "test")}


def partition_edges(out_dir, part_id: int, *, inner_only: bool = True, verify: bool = True) -> dict:
    """The edges of partition ``part_id`` in the dataset graph's ids: ``{canonical etype:
    (src, dst, eid)}``. ``inner_only`` keeps the edges the partition owns (those whose
    destination it owns); otherwise HALO edges, copies of edges owned by other partitions, are
    included too: everything a trainer on that machine can see."""
    out = Path(out_dir)
    local = local_partition_edges(out, part_id, inner_only=inner_only, verify=verify)
    with np.load(out / ORIG_IDS_FILE, allow_pickle=False) as z:
        ids = {k: z[k] for k in z.files}
    return {et: (ids[f"node:{et[0]}"][src], ids[f"node:{et[2]}"][dst], ids[f"edge:{_etype_key(et)}"][eid])
            for et, (src, dst, eid) in local.items()}


def read_partition_graph(out_dir, part_id: int, *, verify: bool = True) -> tuple:
    """``(metadata, DGL's graph of partition part_id, its partition book)`` without node or
    edge data, after checking that the partition exists and (``verify``) that DGL's
    configuration, the partition's ``graph.dgl`` and ``orig_ids.npz`` are as written."""
    import dgl

    out = Path(out_dir)
    meta = read_metadata(out)
    if not isinstance(part_id, (int, np.integer)) or not 0 <= part_id < meta["num_parts"]:
        raise PartitionError(f"{out}: no partition {part_id!r} (it has {meta['num_parts']}: 0..{meta['num_parts'] - 1})")
    if verify:
        _verify(out, meta, [meta["dgl_config"], f"part{part_id}/graph.dgl", ORIG_IDS_FILE])
    graph, _, _, book, _, _, _ = dgl.distributed.load_partition(str(out / meta["dgl_config"]), int(part_id),
                                                                 load_feats=False)
    return meta, graph, book


def local_partition_edges(out_dir, part_id: int, *, inner_only: bool = True, verify: bool = True) -> dict:
    """Like :func:`partition_edges`, in DGL's ids (per-type node and edge ids of the partitioned
    graph, the ids a :class:`dgl.distributed.DistGraph` of the folder uses)."""
    import dgl

    _, graph, book = read_partition_graph(out_dir, part_id, verify=verify)
    _, node = (x.numpy() for x in book.map_to_per_ntype(graph.ndata[dgl.NID]))
    src, dst = (x.numpy() for x in graph.edges())
    etype_of, per_etype = (x.numpy() for x in book.map_to_per_etype(graph.edata[dgl.EID]))
    keep = graph.edata["inner_edge"].numpy().astype(bool) if inner_only else np.ones(graph.num_edges(), dtype=bool)
    edges = {}
    for e_id, et in enumerate(book.canonical_etypes):
        mine = keep & (etype_of == e_id)
        edges[tuple(et)] = (node[src[mine]].astype(np.int64), node[dst[mine]].astype(np.int64),
                            per_etype[mine].astype(np.int64))
    return edges


__all__ = ["partition_fold", "check_partition", "read_metadata", "partition_edges", "load_heldout", "metis_available",
           "PartitionError", "METHODS", "METADATA_FILE", "HELDOUT_FILE", "ORIG_IDS_FILE", "RANDOM_DRAWS"]
