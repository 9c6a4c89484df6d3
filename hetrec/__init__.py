"""hetrec: recommendation on heterogeneous graphs with DGL and PyTorch."""

__version__ = "0.1.0"
