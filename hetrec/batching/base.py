"""What every batch builder offers: one epoch's batches from a generator, and data-parallel shards."""
from __future__ import annotations

from typing import Iterator

import torch


class BatchBuilder:
    """Builds the training batches of one model family.

    A model creates its builder in ``setup``, with its own settings, and keeps it as
    ``model.batch_builder``; :meth:`hetrec.models.Recommender.train_batches` returns
    ``batch_builder.batches(generator)`` and :meth:`~hetrec.models.Recommender.shard_batch`
    returns ``batch_builder.shard(batch, rank, world)``. Subclasses implement :meth:`batches`,
    and :meth:`shard` when their batches can be split between data-parallel processes.
    """

    def batches(self, generator: torch.Generator) -> Iterator:
        """The batches of one epoch.

        Every random number is drawn from ``generator``, or from generators seeded with seeds
        drawn from it (:func:`hetrec._random.draw_seed`): the same generator state gives the
        same batches.

        Parameters
        ----------
        generator : torch.Generator
            The epoch's generator (:func:`hetrec.train.seed_everything`).
        """
        raise NotImplementedError

    def shard(self, batch, rank: int, world: int):
        """Rank ``rank``'s part of ``batch`` when ``world`` processes train together, or None:
        the batches are not split and go to the processes whole, in turn (the default)."""
        return None


__all__ = ["BatchBuilder"]
