"""Importance sampling: effective sample size and log-normaliser estimates with standard errors.

:func:`importance_sampling` is the function other code uses (an IWAE bound, an annealed
importance sampler, a flow used as a proposal). The ``ess`` metric applies to models that
declare :class:`ImportanceWeighted` (latent-variable models with an encoder).
"""

from __future__ import annotations

import math
from abc import abstractmethod
from typing import NamedTuple

import torch
from torch import Tensor

from ..errors import InputError


class ISEstimate(NamedTuple):
    """Self-normalised importance-sampling summary of one set of ``N`` log-weights."""

    log_z: float  #: log((1/N) Σ w_i)
    log_z_se: float  #: delta-method standard error of log_z
    ess: float  #: Kish ESS (Σw)² / Σw² ∈ [1, N]
    ess_se: float  #: bootstrap standard error of ess
    ess_fraction: float  #: ess / N ∈ (0, 1]
    n: int


def log_mean_exp(log_w: Tensor, dim: int = -1) -> Tensor:
    """``log((1/N) Σ exp(ℓ_i))`` along ``dim``, stably."""
    return torch.logsumexp(log_w, dim) - math.log(log_w.shape[dim])


def effective_sample_size(log_w: Tensor, dim: int = -1) -> Tensor:
    """Kish's ESS ``(Σw)²/Σw² = exp(2·LSE(ℓ) − LSE(2ℓ))`` along ``dim`` (batched)."""
    return torch.exp(2.0 * torch.logsumexp(log_w, dim) - torch.logsumexp(2.0 * log_w, dim))


def importance_sampling(
    log_w: Tensor, *, n_bootstrap: int = 200, generator: torch.Generator | None = None
) -> ISEstimate:
    """ESS and ``log Z`` from log importance weights ``ℓ_i = log p̃(z_i) − log q(z_i)``.

    .. math::
        \\hat Z = \\frac1N \\sum_i w_i, \\qquad
        \\mathrm{ESS} = \\frac{(\\sum_i w_i)^2}{\\sum_i w_i^2}, \\qquad
        \\operatorname{se}(\\log \\hat Z) \\approx \\sqrt{\\frac{N/\\mathrm{ESS} - 1}{N - 1}}

    The last is the delta method: ``se(Ẑ)/Ẑ = sd(w)/(√N·mean(w))`` with the sample sd
    (ddof 1), and ``N·Σw²/(Σw)² = N/ESS``. All in log space (no overflow). ESS = N for equal
    weights, → 1 when one weight dominates; a high ESS does not prove that the proposal covers
    every mode (Kong 1992; Owen, "Monte Carlo theory, methods and examples", §9.3). The ESS
    standard error is a bootstrap over the weights (``n_bootstrap`` resamples from
    ``generator``; 0 disables it, giving NaN).

    Args:
        log_w: ``(N,)`` log-weights (finite, N ≥ 2).
        n_bootstrap: resamples for ``ess_se``.
        generator: the bootstrap's randomness.
    """
    lw = torch.as_tensor(log_w).detach().to("cpu", torch.float64).reshape(-1)
    n = lw.numel()
    if n < 2:
        raise InputError(f"importance_sampling needs at least 2 weights, got {n}")
    if not torch.isfinite(lw).all():
        raise InputError("importance_sampling: non-finite log-weights")
    ess = float(effective_sample_size(lw))
    log_z = float(log_mean_exp(lw))
    log_z_se = math.sqrt(max(n / ess - 1.0, 0.0) / (n - 1))
    ess_se = math.nan
    if n_bootstrap > 0:
        idx = torch.randint(n, (n_bootstrap, n), generator=generator)
        ess_se = float(effective_sample_size(lw[idx], dim=1).std())
    return ISEstimate(log_z, log_z_se, ess, ess_se, ess / n, n)


class ImportanceWeighted:
    """Capability: a model that gives importance weights of its latent variables.

    ``log_importance_weights(x, k)`` returns ``ℓ_ik = log p(x_i, z_ik) − log q(z_ik | x_i)``,
    ``(B, k)``, with ``z_ik ~ q(·|x_i)``; then ``log_mean_exp(ℓ_i·)`` is the importance-weighted
    bound of Burda et al. (2016) on ``log p(x_i)``. Declare it by subclassing (with
    :class:`~genmodels.core.LatentVariableModel`).
    """

    @abstractmethod
    def log_importance_weights(
        self, x: Tensor, k: int, *, generator: torch.Generator | None = None
    ) -> Tensor:
        """``(B, k)`` log-weights of ``k`` posterior samples per point."""


#: Test points and proposals per point of the ``ess`` metric (cheap defaults).
ESS_POINTS, ESS_K = 256, 64


def ess_metric(ctx) -> dict[str, float]:  # noqa: ANN001 - EvalContext (import cycle)
    """``ess``: per-point ESS of ``K`` posterior samples, and the IW bound with SEs.

    On the first ``ESS_POINTS`` test points with ``K = ESS_K``: ``ess_fraction`` (mean over
    points of ESS/K), ``ess_fraction_min``, ``iw_nll`` = −mean_i log_mean_exp(ℓ_i·) (an upper
    bound on the NLL in expectation, nats) with ``iw_nll_se`` (sd over points / √B), and
    ``iw_log_z_se`` (the mean per-point delta-method SE of the log-normaliser estimate).
    Empty unless the model is :class:`ImportanceWeighted`.
    """
    if not isinstance(ctx.model, ImportanceWeighted):
        return {}
    x = ctx.test[:ESS_POINTS]
    with torch.no_grad():
        lw = ctx.model.log_importance_weights(x, ESS_K, generator=ctx.generator)
    lw = lw.detach().to("cpu", torch.float64)
    if lw.shape != (x.shape[0], ESS_K) or not torch.isfinite(lw).all():
        return {"ess_nonfinite": float((~torch.isfinite(lw)).any(-1).sum())}
    frac = effective_sample_size(lw) / ESS_K
    lz = log_mean_exp(lw)
    se = torch.sqrt((1.0 / frac - 1.0).clamp_min(0.0) / (ESS_K - 1))
    b = lw.shape[0]
    return {
        "ess_fraction": float(frac.mean()),
        "ess_fraction_min": float(frac.min()),
        "iw_nll": float(-lz.mean()),
        "iw_nll_se": float(lz.std() / math.sqrt(b)) if b > 1 else 0.0,
        "iw_log_z_se": float(se.mean()),
        "ess_k": float(ESS_K),
    }
