"""The one interface every hetrec model implements (MTHGT, its ablations and all baselines).

In the spirit of RecBole's ``calculate_loss`` / ``full_sort_predict``: the trainer and the
evaluator know nothing of a model but this surface, so every model is trained with the same
loop, early-stopped on the same validation metric and ranked by the same ``topn_metrics``.

Life cycle used by :class:`hetrec.train.Trainer`::

    model.setup(split)                       # once: sees the training graph / matrices only,
                                             # sets model.batch_builder (hetrec.batching)
    for epoch in ...:
        for batch in model.train_batches(generator):   # = model.batch_builder.batches(generator)
            out = model.loss(batch)          # LossOutput: .loss to backprop, .logs to record
    model.eval(); model.prepare_scoring()    # full-graph inference on the training graph
    scores = model.scores(users)             # (len(users), num_items) for full ranking
    model.scores_from_history(history)       # the same for users known only by their items (serving)
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterable, Optional

import torch

#: registry names of the models that implement :meth:`Recommender.cold_start_scorer`
COLD_START_MODELS = ("mthgt", "mthgt-cold", "mthgt-coldmean", "mthgt-coldmap", "mthgt-coldmap2", "attr-mostpop",
                     "attr-profile", "lightfm", "lightfm-attr", "lightfm-attr-raw")


@dataclass
class LossOutput:
    """What :meth:`Recommender.loss` returns: the scalar to minimise, and numbers to log."""

    loss: torch.Tensor
    logs: dict = field(default_factory=dict)


class Recommender(torch.nn.Module):
    """Base class of every hetrec recommender.

    Subclasses set :attr:`name` and implement :meth:`setup` (which sets :attr:`batch_builder`,
    the :mod:`hetrec.batching` builder of the model's training batches, with the model's
    settings), :meth:`loss` and either :meth:`embeddings` (inner-product models) or :meth:`scores`.
    Closed-form models (MostPop, item-kNN) set ``trainable = False`` and do their work in
    :meth:`setup`; the trainer then skips the epoch loop.
    """

    name: str = "recommender"
    trainable: bool = True
    #: whether some parameters may get no gradient in a step (DDP must then look for them)
    ddp_find_unused_parameters: bool = True
    #: a ``@dataclass`` of hyper-parameters with defaults (typed, overridable from the CLI)
    Config: type = None
    #: the :class:`hetrec.batching.BatchBuilder` of the training batches, set by :meth:`setup`
    #: (None when the model overrides :meth:`train_batches` itself)
    batch_builder = None

    def __init__(self, config=None, **overrides):
        super().__init__()
        if self.Config is not None:
            config = config if config is not None else self.Config()
            if overrides:
                config = replace(config, **overrides)
        self.config = config
        self._cache: Optional[tuple] = None
        self._device_graphs: dict = {}

    # -- device --------------------------------------------------------------------------------
    def register_graph(self, name: str, graph) -> None:
        """Keep the DGL graph ``graph`` as attribute ``name`` on the model's device: it moves
        with ``.to()`` / ``.cuda()`` like a buffer (``nn.Module`` moves tensors only). Graphs
        that only feed batch construction stay plain attributes, on the CPU."""
        self._device_graphs[name] = graph
        device = next((t.device for t in (*self.parameters(), *self.buffers())), None)
        setattr(self, name, graph if device is None else graph.to(device))

    def _apply(self, fn, *args, **kwargs):
        out = super()._apply(fn, *args, **kwargs)
        if self._device_graphs:
            device = fn(torch.zeros(1)).device  # where fn sends a float tensor
            for name in self._device_graphs:
                setattr(self, name, getattr(self, name).to(device))
        self._cache = None
        return out

    @property
    def device(self) -> torch.device:
        """The device of the model's parameters (CPU for a model without any)."""
        return next((t.device for t in (*self.parameters(), *self.buffers())), torch.device("cpu"))

    # -- training -----------------------------------------------------------------------------
    def setup(self, split) -> None:
        """Receive the training data (a :class:`hetrec.data.Split`). Never sees test edges."""
        raise NotImplementedError

    def train_batches(self, generator: torch.Generator) -> Iterable:
        """The batches of one epoch, drawn with ``generator`` (the only source of randomness):
        ``batch_builder.batches(generator)``."""
        if self.batch_builder is None:
            raise NotImplementedError(f"{type(self).__name__} has no batch_builder (is it set up?)")
        return self.batch_builder.batches(generator)

    def loss(self, batch) -> LossOutput:
        raise NotImplementedError

    def forward(self, batch) -> LossOutput:
        """``loss(batch)``: the forward pass, so ``DistributedDataParallel(model)(batch)``
        synchronises the gradients of the loss."""
        return self.loss(batch)

    def distributed_batches(self, generator: torch.Generator, rank: int, world: int) -> Iterable:
        """Rank ``rank``'s part of one epoch in data-parallel training. Every rank draws the
        same epoch from the same ``generator`` and keeps its part of each batch
        (:meth:`shard_batch`); a model whose batches cannot be split (sampled subgraphs,
        random walks) gives whole batches round-robin: batch ``i`` to rank ``i mod world``,
        and every rank stops at the same count so that all take the same number of steps (the
        last ``n mod world`` batches of an epoch are dropped, as by ``DistributedSampler(drop_last=True)``)."""
        batches = self.train_batches(generator)
        probe, i, split = None, -1, False
        for i, batch in enumerate(batches):
            part = self.shard_batch(batch, rank, world)
            if part is not None:
                split = True
                yield part
                continue
            probe = batch if i % world == rank else probe
            if i % world == world - 1:  # a full round: everyone has one
                yield probe
        if not split and 0 < i + 1 < world:
            raise ValueError(f"an epoch of {self.name} has {i + 1} batch(es), fewer than the {world} processes: "
                             "use a smaller batch_size (--set batch_size=...) or fewer processes (--nproc)")

    def shard_batch(self, batch, rank: int, world: int):
        """Rank ``rank``'s part of ``batch`` (None: batches of this model are not split):
        ``batch_builder.shard(batch, rank, world)``."""
        return None if self.batch_builder is None else self.batch_builder.shard(batch, rank, world)

    # -- inference ----------------------------------------------------------------------------
    def embeddings(self) -> tuple:
        """``(user_emb, item_emb)`` from full-graph inference on the training graph."""
        raise NotImplementedError

    def prepare_scoring(self) -> None:
        """Compute and cache what :meth:`scores` needs (called once per evaluation)."""
        with torch.no_grad():
            self._cache = tuple(t.detach() for t in self.embeddings())

    def invalidate_scoring(self) -> None:
        self._cache = None

    def scores(self, users: torch.Tensor) -> torch.Tensor:
        """Scores of every item for ``users`` (a 1-D LongTensor of user node ids)."""
        if self._cache is None:
            self.prepare_scoring()
        user_emb, item_emb = self._cache
        return user_emb[users] @ item_emb.T

    def scores_from_history(self, history) -> torch.Tensor:
        r"""Scores of every item for users the model was not trained on, known only by the items
        they interacted with ("folding in"): ``history`` is a users x items ``scipy.sparse`` matrix
        (nonzero where the user interacted), ``(len(history), num_items)`` out.

        The default, for inner-product models, makes a user's vector the mean of its items'
        vectors, :math:`e_u = \frac{1}{|H_u|} \sum_{i \in H_u} e_i`, so that
        :math:`s_{uj} = e_u \cdot e_j` is the mean inner product of item ``j`` with the user's
        items (an approximation: no model here was trained with that rule). Models that score
        from a user's row of the interaction matrix (EASE, item-kNN, RP3beta, GF-CF, Mult-VAE,
        MostPop) apply their own formula to ``history``. Raises ``NotImplementedError`` for a
        model with neither.
        """
        if type(self).embeddings is Recommender.embeddings:
            raise NotImplementedError(f"{self.name} cannot score a user known only by items")
        if self._cache is None:
            self.prepare_scoring()
        item_emb = self._cache[1]
        return history_mean(history, item_emb) @ item_emb.T

    def cold_start_scorer(self, graph, cold: dict):
        """Scores for nodes without training interactions (cold start, docs/coldstart.md):
        ``graph`` is the training graph, possibly with new nodes and edges (a new user's attribute
        edges and first interactions); ``cold`` (node type -> LongTensor of ids) names the nodes
        to score from their edges alone. Returns ``score_fn(users) -> (len(users), num_items)``
        over ``graph``'s users and items, for :func:`hetrec.eval.topn_metrics`.

        Models that read only the interaction matrix (one vector or row per ID) cannot: they
        raise ``NotImplementedError`` saying so.
        """
        raise NotImplementedError(
            f"{self.name} cannot score users or items it has no training interactions for (cold start): "
            f"it reads only the user-item interactions; models that can: {', '.join(COLD_START_MODELS)}")

    def train(self, mode: bool = True):
        if mode:
            self._cache = None  # parameters are about to change
        return super().train(mode)


