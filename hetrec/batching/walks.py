"""HIN2Vec's batches: ``(x, y, r)`` triples read off meta-path guided random walks, each with
type-aware corrupted ``y``."""
from __future__ import annotations

import dgl
import torch

from .._random import draw_seed, seeded_dgl
from .base import BatchBuilder


class WalkTripleBatches(BatchBuilder):
    """Per epoch: ``walks_per_node`` walks from every node of each walk's start type, the
    triples ``(x, y, r)`` of every two nodes at most ``window`` steps apart on a walk (``r`` the
    meta-path between them; pairs with ``x = y`` dropped), shuffled and cut into batches of
    ``batch_size``, each ``y`` with ``num_negatives`` nodes of its type drawn uniformly.

    Nodes are global ids: type ``t``'s node ``i`` is ``type_offset[t] + i``. A batch is a dict
    with ``x``, ``y``, ``r`` (``(B,)``) and ``y_neg`` (``(B, num_negatives)``). The walks are
    DGL's: each walk set draws from DGL's generator, seeded with a seed drawn from the epoch's
    generator, on one thread.

    Parameters
    ----------
    graph : DGLGraph
        The training graph (on the CPU).
    walks : list of tuple
        ``(path, offsets, rel)`` per walk: the relations of the walk, the global-id offset of
        the node type at each position, and ``rel[p, k - 1]`` the meta-path id between
        positions ``p`` and ``p + k`` (``-1``: none).
    window : int
        Largest distance between ``x`` and ``y`` on a walk.
    walks_per_node : int
        Walks started from every node, per walk and per epoch.
    type_offset : Tensor
        ``(T + 1,)``: the first global id of each of the T node types, then the number of nodes.
    batch_size : int
        Triples per batch.
    num_negatives : int
        Corrupted ``y`` per triple.
    """

    def __init__(self, graph, walks: list, window: int, walks_per_node: int, type_offset: torch.Tensor,
                 batch_size: int, num_negatives: int):
        self.graph = graph
        self.walks = walks
        self.window = window
        self.walks_per_node = walks_per_node
        self.batch_size = batch_size
        self.num_negatives = num_negatives
        self.type_offset = type_offset
        self.type_count = type_offset.diff()
        self.node_type = torch.repeat_interleave(torch.arange(len(self.type_count), device=type_offset.device),
                                                 self.type_count)

    def triples(self, generator: torch.Generator) -> tuple:
        """``(x, y, r)`` of one epoch's walks: global node ids and meta-path ids, unshuffled.
        Vectorised over walks; loops only over walks and window offsets."""
        xs, ys, rs = [], [], []
        for path, offsets, rel in self.walks:
            start_type = path[0][0]
            seeds = torch.arange(self.graph.num_nodes(start_type), device=self.graph.device).repeat(
                self.walks_per_node)
            with seeded_dgl(draw_seed(generator, 2**31)):
                traces, _ = dgl.sampling.random_walk(self.graph, seeds, metapath=path)
            traces = traces.long()
            nodes = torch.where(traces >= 0, traces + offsets, torch.full_like(traces, -1))
            L = len(path)
            for k in range(1, min(self.window, L) + 1):
                x, y = nodes[:, : L + 1 - k], nodes[:, k:]
                r = rel[: L + 1 - k, k - 1].expand_as(x)
                keep = (x >= 0) & (y >= 0) & (x != y)
                xs.append(x[keep])
                ys.append(y[keep])
                rs.append(r[keep])
        return torch.cat(xs), torch.cat(ys), torch.cat(rs)

    def batches(self, generator: torch.Generator):
        x, y, r = self.triples(generator)
        order = torch.randperm(len(x), generator=generator, device=generator.device)
        x, y, r = x[order], y[order], r[order]
        for start in range(0, len(x), self.batch_size):
            bx, by, br = (t[start:start + self.batch_size] for t in (x, y, r))
            # corrupt y with a uniformly drawn node of y's type
            t = self.node_type[by].unsqueeze(1)
            u = torch.rand((len(by), self.num_negatives), generator=generator, device=generator.device)
            neg = self.type_offset[t] + (u * self.type_count[t]).long().clamp(
                max=self.type_count[t] - 1)
            yield {"x": bx, "y": by, "r": br, "y_neg": neg}


__all__ = ["WalkTripleBatches"]
