"""Datasets as ``dgl.heterograph`` in one schema, user tables, synthetic graphs and k-fold splits.

This package imports nothing else of hetrec but the neutral file helpers of ``hetrec._io``
(data flows one way: data, then sampling, then models).
"""
from .builder import Relation, build_graph, graph_digest
from .coldstart import ColdFolds, ColdSplit, cold_start_split
from .datasets import DATASETS, HeteroRecDataset, LastFM2K, MovieLens1M, load_dataset
from .errors import ChecksumError, DataError
from .files import data_root, download, extract_members, verify_file
from .schema import INTERACTED_BY, INTERACTS, ITEM, USER, attribute_ntypes, reverse_etypes
from .split import KFold, Split, kfold_split
from .synthetic import synthetic
from .tables import TablesDataset, from_tables, load_tables_dir

__all__ = [
    "DATASETS", "HeteroRecDataset", "LastFM2K", "MovieLens1M", "load_dataset", "TablesDataset",
    "from_tables", "load_tables_dir", "synthetic", "kfold_split", "KFold", "Split",
    "DataError", "ChecksumError", "data_root", "download", "extract_members", "verify_file",
    "Relation", "build_graph", "graph_digest", "INTERACTS", "INTERACTED_BY", "USER", "ITEM", "reverse_etypes",
    "attribute_ntypes", "cold_start_split", "ColdFolds", "ColdSplit",
]
