"""hetrec: recommendation on heterogeneous graphs with DGL and PyTorch."""

__version__ = "0.1.0"


def load_run(run_dir, fold=None, device=None):
    """A trained run folder ready to serve (:func:`hetrec.serve.load_run`):
    ``hetrec.load_run(dir).recommend(users, k)``. Imported on call, so that ``import hetrec``
    stays light."""
    from .serve import load_run as load

    return load(run_dir, fold=fold, device=device)
