"""Dense, type-balanced subgraph sampling (seed paper §3.1, Eq. 2; HGT's HGSampling)."""
from __future__ import annotations

import dgl
import numpy as np
import torch
from dgl.dataloading import Sampler
from dgl.dataloading.base import set_edge_lazy_features, set_node_lazy_features

from .induced import (
    ExcludedEdges,
    GraphArrays,
    excluded_by_etype,
    induced_subgraph,
    repeated_seeds,
    seeds_by_type,
)


class DenseSubgraphSampler(Sampler):
    r"""Type-balanced subgraph sampler with squared-budget node draws (MTHGT Eq. 2).

    Starting from the seed nodes, the sampler keeps a *budget* :math:`b(v)` for every node
    :math:`v` not sampled yet. Whenever a node :math:`u` is sampled (the seeds first), it adds to
    each neighbour :math:`v` it reaches through relation :math:`r` (edges :math:`u \to v` of
    :math:`r`, i.e. along the relation's direction)

    .. math::

        b(v) \mathrel{+}= \frac{1}{\mathrm{deg}_r(u)}

    where :math:`\mathrm{deg}_r(u)` is the out-degree of :math:`u` under :math:`r` in ``g`` minus
    the excluded edges: every sampled node spreads a total budget of 1 per relation over its
    neighbours (counting a multi-edge once per edge; neighbours already sampled receive nothing,
    but still count in the degree). A node with more than ``max_neighbors`` neighbours under
    :math:`r` reaches only ``max_neighbors`` of them, drawn uniformly without replacement, and
    gives each :math:`1/\mathrm{max\_neighbors}`; the expected contribution to every neighbour is
    still :math:`1/\mathrm{deg}_r(u)` (this is HGT's rule). Budgets are kept per node type and
    summed over all relations that end in that type.

    Then, for ``depth`` rounds, for every node type :math:`\tau` whose budget is not empty, the
    sampler draws ``width`` nodes without replacement with

    .. math::

        P(v) = \frac{b(v)^2}{\sum_{w \in \tau} b(w)^2}

    (all of them when there are at most ``width`` candidates), marks them sampled and adds their
    budget as above. All types draw from the budget as it stood at the start of the round (HGT
    updates after each type in turn, which makes the result depend on the order of the types).
    Each type therefore ends with at most ``seeds + depth × width`` nodes, whatever its size in
    ``g``: the subgraph's size depends on ``depth`` and ``width``, not on the graph's.

    The result is the subgraph of ``g`` induced by the sampled nodes, with the same contract as
    :class:`dgl.dataloading.ShaDowKHopSampler`: node ``i`` of type ``t`` is ``input_nodes[t][i]``
    (``subgraph.nodes[t].data[dgl.NID]``), each type's seeds come first and in the given order,
    every edge of ``g`` among the sampled nodes is present with its id in ``dgl.EID``, except the
    excluded ones, and node/edge features are copied.

    The per-batch work (budget spread, draws, induced edges) runs in compiled loops
    (:mod:`hetrec.sampling.kernels`, numba): Floyd's algorithm draws a hub's ``max_neighbors``
    neighbours and weighted reservoir sampling with exponential jumps the ``width`` nodes, both
    exact for the distributions above.

    Parameters
    ----------
    depth : int
        Number of sampling rounds after the seeds.
    width : int
        Nodes drawn per node type and round.
    max_neighbors : int, optional
        Most neighbours a sampled node gives budget to per relation. ``None`` (default) uses
        ``width``, as HGT does; ``-1`` means no cap.
    max_in_edges : int, optional
        If set, each node of the returned subgraph keeps at most this many incoming edges per
        relation, drawn uniformly without replacement. Off by default: the subgraph is then
        exactly node-induced. A deliberate deviation (docs/scale.md measures its cost) for edge-dense graphs
        such as Last.FM, where node-induced subgraphs carry ~50 edges per node.
    generator : torch.Generator, optional
        Source of randomness. ``None`` uses torch's global generator, so ``torch.manual_seed``
        makes runs reproducible and DataLoader workers get distinct streams. Do not pass one
        generator to a DataLoader with ``num_workers > 0``: every worker would copy it.
    prefetch_node_feats, prefetch_edge_feats, output_device
        As in :class:`dgl.dataloading.ShaDowKHopSampler`.

    Examples
    --------
    Link prediction on the interaction relation, excluding the batch's edges and their reverses:

    >>> from hetrec.data.schema import INTERACTS, reverse_etypes
    >>> sampler = DenseSubgraphSampler(depth=2, width=128)
    >>> edge_sampler = dgl.dataloading.as_edge_prediction_sampler(
    ...     sampler, exclude="reverse_types", reverse_etypes=reverse_etypes(g),
    ...     negative_sampler=dgl.dataloading.negative_sampler.Uniform(1))
    >>> loader = dgl.dataloading.DataLoader(
    ...     g, {INTERACTS: train_eids}, edge_sampler, batch_size=1024, shuffle=True)
    >>> input_nodes, pair_graph, neg_pair_graph, subgraph = next(iter(loader))
    """

    def __init__(
        self,
        depth: int,
        width: int,
        max_neighbors: int | None = None,
        max_in_edges: int | None = None,
        generator: torch.Generator | None = None,
        prefetch_node_feats=None,
        prefetch_edge_feats=None,
        output_device=None,
    ):
        super().__init__()
        if depth < 0:
            raise ValueError(f"depth must be non-negative, got {depth}")
        if width < 1:
            raise ValueError(f"width must be positive, got {width}")
        if max_neighbors is None:
            max_neighbors = width
        if max_neighbors != -1 and max_neighbors < 1:
            raise ValueError(f"max_neighbors must be positive or -1, got {max_neighbors}")
        if max_in_edges is not None and max_in_edges < 1:
            raise ValueError(f"max_in_edges must be positive or None, got {max_in_edges}")
        self.depth = depth
        self.width = width
        self.max_neighbors = max_neighbors
        self.max_in_edges = max_in_edges
        self.generator = generator
        self.prefetch_node_feats = prefetch_node_feats
        self.prefetch_edge_feats = prefetch_edge_feats
        self.output_device = output_device
        self._arrays = GraphArrays()

    def __repr__(self):
        return (
            f"{type(self).__name__}(depth={self.depth}, width={self.width}, "
            f"max_neighbors={self.max_neighbors}, max_in_edges={self.max_in_edges})"
        )

    def sample(self, g, seed_nodes, exclude_eids=None):  # pylint: disable=arguments-differ
        """Sample the subgraph around ``seed_nodes``.

        Parameters
        ----------
        g : DGLGraph
            The graph (on CPU).
        seed_nodes : dict[str, Tensor] or Tensor
            Distinct seed node ids by node type (a tensor for a graph with one node type).
        exclude_eids : dict[etype, Tensor] or Tensor, optional
            Edges neither followed to grow the budget nor present in the subgraph.

        Returns
        -------
        input_nodes, output_nodes, subgraph
            The ids in ``g`` of the subgraph's nodes by type (seeds first), ``seed_nodes`` as
            given, and the induced subgraph.
        """
        seeds, was_dict = seeds_by_type(g, seed_nodes, check_distinct=False)  # checked when marked
        self._check_cpu(g)
        arrays = self._arrays.bind(g)
        streams = self._streams()
        with ExcludedEdges(g, arrays, excluded_by_etype(g, exclude_eids)) as excluded:
            nodes = self._sample_nodes(g, seeds, arrays, excluded, streams[:-1])
            subg = induced_subgraph(g, arrays, nodes, arrays.excluded if len(excluded.eids) else None,
                                    self.max_in_edges,
                                    None if self.max_in_edges is None else np.random.default_rng(int(streams[-1])))
        if self.output_device is not None:
            subg = subg.to(self.output_device)
        set_node_lazy_features(subg, self.prefetch_node_feats)
        set_edge_lazy_features(subg, self.prefetch_edge_feats)
        input_nodes = {t: subg.nodes[t].data[dgl.NID] for t in subg.ntypes}
        if not was_dict:
            input_nodes = input_nodes[g.ntypes[0]]
        return input_nodes, seed_nodes, subg

    def sample_nodes(self, g, seed_nodes, exclude_eids=None, budget_trace=None) -> dict:
        """The sampled node ids by type as int64 tensors (seeds first, then each round's draws
        in draw order), without building the subgraph.

        ``budget_trace``, if a list, receives after the seeds and after each round a dict
        ``{ntype: (ids, budgets)}`` of the current candidates (ids ascending), for inspection
        and tests.
        """
        self._check_cpu(g)
        seeds, _ = seeds_by_type(g, seed_nodes, check_distinct=False)
        arrays = self._arrays.bind(g)
        with ExcludedEdges(g, arrays, excluded_by_etype(g, exclude_eids)) as excluded:
            nodes = self._sample_nodes(g, seeds, arrays, excluded, self._streams()[:-1], budget_trace)
        return {t: torch.from_numpy(n) for t, n in nodes.items()}

    @staticmethod
    def _check_cpu(g):
        if g.device.type != "cpu":
            raise ValueError(f"DenseSubgraphSampler samples on the CPU, and this graph is on {g.device}: give "
                             "it the CPU graph; DataLoader(g_cpu, ..., device='cuda') moves each subgraph to the GPU")

    def _streams(self) -> np.ndarray:
        """The batch's random seeds (uint64): one for each round's budget spread and draws,
        and a last one for the ``max_in_edges`` cap. One torch draw, so that torch.manual_seed
        / the given generator / DataLoader worker seeding all carry over."""
        device = self.generator.device if self.generator is not None else "cpu"  # the sampler works on the CPU
        seeds = torch.randint(0, 2**63 - 1, (2 * self.depth + 3,), generator=self.generator, device=device)
        return seeds.cpu().numpy().astype(np.uint64)

    def _sample_nodes(self, g, seeds, arrays, excluded, streams, budget_trace=None) -> dict:
        """Sampled ids by type (local ids, seeds first). Works in the merged id space of
        :class:`~hetrec.sampling.induced.GraphArrays`: one array pass per round serves every
        relation. A type's candidates are kept in the order they were first reached (no sort),
        which is deterministic, so the same seed gives the same sample."""
        from . import kernels

        cap = None if self.max_neighbors == -1 else self.max_neighbors
        offset, types = arrays.node_offset, g.ntypes
        budget, state = arrays.budget, arrays.state
        sampled = {t: [offset[t] + s] for t, s in seeds.items()}
        # the candidates, global ids grouped by type (group i: cand[cut[i]:cut[i + 1]]), each
        # group in the order its nodes were first reached
        cand, cut = np.empty(0, dtype=np.int64), np.zeros(len(types) + 1, dtype=np.int64)
        touched = []  # every id that became a candidate: the only ones that may hold budget
        bounds = np.array([offset[t] for t in types] + [arrays.num_nodes], dtype=np.int64)
        try:
            for t, parts in sampled.items():  # seeds: distinct by type (one pass, no sort)
                if kernels.mark_sampled(state, parts[0]):
                    raise ValueError(repeated_seeds(t))
            new = {t: parts[0] for t, parts in sampled.items()}
            for round_ in range(self.depth + 1):
                if round_ == self.depth and budget_trace is None:
                    break  # the last draws' budget would only be traced, never drawn from
                fresh = self._spread_budget(new, arrays, cap, streams[2 * round_], touched)
                if len(fresh):
                    cand, cut = kernels.add_candidates(cand, cut, fresh, bounds)
                if budget_trace is not None:
                    budget_trace.append(self._trace(types, cand, cut, arrays))
                if round_ == self.depth:
                    break
                # every type draws from the budget as it stands at the start of the round
                picks, pick_cut = np.empty(self.width * len(types), dtype=np.int64), np.empty_like(cut)
                rest, rest_cut = np.empty(len(cand) + 1, dtype=np.int64), np.empty_like(cut)
                kernels.weighted_draws(cand, cut, budget, self.width, streams[2 * round_ + 1], picks, pick_cut,
                                       rest, rest_cut)
                new = {t: picks[pick_cut[i]:pick_cut[i + 1]] for i, t in enumerate(types)}
                for t in types:
                    sampled[t].append(new[t])
                drawn = picks[:pick_cut[-1]]
                state[drawn] = kernels.SAMPLED
                budget[drawn] = 0.0
                cand, cut = rest[:rest_cut[-1]], rest_cut
            return {t: np.concatenate(parts) - offset[t] for t, parts in sampled.items()}
        finally:  # leave the scratch space clean for the next batch
            for parts in sampled.values():
                for part in parts:
                    state[part] = kernels.UNSEEN
            for part in touched:
                budget[part] = 0.0
                state[part] = kernels.UNSEEN

    @staticmethod
    def _trace(types, cand, cut, arrays) -> dict:
        out = {}
        for i, t in enumerate(types):
            ids = np.sort(cand[cut[i]:cut[i + 1]])
            out[t] = (ids - arrays.node_offset[t], arrays.budget[ids].copy())
        return out

    @staticmethod
    def _spread_budget(new, arrays, cap, seed, touched):
        """Every node in ``new`` (global ids by type) gives 1/deg_r to each not-yet-sampled
        neighbour it reaches, over all relations at once (one compiled pass over the frontier's
        rows, :func:`~hetrec.sampling.kernels.spread_budget`; a row over the cap reaches ``cap``
        uniformly chosen usable neighbours). Returns the global ids that became candidates, in
        the order they were first reached (already flagged in ``arrays.state``)."""
        from . import kernels

        indptr, nbrs, _, row_offset = arrays.merged("out")
        # ``new`` holds global ids; a merged row is the relation's offset plus the source's own id
        rows = [(row_offset[e] - arrays.node_offset[e[0]]) + new[e[0]] for e in arrays.etypes if len(new[e[0]])]
        if not rows:
            return np.empty(0, dtype=np.int64)
        buf, n = kernels.spread_budget(indptr, nbrs, np.concatenate(rows), arrays.row_excluded,
                                       -1 if cap is None else cap, seed, arrays.excluded, arrays.state,
                                       arrays.budget, arrays.buffer("fresh", 0))
        arrays.keep_buffer("fresh", buf)
        fresh = buf[:n].copy()
        touched.append(fresh)
        return fresh
