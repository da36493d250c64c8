"""Evaluation metrics: registered by name, run together by :func:`evaluate`.

A metric is ``compute(ctx: EvalContext) -> dict[str, float]`` registered with
:func:`register` (or :func:`genmodels.registry.register_metric`). Two-sample metrics report
a noise floor ``<name>_floor`` beside their value. See ``docs/metrics.md``.
"""

from __future__ import annotations

from . import modes  # noqa: F401  (registers mode-coverage)
from .builtin import DEFAULT_METRICS, register, two_sample
from .context import DEFAULT_MAX_EVAL, EvalContext, split_halves
from .evaluation import evaluate

__all__ = [
    "DEFAULT_MAX_EVAL",
    "DEFAULT_METRICS",
    "EvalContext",
    "evaluate",
    "register",
    "split_halves",
    "two_sample",
]
