"""Reusable layers for heterogeneous-graph recommenders (DESIGN §5).

Each layer lives in its own module and depends only on PyTorch and DGL, so any DGL
project can import it without the rest of hetrec.
"""
from .hgt import HGTLayer

__all__ = ["HGTLayer"]
