"""A plain reference implementation of dense subgraph sampling, the oracle of the tests.

Written for clarity, not speed: Python dicts, sets and loops over nodes and edges, one step of
the algorithm per statement, following the docstring of
:class:`hetrec.sampling.DenseSubgraphSampler`. ``benchmarks/sampler.py`` times it too.
"""
from __future__ import annotations

import random

import dgl
import torch


class ReferenceDenseSampler:
    """Same semantics as ``DenseSubgraphSampler`` (``max_neighbors=-1`` means no cap).

    ``draws``, if given to :meth:`sample_nodes`, replaces the random draws: a list with, per
    round, ``{ntype: [node, ...]}``; each forced node must be a current candidate and each
    type must draw ``min(width, #candidates)`` nodes. This lets a test replay the fast
    sampler's draws and compare the budgets that result.
    """

    def __init__(self, depth, width, max_neighbors=None, seed=0):
        self.depth = depth
        self.width = width
        self.max_neighbors = width if max_neighbors is None else max_neighbors
        self.rng = random.Random(seed)
        self._adjacency = {}

    def adjacency(self, g):
        """``{etype: {u: [(v, eid), ...]}}``: the out-edges of every node, per relation."""
        key = id(g)
        if key not in self._adjacency:
            adj = {}
            for etype in g.canonical_etypes:
                src, dst, eid = g.edges(form="all", etype=etype)
                out = {}
                for u, v, e in zip(src.tolist(), dst.tolist(), eid.tolist()):
                    out.setdefault(u, []).append((v, e))
                adj[etype] = out
            self._adjacency[key] = (g, adj)  # keep g alive so its id is not reused
        return self._adjacency[key][1]

    def sample_nodes(self, g, seeds, exclude=None, trace=None, draws=None):
        adj = self.adjacency(g)
        exclude = {g.to_canonical_etype(k): set(torch.as_tensor(v).tolist())
                   for k, v in (exclude or {}).items()}
        sampled = {t: [int(x) for x in torch.as_tensor(seeds.get(t, []))] for t in g.ntypes}
        sampled_set = {t: set(sampled[t]) for t in g.ntypes}
        budget = {t: {} for t in g.ntypes}

        def add_budget(ntype, u):
            for etype in g.canonical_etypes:
                if etype[0] != ntype:
                    continue
                neighbours = [(v, e) for v, e in adj[etype].get(u, [])
                              if e not in exclude.get(etype, set())]
                if not neighbours:
                    continue
                if self.max_neighbors != -1 and len(neighbours) > self.max_neighbors:
                    neighbours = self.rng.sample(neighbours, self.max_neighbors)
                share = 1.0 / len(neighbours)
                dst_type = etype[2]
                for v, _ in neighbours:
                    if v not in sampled_set[dst_type]:
                        budget[dst_type][v] = budget[dst_type].get(v, 0.0) + share

        for t in g.ntypes:
            for u in sampled[t]:
                add_budget(t, u)
        if trace is not None:
            trace.append({t: dict(budget[t]) for t in g.ntypes})
        for round_ in range(self.depth):
            new = {}
            for t in g.ntypes:
                candidates = dict(budget[t])
                if draws is not None:
                    chosen = list(draws[round_][t])
                    assert all(v in candidates for v in chosen), "forced draw is not a candidate"
                    assert len(chosen) == min(self.width, len(candidates))
                else:
                    chosen = []
                    while candidates and len(chosen) < self.width:
                        nodes = list(candidates)
                        weights = [candidates[v] ** 2 for v in nodes]
                        v = self.rng.choices(nodes, weights=weights)[0]
                        chosen.append(v)
                        del candidates[v]
                new[t] = chosen
            for t in g.ntypes:
                for v in new[t]:
                    del budget[t][v]
                    sampled[t].append(v)
                    sampled_set[t].add(v)
            for t in g.ntypes:
                for v in new[t]:
                    add_budget(t, v)
            if trace is not None:
                trace.append({t: dict(budget[t]) for t in g.ntypes})
        return sampled

    def sample(self, g, seed_nodes, exclude_eids=None):
        """``(input_nodes, output_nodes, subgraph)`` like the fast sampler; edges by loops."""
        nodes = self.sample_nodes(g, seed_nodes, exclude_eids)
        adj = self.adjacency(g)
        exclude = {g.to_canonical_etype(k): set(torch.as_tensor(v).tolist())
                   for k, v in (exclude_eids or {}).items()}
        position = {t: {v: i for i, v in enumerate(nodes[t])} for t in g.ntypes}
        data, eids = {}, {}
        for etype in g.canonical_etypes:
            src_t, _, dst_t = etype
            s, d, ids = [], [], []
            for u in nodes[src_t]:
                for v, e in adj[etype].get(u, []):
                    if v in position[dst_t] and e not in exclude.get(etype, set()):
                        s.append(position[src_t][u])
                        d.append(position[dst_t][v])
                        ids.append(e)
            data[etype] = (torch.tensor(s, dtype=torch.int64), torch.tensor(d, dtype=torch.int64))
            eids[etype] = torch.tensor(ids, dtype=torch.int64)
        subg = dgl.heterograph(data, num_nodes_dict={t: len(nodes[t]) for t in g.ntypes})
        for t in g.ntypes:
            subg.nodes[t].data[dgl.NID] = torch.tensor(nodes[t], dtype=torch.int64)
        for etype in g.canonical_etypes:
            subg.edges[etype].data[dgl.EID] = eids[etype]
        input_nodes = {t: subg.nodes[t].data[dgl.NID] for t in g.ntypes}
        return input_nodes, seed_nodes, subg
