"""Training loop, checkpoints and evaluation glue shared by every model."""
from .device import resolve_device, to_device
from .trainer import FitResult, TrainConfig, Trainer, TrainingError, evaluate, load_checkpoint, seed_everything

__all__ = ["Trainer", "TrainConfig", "FitResult", "TrainingError", "evaluate", "load_checkpoint",
           "seed_everything", "resolve_device", "to_device"]
