"""Training: the one :class:`Trainer` for every family, checkpoints and the run store.

Example:
    >>> from genmodels.train import RunStore, Trainer
    >>> trainer = Trainer(config.train, store=RunStore("runs/x"))   # doctest: +SKIP
    >>> result = trainer.fit(model, objective, data.train, val=data.val)  # doctest: +SKIP
"""

from __future__ import annotations

from .ema import EMA
from .loggers import JsonlLogger, Logger, MLflowLogger, TensorBoardLogger
from .progress import ProgressBar
from .schedule import LRSchedule, lr_factor
from .store import RunStore
from .trainer import FitResult, Trainer

__all__ = [
    "EMA", "FitResult", "JsonlLogger", "LRSchedule", "Logger", "MLflowLogger", "ProgressBar",
    "RunStore", "TensorBoardLogger", "Trainer", "lr_factor",
]