def history_mean(history, vectors: torch.Tensor) -> torch.Tensor:
    """The mean of ``vectors``' rows over each row's nonzero columns of the ``scipy.sparse``
    matrix ``history`` (a zero row gives a zero vector), on ``vectors``' device."""
    import numpy as np
    import scipy.sparse as sp

    h = sp.csr_matrix(history, dtype=np.float32)
    h.sum_duplicates()
    h.data[:] = 1.0
    counts = np.maximum(np.diff(h.indptr), 1).astype(np.float32)
    coo = sp.diags(1.0 / counts).dot(h).tocoo()
    mean = torch.sparse_coo_tensor(np.vstack([coo.row, coo.col]), coo.data.astype(np.float32), coo.shape,
                                   device=vectors.device)
    return torch.sparse.mm(mean, vectors)


class ClosedFormRecommender(Recommender):
    """A model without trained parameters (MostPop, item-kNN, RP3beta, EASE, GF-CF): everything
    happens in :meth:`setup`, from the training matrix alone; the trainer skips the epoch loop,
    and a saved run rebuilds the model by calling :meth:`setup` on the fold again."""

    trainable = False

    def train_batches(self, generator: torch.Generator):
        return iter(())

    def loss(self, batch):
        raise RuntimeError(f"{self.name} is closed-form: it has no loss to train")

    def prepare_scoring(self) -> None:  # scores are computed from what setup stored
        pass
