"""Edge batches with a subgraph sampled around each: MTHGT's sampled training (the paper's) and
the HGT / HGT-d / HGT-m ablations."""
from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import dgl
import torch

from .._random import dgl_one_thread, draw_seed, numpy_random_state, seed_torch_and_dgl
from .base import BatchBuilder

# single-process loading: DGL's advice on CPU affinity concerns DataLoader worker processes
warnings.filterwarnings("ignore", message="Dataloader CPU affinity")


class EdgeSubgraphBatch(NamedTuple):
    """One batch of edges with the subgraph sampled around their endpoints: the four entries
    DGL's ``DataLoader`` gives for an edge-prediction sampler, and a seed."""

    #: ids in the graph of the subgraph's nodes, by node type (each type's seeds first)
    input_nodes: Any
    #: the batch's edges, between nodes of the subgraph
    pair_graph: Any
    #: the negative edges, between nodes of the subgraph
    negative_graph: Any
    #: the sampled subgraph (``dgl.NID``, ``dgl.EID`` = ids in the graph), without the batch's
    #: edges and their reverses
    subgraph: Any
    #: seed of the random draws the loss makes for this batch, drawn from the epoch's generator
    seed: int


class EdgeSubgraphBatches(BatchBuilder):
    """Shuffled batches of the edges of ``etype``, each with its negatives and a subgraph.

    Per batch, DGL's ``as_edge_prediction_sampler`` draws the negatives with
    ``negative_sampler`` and samples a subgraph around the endpoints of the positives and
    negatives with ``sampler``, leaving out the batch's edges and their reverses
    (``exclude="reverse_types"``), so no predicted edge is visible to the encoder.

    Randomness: the edges are shuffled with a numpy generator seeded with the generator's
    initial seed (:func:`hetrec._random.numpy_random_state`: the order DGL's loader would draw
    from numpy's global generator after :func:`~hetrec.train.seed_everything`). DGL's negative
    samplers and samplers built without a generator draw from torch's and DGL's global
    generators: :meth:`batches` seeds both with a seed drawn from the given generator. Each
    batch's :attr:`EdgeSubgraphBatch.seed` is drawn from it too, and DGL samples on one thread
    (its multi-threaded neighbour sampling is not reproducible). The same generator gives the
    same batches, whatever the global generators held before.

    Parameters
    ----------
    graph : DGLGraph
        The training graph (on the CPU).
    etype : tuple of str
        The canonical relation whose edges are predicted.
    sampler : dgl.dataloading.Sampler
        A node-induced subgraph sampler: :class:`~hetrec.sampling.DenseSubgraphSampler` or
        ``dgl.dataloading.ShaDowKHopSampler``.
    negative_sampler : callable
        A DGL negative sampler (``dgl.dataloading.negative_sampler.Uniform``,
        :class:`~hetrec.sampling.InBatchNegativeSampler`).
    batch_size : int
        Edges per batch.
    reverse_etypes : dict
        The reverse relation of each relation whose reverse edges are left out with it.
    """

    def __init__(self, graph, etype, sampler, negative_sampler, batch_size: int, reverse_etypes: dict):
        self.graph = graph
        self.etype = etype
        self.sampler = sampler
        self.negative_sampler = negative_sampler
        self.batch_size = batch_size
        self.reverse_etypes = dict(reverse_etypes)

    def batches(self, generator: torch.Generator):
        """The epoch's batches (:class:`EdgeSubgraphBatch`). Seeds torch's and DGL's global
        generators now, when called (see the class docstring)."""
        g = self.graph
        seed_torch_and_dgl(draw_seed(generator, 2**31 - 1))
        edge_sampler = dgl.dataloading.as_edge_prediction_sampler(
            self.sampler, exclude="reverse_types", reverse_etypes=self.reverse_etypes,
            negative_sampler=self.negative_sampler)
        # the shuffle DGL's loader would draw from numpy's global generator, drawn here instead
        order = numpy_random_state(generator).permutation(g.num_edges(self.etype))
        eids = torch.from_numpy(order).to(g.device)
        loader = dgl.dataloading.DataLoader(g, {self.etype: eids}, edge_sampler, batch_size=self.batch_size,
                                            shuffle=False)
        return self._with_seeds(loader, generator)

    @staticmethod
    def _with_seeds(loader, generator):
        batches = iter(loader)
        while True:
            with dgl_one_thread():
                batch = next(batches, None)
            if batch is None:
                return
            yield EdgeSubgraphBatch(*batch, draw_seed(generator))


__all__ = ["EdgeSubgraphBatch", "EdgeSubgraphBatches"]
