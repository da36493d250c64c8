"""Evaluation metrics: registered by name, run together by :func:`evaluate`.

A metric is ``compute(ctx: EvalContext) -> dict[str, float]`` registered with
:func:`register` (or :func:`genmodels.registry.register_metric`). Two-sample metrics report
a noise floor ``<name>_floor`` beside their value. Accumulating versions (update / compute /
reset, reduced across processes) derive from :class:`Metric`. See ``docs/metrics.md``.
"""

from __future__ import annotations

from . import (
    modes,  # noqa: F401  (registers mode-coverage)
    suite,  # noqa: F401  (registers c2st, prdc, fd, kid, ess)
)
from .base import Metric
from .builtin import DEFAULT_METRICS, register, two_sample
from .c2st import C2STResult, c2st
from .context import DEFAULT_MAX_EVAL, EvalContext, split_halves, split_indices
from .ess import ImportanceWeighted, ISEstimate, effective_sample_size, importance_sampling
from .evaluation import evaluate
from .prdc import prdc
from .streaming import MMD2, FrechetDistance, ImportanceSampling, MeanNLL

__all__ = [
    "MMD2",
    "C2STResult",
    "FrechetDistance",
    "ISEstimate",
    "ImportanceSampling",
    "ImportanceWeighted",
    "MeanNLL",
    "Metric",
    "c2st",
    "effective_sample_size",
    "importance_sampling",
    "prdc",
    "DEFAULT_MAX_EVAL",
    "DEFAULT_METRICS",
    "EvalContext",
    "evaluate",
    "register",
    "split_halves",
    "split_indices",
    "two_sample",
]
