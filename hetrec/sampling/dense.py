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
    seeds_by_type,
)
from .segments import sample_segments, weighted_draw


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
        exactly node-induced. A deliberate deviation (DESIGN §5 cost note) for edge-dense graphs
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
        seeds, was_dict = seeds_by_type(g, seed_nodes)
        arrays = self._arrays.bind(g)
        rng = self._numpy_rng()
        with ExcludedEdges(g, arrays, excluded_by_etype(g, exclude_eids)) as excluded:
            nodes = self._sample_nodes(g, seeds, arrays, excluded, rng)
            subg = induced_subgraph(g, nodes, excluded, self.max_in_edges, rng)
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
        if g.device.type != "cpu":
            raise ValueError(f"DenseSubgraphSampler samples on the CPU, and this graph is on {g.device}: give "
                             "it the CPU graph; DataLoader(g_cpu, ..., device='cuda') moves each subgraph to the GPU")
        seeds, _ = seeds_by_type(g, seed_nodes)
        arrays = self._arrays.bind(g)
        with ExcludedEdges(g, arrays, excluded_by_etype(g, exclude_eids)) as excluded:
            nodes = self._sample_nodes(g, seeds, arrays, excluded, self._numpy_rng(), budget_trace)
        return {t: torch.from_numpy(n) for t, n in nodes.items()}

    def _numpy_rng(self) -> np.random.Generator:
        # one torch draw per batch seeds numpy's generator: torch.manual_seed / the given
        # generator / DataLoader worker seeding all carry over
        device = self.generator.device if self.generator is not None else "cpu"  # the sampler works on the CPU
        seed = torch.randint(0, 2**63 - 1, (1,), generator=self.generator, device=device).item()
        return np.random.default_rng(seed)

    def _sample_nodes(self, g, seeds, arrays, excluded, rng, budget_trace=None) -> dict:
        cap = None if self.max_neighbors == -1 else self.max_neighbors
        budget = {t: arrays.budget(t) for t in g.ntypes}
        is_sampled = {t: arrays.flag(t) for t in g.ntypes}
        sampled = {t: [s] for t, s in seeds.items()}
        touched = {t: [] for t in g.ntypes}  # ids whose budget may be non-zero
        candidates = {t: np.empty(0, dtype=np.int64) for t in g.ntypes}
        try:
            for t, s in seeds.items():
                is_sampled[t][s] = True
            new = seeds
            for round_ in range(self.depth + 1):
                self._spread_budget(g, new, arrays, excluded, budget, is_sampled, touched, cap, rng)
                for t in g.ntypes:
                    if touched[t]:
                        ids = np.concatenate([candidates[t]] + touched[t])
                        ids = np.unique(ids)
                        candidates[t] = ids[budget[t][ids] > 0]
                        touched[t] = []
                if budget_trace is not None:
                    budget_trace.append({t: (c.copy(), budget[t][c]) for t, c in candidates.items()})
                if round_ == self.depth:
                    break
                # every type draws from the budget as it stands at the start of the round
                new = {}
                for t in g.ntypes:
                    cand = candidates[t]
                    b = budget[t][cand]
                    pick = weighted_draw(b * b, self.width, rng)
                    new[t] = cand[pick]
                    sampled[t].append(new[t])
                    is_sampled[t][new[t]] = True
                    budget[t][new[t]] = 0.0
                    left = np.ones(len(cand), dtype=bool)
                    left[pick] = False
                    candidates[t] = cand[left]
            return {t: np.concatenate(parts) for t, parts in sampled.items()}
        finally:  # leave the scratch space clean for the next batch
            for t in g.ntypes:
                for part in sampled[t]:
                    is_sampled[t][part] = False
                budget[t][candidates[t]] = 0.0
                for part in touched[t]:
                    budget[t][part] = 0.0

    @staticmethod
    def _spread_budget(g, new, arrays, excluded, budget, is_sampled, touched, cap, rng):
        """Every node in ``new`` gives 1/deg_r to each not-yet-sampled neighbour it reaches."""
        for etype in g.canonical_etypes:
            src_t, _, dst_t = etype
            if len(new[src_t]) == 0:
                continue
            indptr, indices, eids = arrays.csr(etype)
            flags = excluded.get(etype)
            pos, seg, deg = sample_segments(
                indptr, new[src_t], cap, rng, eids, flags,
                None if flags is None else excluded.rows[etype],
            )
            if len(pos) == 0:
                continue
            if cap is not None:
                deg = np.minimum(deg, cap)
            nbr = indices[pos]
            fresh = ~is_sampled[dst_t][nbr]
            nbr = nbr[fresh]
            np.add.at(budget[dst_t], nbr, 1.0 / deg[seg[fresh]])
            touched[dst_t].append(nbr)
