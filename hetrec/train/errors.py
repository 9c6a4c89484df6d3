"""The error of the training package, in a module of its own so that the trainer and the
data-parallel launcher (:mod:`hetrec.train.distributed`) both import it without importing each other."""


class TrainingError(RuntimeError):
    """Training cannot go on (a non-finite loss, an unusable checkpoint)."""


__all__ = ["TrainingError"]
