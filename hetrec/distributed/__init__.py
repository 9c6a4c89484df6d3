"""Beyond one machine: a fold's training graph partitioned for DGL's distributed engine.

:func:`partition_fold` partitions the training graph of one fold with
:func:`dgl.distributed.partition_graph` (METIS when DGL has it, else random), keeping the hetrec
schema and the split; :func:`check_partition` refuses a partition folder that does not match the
data; :func:`partition_edges` and :func:`load_heldout` read a folder back in the dataset graph's ids.
:func:`local_graph` reads one partition with its HALO nodes as a hetrec-schema heterograph,
on which :class:`LocalDenseSampler` runs the dense sampler with seeds and results in
``DistGraph`` ids. :func:`train_distributed` trains BPR-MF, LightGCN or MTHGT on the partitions
with DGL graph servers, trainers, ``DistGraph``, ``DistEmbedding`` and ``DistTensor`` on this
machine (127.0.0.1) (LightGCN's propagation computed exactly through DGL's distributed neighbour
queries: :class:`DistLightGCN`; MTHGT's sampled recipe and its ablations on subgraphs of each
machine's partition plus HALO or from DGL's distributed neighbour sampler, with exact layer-wise
inference: :mod:`hetrec.distributed.mthgt`), validates it with full ranking over the distributed
embeddings (early stopping), and tests the best epoch; ``hetrec dist-train`` runs it. The other
models do not train on partitions yet (docs/distributed.md).

Data-parallel training on one machine (``torch.distributed`` processes over one graph) is another
thing: it lives in :mod:`hetrec.train` (``hetrec train --nproc``).

Partitioning imports only :mod:`hetrec.data` and the file helpers of ``hetrec._io``; training also
uses hetrec's BPR loss, negative sampler and metrics (:mod:`hetrec.nn`, :mod:`hetrec.sampling`,
:mod:`hetrec.eval`).
"""
from .lightgcn import DistLightGCN
from .local import DATASET_ID, DIST_ID, ID_SPACES, INNER, LocalDenseSampler, local_graph
from .mthgt import DistMTHGTConfig, DistShaDowSampler
from .partition import (
    HELDOUT_FILE,
    METADATA_FILE,
    METHODS,
    ORIG_IDS_FILE,
    RANDOM_DRAWS,
    PartitionError,
    check_partition,
    load_heldout,
    metis_available,
    partition_edges,
    partition_fold,
    read_metadata,
)
from .train import (
    DIST_MODELS,
    DistBPRConfig,
    DistLightGCNConfig,
    DistributedTrainingError,
    train_bprmf_distributed,
    train_distributed,
)

__all__ = [
    "partition_fold", "check_partition", "read_metadata", "partition_edges", "load_heldout", "metis_available",
    "PartitionError", "METHODS", "METADATA_FILE", "HELDOUT_FILE", "ORIG_IDS_FILE", "RANDOM_DRAWS",
    "train_distributed", "train_bprmf_distributed", "DIST_MODELS", "DistBPRConfig", "DistLightGCNConfig",
    "DistributedTrainingError", "DistLightGCN", "DistMTHGTConfig", "DistShaDowSampler",
    "local_graph", "LocalDenseSampler", "DIST_ID", "DATASET_ID", "INNER", "ID_SPACES",
]
