"""PinSage's batches: query items, their positives and negatives, and the blocks of the
random-walk neighbourhoods PinSage convolves."""
from __future__ import annotations

from dataclasses import dataclass

import dgl
import torch

from .._random import draw_seed, seeded_dgl
from ..data.schema import INTERACTED_BY, INTERACTS
from .base import BatchBuilder


@dataclass
class PinSageBatch:
    """One mini-batch: sampled blocks (outermost first) and, per query, the positions of the
    query, its positive and its negatives among the output nodes of ``blocks[-1]``."""

    blocks: list
    query: torch.Tensor  # (B,)
    positive: torch.Tensor  # (B,)
    negative: torch.Tensor  # (B, num_negatives)


class ItemPairBatches(BatchBuilder):
    """Query items in an order drawn from the generator, in batches of ``batch_size``; each
    query gets a positive, an item reached by one ``item → user → item`` random-walk step (the
    two share a user), and ``num_negatives`` items drawn uniformly. The blocks hold
    ``num_layers`` neighbourhoods sampled by ``neighbor_sampler`` (re-sampled per layer),
    without the edges between a query and its positive, in both directions.

    The random walks and neighbourhoods are DGL's: they draw from DGL's generator, seeded per
    batch with a seed drawn from the epoch's generator, on one thread.

    Parameters
    ----------
    bipartite : DGLGraph
        The user–item training graph (``interacts`` and ``interacted_by``).
    query_items : Tensor
        The items that can be queries (those with a training interaction).
    num_items : int
        Number of items (negatives are drawn from all of them).
    neighbor_sampler : dgl.sampling.PinSAGESampler
        Gives the item–item neighbourhood graph of a set of items.
    num_layers : int
        Blocks per batch.
    batch_size : int
        Queries per batch.
    num_negatives : int
        Negatives per query.
    """

    def __init__(self, bipartite, query_items: torch.Tensor, num_items: int, neighbor_sampler, num_layers: int,
                 batch_size: int, num_negatives: int):
        self.bipartite = bipartite
        self.query_items = query_items
        self.num_items = num_items
        self.neighbor_sampler = neighbor_sampler
        self.num_layers = num_layers
        self.batch_size = batch_size
        self.num_negatives = num_negatives

    def batches(self, generator: torch.Generator):
        order = self.query_items[torch.randperm(len(self.query_items), generator=generator, device=generator.device)]
        for start in range(0, len(order), self.batch_size):
            query = order[start:start + self.batch_size]
            negative = torch.randint(self.num_items, (len(query), self.num_negatives),
                                     generator=generator, device=generator.device)
            with seeded_dgl(draw_seed(generator, 2**31)):
                batch = self.sample(query, negative)
            yield batch

    def sample(self, query: torch.Tensor, negative: torch.Tensor) -> PinSageBatch:
        """Positives by one item→user→item walk step from each query, then the blocks of the
        queries, positives and negatives (neighbourhoods re-sampled per layer, DGL's generator)."""
        traces, _ = dgl.sampling.random_walk(
            self.bipartite, query, metapath=[INTERACTED_BY, INTERACTS])
        positive = traces[:, 2]
        keep = positive >= 0  # queries all have interactions; kept for safety
        query, positive, negative = query[keep], positive[keep], negative[keep]
        seeds, inverse = torch.unique(
            torch.cat([query, positive, negative.reshape(-1)]), return_inverse=True)
        b = len(query)
        blocks = []
        for _ in range(self.num_layers):
            frontier = self.neighbor_sampler(seeds)
            # hide the query–positive pair from each other (in both directions)
            u = torch.cat([query, positive])
            v = torch.cat([positive, query])
            has = frontier.has_edges_between(u, v)
            if bool(has.any()):
                frontier = dgl.remove_edges(frontier, frontier.edge_ids(u[has], v[has]))
            block = dgl.to_block(frontier, seeds)
            block.edata["weights"] = frontier.edata["weights"][block.edata[dgl.EID]]
            blocks.insert(0, block)
            seeds = block.srcdata[dgl.NID]
        return PinSageBatch(blocks, inverse[:b], inverse[b:2 * b],
                            inverse[2 * b:].reshape(b, -1))


__all__ = ["PinSageBatch", "ItemPairBatches"]
