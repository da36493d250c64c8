"""Abstract interfaces shared by every family: models, objectives, batches."""

from .batch import Batch
from .model import (
    DensityModel,
    GenerativeModel,
    IterativeModel,
    LabelConditional,
    LatentVariableModel,
    VariationalBound,
)
from .objective import LossOutput, Objective, Phase

__all__ = [
    "Batch",
    "DensityModel",
    "GenerativeModel",
    "IterativeModel",
    "LabelConditional",
    "LatentVariableModel",
    "LossOutput",
    "Objective",
    "Phase",
    "VariationalBound",
]
