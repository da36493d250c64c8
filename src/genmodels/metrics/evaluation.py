""":func:`evaluate`: every registered metric of a model against test data, in one flat dict."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import torch
from torch import Tensor

from ..core import DensityModel, GenerativeModel, LabelConditional
from ..errors import InputError
from ..registry import get_metric
from .builtin import DEFAULT_METRICS, DENSITY_METRICS
from .context import DEFAULT_MAX_EVAL, EvalContext, split_indices


def evaluate(
    model: GenerativeModel,
    test: Tensor,
    *,
    metrics: Sequence[str] | None = None,
    n_samples: int | None = None,
    generator: torch.Generator | None = None,
    levels: int | None = None,
    entropy: float | None = None,
    entropy_se: float | None = None,
    batch_size: int = 1024,
    dataset: str | None = None,
    labels: Tensor | None = None,
) -> dict[str, float]:
    """Evaluates a model against test data; one flat dict of finite floats.

    Procedure:

    1. The test split ``(N, *D)`` is permuted with ``generator`` and cut into two disjoint
       halves A and B of size ``m = min(N // 2, n_samples)`` (``n_samples`` defaults to
       :data:`~genmodels.metrics.context.DEFAULT_MAX_EVAL` = 2000, which keeps exact W2
       cheap).
    2. ``m`` model samples are drawn once, ``model.sample(m, generator=generator)``, after
       the permutation, and shared by every two-sample metric. A class-conditional model
       (:class:`~genmodels.core.LabelConditional` trained with labels) given the test
       ``labels`` draws one sample per label of half A (with its guidance weight), so the
       samples follow the test marginal :math:`\\sum_y p(y)\\,p_\\theta(x \\mid y)`; without
       labels it draws from the null label (its unconditional network).
    3. Each metric runs on an :class:`EvalContext`; metrics that do not apply return
       nothing and are left out (never NaN).

    Keys (where they apply):

    - ``nll``, ``nll_se``: mean ``-log p(x)`` over all N test points, nats per example,
      and its standard error (density models only). ``bpd``, ``bpd_se`` = nll / (d ln 2)
      when ``levels`` is given (``nll`` is already on the dequantised continuous scale).
    - ``entropy``, ``entropy_se`` copied from the arguments; ``kl_to_data = nll - entropy``
      (the gap to the entropy floor) and ``kl_to_data_se``.
    - ``w2``/``w2_floor``, ``mmd2``/``mmd2_floor`` (+ ``mmd2_bandwidth``),
      ``energy``/``energy_floor``: the metric between the model samples and A, and the same
      metric between B and A (the noise floor of a perfect model at this ``m``).
    - ``n_eval``: ``m``.
    - ``nll_nonfinite`` / ``samples_nonfinite``: counts that replace the metrics they
      invalidate.

    Args:
        model: a model in data units (standardisation already folded in).
        test: the test split in data units, ``(N, *D)`` with ``D = model.event_shape``.
        metrics: registered metric names; ``None`` runs the defaults that apply
            (:data:`~genmodels.metrics.DEFAULT_METRICS`).
        n_samples: the cap on ``m``, the size of each compared sample.
        generator: randomness of the split and of the model samples.
        levels: discrete levels per coordinate of discrete data (turns on ``bpd``).
        entropy: the data distribution's entropy in nats, when known.
        entropy_se: its standard error (``None`` or 0 when exact).
        batch_size: the batch size of ``log_prob`` passes.
        dataset: the registered name of the test data (mode coverage applies only to its
            own data set).
        labels: integer class labels of the test points ``(N,)`` (used by class-conditional
            models only; ignored by the others).

    Raises:
        InputError: an unknown metric name, test points of the wrong shape or not finite,
            ``n_samples < 2``, ``labels`` not of shape ``(N,)``, no requested metric
            applying at all, a named metric that does not apply while others do, or a
            density metric (``nll``, ``elbo``) named for a model without a density (a GAN;
            the reason ``model.no_density`` when the model declares one: a data-to-data
            flow)."""
    names = list(DEFAULT_METRICS) if metrics is None else list(dict.fromkeys(metrics))
    entries = [get_metric(name) for name in names]
    asked = [n for n in names if n in DENSITY_METRICS] if metrics is not None else []
    if asked and isinstance(model, GenerativeModel) and not isinstance(model, DensityModel):
        raise InputError(f"metric {asked[0]!r}: " + (
            model.no_density or f"a {type(model).__name__} has no density (it only samples)"))
    test = torch.as_tensor(test)
    shape = tuple(getattr(model, "event_shape", test.shape[1:]))
    if test.ndim < 1 or tuple(test.shape[1:]) != shape:
        raise InputError(
            f"test data: points of shape {tuple(test.shape[1:])}, the model's are {shape}"
        )
    if not torch.isfinite(test).all():
        raise InputError("test data: non-finite values")
    if n_samples is not None and n_samples < 2:
        raise InputError(f"n_samples must be at least 2, got {n_samples}")
    inner = getattr(model, "inner", model)
    conditional = isinstance(inner, LabelConditional) and inner.n_classes > 0
    if labels is not None and conditional:
        labels = torch.as_tensor(labels)
        if tuple(labels.shape) != (test.shape[0],):
            raise InputError(f"test labels: shape {tuple(labels.shape)}, the test data has "
                             f"{test.shape[0]} points")
    test = test.to(model.device)
    ia, ib = split_indices(test.shape[0], DEFAULT_MAX_EVAL if n_samples is None else n_samples,
                           generator)
    half_a, half_b = test[ia.to(test.device)], test[ib.to(test.device)]
    labels_a = (labels[ia.cpu()].long().to(model.device)
                if labels is not None and conditional else None)
    ctx = EvalContext(
        model, test, half_a, half_b, generator=generator, levels=levels, entropy=entropy,
        entropy_se=entropy_se, batch_size=batch_size, dataset=dataset, labels=labels_a,
    )
    result: dict[str, float] = {}
    was_training = model.training
    model.eval()
    inapplicable = []
    try:
        for name, entry in zip(names, entries, strict=True):
            out = entry.compute(ctx)
            if not out:
                inapplicable.append(name)
            result.update(out)
    finally:
        model.train(was_training)
    if metrics is not None and inapplicable and result:
        raise InputError(f"metric {inapplicable[0]!r} does not apply to a "
                         f"{type(model).__name__} on this test data (drop it from --metrics)")
    if not result:
        raise InputError(
            f"none of the metrics {', '.join(names)} applies to a "
            f"{type(model).__name__} with {test.shape[0]} test points"
        )
    if entropy is not None:
        result["entropy"] = float(entropy)
        result["entropy_se"] = float(entropy_se or 0.0)
    bad = [k for k, v in result.items() if not math.isfinite(v)]
    if bad:
        warnings.warn(f"evaluate: dropped non-finite values of {bad}", stacklevel=2)
    return {k: float(v) for k, v in result.items() if k not in bad}
