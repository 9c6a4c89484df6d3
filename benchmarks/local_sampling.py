"""What sampling on one partition plus its HALO changes against sampling the whole training graph.

    python benchmarks/local_sampling.py --data-dir ../shared/data
    python benchmarks/local_sampling.py --data-dir ../shared/data --cells lastfm:2:metis --draws 40

Each cell partitions fold 0 of the 5-fold split (seed 0) of a real dataset with
:func:`hetrec.distributed.partition_fold` into a temporary folder. For every partition ``p`` it
draws ``--batches`` batches of ``--batch-size`` interactions that ``p`` owns (seeded) and samples
around each with MTHGT's dense sampler (``--depth``, ``--width``, node-induced subgraphs) twice:
on the fold's whole training graph (:class:`~hetrec.sampling.DenseSubgraphSampler`) and on ``p``'s
:func:`~hetrec.distributed.local_graph` (:class:`~hetrec.distributed.LocalDenseSampler`), with the
same seeds and the same excluded edges (the batch, both directions).

Per batch, one subgraph from each (generators seeded alike) gives the node counts per type and the
edge counts, the share of the local subgraph's nodes that are HALO copies (seeds and drawn nodes
apart), and the local subgraph's edges against the training graph's among the same nodes (minus
the batch): what the missing HALO–HALO edges cost a subgraph. Then ``--draws`` draws of the
local sampler and twice ``--draws`` of the full one (sets A and B; nodes only) give, per node
type, each node's inclusion frequency among the drawn (non-seed) nodes, normalised to a
distribution over the type's nodes:

* ``outside``: the full sampler's mass on nodes that are not in the local graph at all (neither
  the partition's nor HALO): what the local sampler can never draw;
* ``tvd``: total variation distance between the full (A) and the local distributions;
* ``tvd_floor``: the same between the full sampler's A and B, i.e. what ``--draws`` draws of one
  sampler give by chance; ``tvd`` well above it is a real difference.

Numbers are means over the partitions' batches. Writes ``benchmarks/results/local_sampling.csv``
(one row per cell and node type, ``ntype`` "all" for the totals) and prints Markdown tables.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_csv_atomically  # noqa: E402

CELLS = "lastfm:2:metis,lastfm:2:random,lastfm:4:metis,lastfm:4:random,ml-1m:2:metis"


def tvd(a: np.ndarray, b: np.ndarray) -> float:
    """Total variation distance between two count vectors, each normalised to sum 1."""
    if a.sum() == 0 or b.sum() == 0:
        return float("nan")
    return 0.5 * float(np.abs(a / a.sum() - b / b.sum()).sum())


def inclusion_counts(sampler, g, seeds, exclude, draws: int, ids: dict, generator) -> dict:
    """Per type, how often each node (indexed by ``ids[t]`` of the graph's node, i.e. its
    dataset id) was drawn (seeds not counted) in ``draws`` samples."""
    import torch

    counts = {t: np.zeros(n, dtype=np.int64) for t, n in ids["__sizes__"].items()}
    sampler.generator = generator
    for _ in range(draws):
        nodes = sampler.sample_nodes(g, seeds, exclude)
        for t, v in nodes.items():
            drawn = v[len(seeds.get(t, torch.empty(0))):].numpy()
            np.add.at(counts[t], ids[t][drawn], 1)
    return counts


def measure_partition(tg, tg_interaction_ids, folder, part: int, args, rng) -> list:
    """One dict per batch: per type ``{ntype: {...}}`` measures of that batch."""
    import dgl
    import torch

    from hetrec.data import INTERACTED_BY, INTERACTS
    from hetrec.distributed import DATASET_ID, INNER, LocalDenseSampler, local_graph
    from hetrec.sampling import DenseSubgraphSampler

    local = local_graph(folder, part)
    full_sampler = DenseSubgraphSampler(args.depth, args.width)
    local_sampler = LocalDenseSampler(DenseSubgraphSampler(args.depth, args.width), local)
    owned = local.edges[INTERACTS].data[DATASET_ID][local.edges[INTERACTS].data[INNER]].numpy()
    sizes = {t: tg.num_nodes(t) for t in tg.ntypes}
    full_ids = {t: np.arange(n) for t, n in sizes.items()} | {"__sizes__": sizes}  # the training graph keeps every node
    local_ids = {t: local.nodes[t].data[DATASET_ID].numpy() for t in local.ntypes} | {"__sizes__": sizes}
    in_local = {t: np.zeros(n, dtype=bool) for t, n in sizes.items()}
    for t in local.ntypes:
        in_local[t][local_ids[t]] = True
    rows = []
    for _ in range(args.batches):
        batch = rng.choice(owned, size=min(args.batch_size, len(owned)), replace=False)
        # the same interactions in the training graph's edge ids (its dgl.EID is ascending)
        tg_eids = torch.from_numpy(np.searchsorted(tg_interaction_ids, batch))
        assert (tg_interaction_ids[tg_eids.numpy()] == batch).all()
        u, i = tg.find_edges(tg_eids, etype=INTERACTS)
        full_seeds = {"user": torch.unique(u), "item": torch.unique(i)}
        full_exclude = {INTERACTS: tg_eids, INTERACTED_BY: tg_eids}
        seeds, exclude, _ = local_sampler.interaction_seeds(batch, by=DATASET_ID)
        seed = int(rng.integers(2**62))

        full_sampler.generator = torch.Generator().manual_seed(seed)
        t0 = time.perf_counter()
        _, _, full_sub = full_sampler.sample(tg, full_seeds, full_exclude)
        t1 = time.perf_counter()
        local_sampler.sampler.generator = torch.Generator().manual_seed(seed)
        _, _, local_sub = local_sampler.sampler.sample(local, seeds, exclude)
        t2 = time.perf_counter()

        full_a = inclusion_counts(full_sampler, tg, full_seeds, full_exclude, args.draws, full_ids,
                                  torch.Generator().manual_seed(seed + 1))
        full_b = inclusion_counts(full_sampler, tg, full_seeds, full_exclude, args.draws, full_ids,
                                  torch.Generator().manual_seed(seed + 2))
        loc = inclusion_counts(local_sampler.sampler, local, seeds, exclude, args.draws, local_ids,
                               torch.Generator().manual_seed(seed + 3))
        per_type = {}
        for t in tg.ntypes:
            n_seed = len(seeds.get(t, ()))
            halo = ~local_sub.nodes[t].data[INNER].numpy()
            a = full_a[t]
            per_type[t] = {
                "seeds": n_seed, "seeds_halo": int(halo[:n_seed].sum()),
                "nodes_full": full_sub.num_nodes(t), "nodes_local": local_sub.num_nodes(t),
                "drawn_local": int(len(halo) - n_seed), "drawn_local_halo": int(halo[n_seed:].sum()),
                "outside": float(a[~in_local[t]].sum() / a.sum()) if a.sum() else float("nan"),
                "tvd": tvd(a, loc[t]), "tvd_floor": tvd(a, full_b[t]),
            }
        # the training graph's edges among the local subgraph's own nodes: what it lacks for the same nodes
        same = dgl.node_subgraph(tg, {t: local_sub.nodes[t].data[DATASET_ID] for t in tg.ntypes})
        same_edges = same.num_edges() - sum(
            int(np.isin(tg_interaction_ids[same.edges[et].data[dgl.EID].numpy()], batch).sum())
            for et in (INTERACTS, INTERACTED_BY))
        per_type["all"] = {
            "edges_full": full_sub.num_edges(), "edges_local": local_sub.num_edges(),
            "edges_full_same_nodes": same_edges,
            "local_graph_nodes": local.num_nodes(), "local_graph_halo": int(sum(
                (~local.nodes[t].data[INNER]).sum() for t in local.ntypes)),
            "local_graph_edges": local.num_edges(), "train_graph_nodes": tg.num_nodes(),
            "train_graph_edges": tg.num_edges(),
            "sample_s_full": t1 - t0, "sample_s_local": t2 - t1,
        }
        for key in ("seeds", "seeds_halo", "nodes_full", "nodes_local", "drawn_local", "drawn_local_halo"):
            per_type["all"][key] = sum(per_type[t][key] for t in tg.ntypes)
        rows.append(per_type)
    return rows


def mean_rows(batches: list) -> dict:
    out = {}
    for t in batches[0]:
        out[t] = {k: float(np.nanmean([b[t][k] for b in batches])) for k in batches[0][t]}
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=None)
    p.add_argument("--cells", default=CELLS, help="dataset:parts:method, comma-separated")
    p.add_argument("--batch-size", type=int, default=1024, help="interactions per batch")
    p.add_argument("--batches", type=int, default=3, help="batches per partition")
    p.add_argument("--draws", type=int, default=100, help="draws per batch for the inclusion frequencies")
    p.add_argument("--depth", type=int, default=2)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument("--out", default="benchmarks/results/local_sampling.csv")
    args = p.parse_args(argv)
    os.environ.setdefault("DGLBACKEND", "pytorch")
    import contextlib
    import io

    import dgl
    import torch

    from hetrec.data import INTERACTS, kfold_split, load_dataset
    from hetrec.distributed import partition_fold

    torch.set_num_threads(args.threads)
    graphs, rows = {}, []
    for cell in args.cells.split(","):
        name, parts, method = cell.split(":")
        parts = int(parts)
        if name not in graphs:
            splits = kfold_split(load_dataset(name, root=args.data_dir).graph, k=5, seed=0)
            graphs[name] = splits
        splits = graphs[name]
        tg = splits[0].train_graph
        interaction_ids = tg.edges[INTERACTS].data[dgl.EID].numpy()
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stderr(io.StringIO()):
            folder = Path(tmp) / "parts"
            meta = partition_fold(splits, 0, parts, folder, method=method, seed=args.seed)
            rng = np.random.default_rng(args.seed)
            batches = []
            for part in range(parts):
                batches += measure_partition(tg, interaction_ids, folder, part, args, rng)
        means = mean_rows(batches)
        print(f"{cell}: {len(batches)} batches in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        for t, m in means.items():
            rows.append({"dataset": name, "parts": parts, "method": meta["method"],
                         "cut_share": round(meta["cut_edges"] / meta["edges"], 3), "ntype": t,
                         **{k: round(v, 4) for k, v in m.items()},
                         "batch_size": args.batch_size, "batches": len(batches), "draws": args.draws,
                         "depth": args.depth, "width": args.width})
    write_csv_atomically(rows, args.out)

    print(f"machine: {machine()}\n")
    print(f"dense sampler depth {args.depth}, width {args.width}, node-induced; batches of {args.batch_size} "
          f"interactions a partition owns; {args.draws} draws per batch\n")
    print("| dataset | parts | method | edges cut | local graph nodes (HALO) / training graph | seeds HALO "
          "| nodes full → local | drawn nodes HALO | edges full → local | local edges / training graph's "
          "among the same nodes | sample ms full → local |")
    print("|---|---:|---|---:|---|---:|---|---:|---|---:|---|")
    for r in (r for r in rows if r["ntype"] == "all"):
        print(f"| {r['dataset']} | {r['parts']} | {r['method']} | {r['cut_share']:.1%} "
              f"| {r['local_graph_nodes']:,.0f} ({r['local_graph_halo']:,.0f}) / {r['train_graph_nodes']:,.0f} "
              f"| {r['seeds_halo'] / r['seeds']:.1%} | {r['nodes_full']:,.0f} → {r['nodes_local']:,.0f} "
              f"| {r['drawn_local_halo'] / max(r['drawn_local'], 1):.1%} "
              f"| {r['edges_full']:,.0f} → {r['edges_local']:,.0f} | {r['edges_local'] / r['edges_full_same_nodes']:.1%} "
              f"| {1e3 * r['sample_s_full']:.0f} → {1e3 * r['sample_s_local']:.0f} |")
    print("\n| dataset | parts | method | node type | nodes full → local | outside the local graph | TVD full–local "
          "| TVD full–full (chance) |")
    print("|---|---:|---|---|---|---:|---:|---:|")
    for r in (r for r in rows if r["ntype"] != "all"):
        print(f"| {r['dataset']} | {r['parts']} | {r['method']} | {r['ntype']} "
              f"| {r['nodes_full']:,.0f} → {r['nodes_local']:,.0f} | {r['outside']:.3f} | {r['tvd']:.3f} "
              f"| {r['tvd_floor']:.3f} |")


if __name__ == "__main__":
    main()
