"""Beyond one machine: a fold's training graph partitioned for DGL's distributed engine.

:func:`partition_fold` partitions the training graph of one fold with
:func:`dgl.distributed.partition_graph` (METIS when DGL has it, else random), keeping the hetrec
schema and the split; :func:`check_partition` refuses a partition folder that does not match the
data; :func:`partition_edges` and :func:`load_heldout` read a folder back in the dataset graph's ids.
Distributed *training* on the partitions is not built yet (docs/distributed.md).

Data-parallel training on one machine (``torch.distributed`` processes over one graph) is another
thing: it lives in :mod:`hetrec.train` (``hetrec train --nproc``).

This package imports only :mod:`hetrec.data` and the file helpers of ``hetrec._io``.
"""
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

__all__ = [
    "partition_fold", "check_partition", "read_metadata", "partition_edges", "load_heldout", "metis_available",
    "PartitionError", "METHODS", "METADATA_FILE", "HELDOUT_FILE", "ORIG_IDS_FILE", "RANDOM_DRAWS",
]
