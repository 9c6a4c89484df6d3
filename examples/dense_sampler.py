"""DenseSubgraphSampler with DGL's own machinery: a node DataLoader and link prediction.

    python examples/dense_sampler.py                      # on a synthetic graph
    python examples/dense_sampler.py --data-dir ../shared/data   # on Last.FM

Prints, per batch, how many nodes of each type the type-balanced sampler brought in, and shows
that the batch's interactions and their reverses are absent from the sampled subgraph.
"""
import argparse
import os

os.environ.setdefault("DGLBACKEND", "pytorch")

import dgl  # noqa: E402
import torch  # noqa: E402

from hetrec.data import INTERACTS, LastFM2K, reverse_etypes, synthetic  # noqa: E402
from hetrec.sampling import DenseSubgraphSampler  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", default=None, help="use Last.FM from this folder instead of a synthetic graph")
    p.add_argument("--batches", type=int, default=3)
    args = p.parse_args(argv)
    torch.manual_seed(0)  # the sampler, DataLoader and negative sampler draw from torch's generator
    g = LastFM2K(root=args.data_dir).graph if args.data_dir else synthetic(2000, 3000, 40_000, seed=0)
    sampler = DenseSubgraphSampler(depth=2, width=128)

    # 1. node-wise: seed users, get a subgraph with every type represented
    loader = dgl.dataloading.DataLoader(g, {"user": torch.arange(g.num_nodes("user"))}, sampler,
                                        batch_size=256, shuffle=True)
    for n, (_input_nodes, output_nodes, subgraph) in enumerate(loader):
        counts = {t: subgraph.num_nodes(t) for t in subgraph.ntypes}
        print(f"node batch {n}: {len(output_nodes['user'])} seed users -> nodes {counts}, {subgraph.num_edges():,} edges")
        if n + 1 == args.batches:
            break

    # 2. edge-wise: link prediction on interactions, excluding each batch's edges and their reverses
    edge_sampler = dgl.dataloading.as_edge_prediction_sampler(
        sampler, exclude="reverse_types", reverse_etypes=reverse_etypes(g),
        negative_sampler=dgl.dataloading.negative_sampler.Uniform(1))
    loader = dgl.dataloading.DataLoader(g, {INTERACTS: torch.arange(g.num_edges(INTERACTS))}, edge_sampler,
                                        batch_size=1024, shuffle=True)
    rev = reverse_etypes(g)[INTERACTS]
    for n, (_input_nodes, pair_graph, neg_pair_graph, subgraph) in enumerate(loader):
        batch = pair_graph.edges[INTERACTS].data[dgl.EID]
        leaked = torch.isin(subgraph.edges[INTERACTS].data[dgl.EID], batch).sum() + \
            torch.isin(subgraph.edges[rev].data[dgl.EID], batch).sum()
        counts = {t: subgraph.num_nodes(t) for t in subgraph.ntypes}
        print(f"edge batch {n}: {pair_graph.num_edges(INTERACTS)} positives, {neg_pair_graph.num_edges(INTERACTS)} "
              f"negatives -> nodes {counts}, {subgraph.num_edges():,} edges, batch edges in subgraph: {int(leaked)}")
        if n + 1 == args.batches:
            break


if __name__ == "__main__":
    main()
