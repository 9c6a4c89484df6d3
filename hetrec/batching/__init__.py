"""Batch builders: the training batches of each model family, drawn from the trainer's generator.

As in DGL's ``dataloading``, PyG's ``loader`` and RecBole's data preparation, batching lives
apart from the models. A model says which builder it uses, with its settings: its ``setup``
sets ``model.batch_builder``, and :meth:`hetrec.models.Recommender.train_batches` returns
``model.batch_builder.batches(generator)``. A model never knows how its batch was drawn.

* :class:`EdgeSubgraphBatches` — interactions with a subgraph sampled around them (MTHGT's
  sampled mode: ``hgt``, ``hgt-d``, ``hgt-m``, ``mthgt-sampled``, ``mthgt-paper``);
* :class:`FullGraphBatches` — interactions, negatives and link-prediction samples for a step
  over the whole graph (MTHGT's full-graph mode, ``mthgt``);
* :class:`MiniBatches` — interactions with negatives shared by the batch and a seed for the
  step's neighbour draws (MTHGT's mini-batch mode, ``mthgt-minibatch``);
* :class:`BPRTripleBatches` — BPR triples (``bprmf``, ``lightgcn``, ``lightgcn-softmax``, ``ngcf``, ``xsimgcl``);
* :class:`ItemPairBatches` — query, positive and negative items with their neighbourhood
  blocks (``pinsage``);
* :class:`WalkTripleBatches` — ``(x, y, r)`` triples from meta-path walks (``hin2vec``);
* :class:`UserRowBatches` — users, whose whole training rows are the input (``multvae``).

Randomness: a builder draws every random number from the generator it is given (the
trainer's, :func:`hetrec.train.seed_everything`), or from seeds drawn from it
(:func:`hetrec._random.draw_seed`) for DGL's samplers, which draw from global generators.
Only :class:`EdgeSubgraphBatches` leaves a global generator changed: DGL's ``DataLoader``
draws from torch's, which it seeds from the given generator. The same generator state gives
the same batches; the seeding helpers live in :mod:`hetrec._random`.
"""
from .base import BatchBuilder
from .full_graph import FullGraphBatch, FullGraphBatches
from .item_pairs import ItemPairBatches, PinSageBatch
from .minibatch import MiniBatch, MiniBatches
from .subgraph import EdgeSubgraphBatch, EdgeSubgraphBatches
from .triples import BPRBatch, BPRTripleBatches
from .users import UserRowBatch, UserRowBatches
from .walks import WalkTripleBatches

__all__ = ["BatchBuilder", "EdgeSubgraphBatch", "EdgeSubgraphBatches", "FullGraphBatch", "FullGraphBatches",
           "MiniBatch", "MiniBatches",
           "BPRBatch", "BPRTripleBatches", "PinSageBatch", "ItemPairBatches", "WalkTripleBatches",
           "UserRowBatch", "UserRowBatches"]
