r"""Gradient estimators of variational bounds, as values.

For a bound :math:`\mathcal L(\lambda) = \mathbb E_{q_\lambda(z)}[f_\lambda(z)]` two unbiased
estimators of :math:`\nabla_\lambda \mathcal L` exist:

* **reparameterisation** (pathwise; Kingma & Welling 2014, Rezende et al. 2014):
  :math:`z = \mu + L\epsilon`, :math:`\nabla_\lambda \mathcal L
  = \mathbb E_\epsilon[\nabla_\lambda f_\lambda(\mu + L\epsilon)]`;
* **REINFORCE** (score function; Williams 1992, Ranganath et al. 2014):
  :math:`\nabla_\lambda \mathcal L
  = \mathbb E_q\big[(f(z) - b)\,\nabla_\lambda \log q_\lambda(z)\big]
  + \mathbb E_q[\nabla_\lambda f_\lambda(z)]`, for any baseline :math:`b` that does not depend on
  :math:`z` (:math:`\mathbb E_q[\nabla \log q] = 0`). Baselines: none, a moving average of the
  learning signal, and leave-one-out over the ``K`` samples of a point (for the IWAE bound, the
  VIMCO baseline of Mnih & Rezende, 2016, https://arxiv.org/abs/1602.06725).

Each is written as a *surrogate*: a tensor whose value is the bound and whose gradient is the
estimator, so the one ``loss.backward()`` of the Trainer applies it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ...errors import InputError
from .model import VAE
from .posterior import GaussianPosterior

__all__ = ["BOUNDS", "ESTIMATORS", "GradientEstimator", "bound_surrogate", "get_estimator"]

#: The variational bounds: the ELBO and the importance-weighted bound.
BOUNDS = ("elbo", "iwae")


@dataclass(frozen=True)
class GradientEstimator:
    """A gradient estimator of a variational bound.

    Attributes:
        name: its registered name.
        reparameterised: pathwise gradients through :math:`z` (else the score function).
        baseline: ``"none"``, ``"moving-average"`` or ``"loo"`` (REINFORCE only).
        decay: the moving average's decay.
    """

    name: str
    reparameterised: bool
    baseline: str = "none"
    decay: float = 0.9


ESTIMATORS: dict[str, GradientEstimator] = {
    "reparam": GradientEstimator("reparam", True),
    "reinforce": GradientEstimator("reinforce", False),
    "reinforce-baseline": GradientEstimator("reinforce-baseline", False, "moving-average"),
    "reinforce-loo": GradientEstimator("reinforce-loo", False, "loo"),
}


def get_estimator(name: str) -> GradientEstimator:
    """The estimator registered as ``name``; an :class:`InputError` listing them otherwise."""
    if name not in ESTIMATORS:
        raise InputError(f"model.estimator: unknown estimator {name!r} "
                         f"(known: {', '.join(ESTIMATORS)})")
    return ESTIMATORS[name]


def _log_mean_exp(t: Tensor, dim: int = 0) -> Tensor:
    return torch.logsumexp(t, dim) - math.log(t.shape[dim])


def _moving_average(model: VAE, value: Tensor, decay: float) -> Tensor:
    """The baseline before this batch; updates the model's running average (training only)."""
    b = model.baseline.clone() if bool(model.baseline_ready) else value.new_zeros(())
    if model.training:
        v = value.detach().mean()
        new = torch.where(model.baseline_ready, decay * model.baseline + (1 - decay) * v, v)
        model.baseline.copy_(new)
        model.baseline_ready.fill_(True)
    return b


def bound_surrogate(model: VAE, x: Tensor, q: GaussianPosterior, *, bound: str = "elbo",
                    samples: int = 1, estimator: GradientEstimator = ESTIMATORS["reparam"],
                    beta: float = 1.0, analytic_kl: bool | None = None,
                    generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """``(surrogate, value)``, both ``(B,)``: a tensor equal to the bound per point whose
    gradient is ``estimator``'s, and the bound itself (detached).

    ``bound="elbo"``:
    :math:`\\frac1K\\sum_k [\\log p(x|z_k) + \\beta(\\log p(z_k) - \\log q(z_k))]`
    (or :math:`\\frac1K\\sum_k \\log p(x|z_k) - \\beta\\,\\mathrm{KL}` with the analytic KL);
    ``bound="iwae"``: :math:`\\log \\frac1K \\sum_k w_k`,
    :math:`\\log w_k = \\log p(x|z_k) + \\beta(\\log p(z_k) - \\log q(z_k))`.
    """
    if bound not in BOUNDS:
        raise InputError(f"model.objective: unknown bound {bound!r} (known: {', '.join(BOUNDS)})")
    if samples < 1:
        raise InputError(f"model.samples: K = {samples} must be >= 1")
    if estimator.baseline == "loo" and samples < 2:
        raise InputError("model.estimator: reinforce-loo needs model.samples >= 2 "
                         "(a leave-one-out baseline over the K samples)")
    analytic = model.analytic_kl if analytic_kl is None else analytic_kl
    analytic = analytic and bound == "elbo"
    z = q.rsample(samples, generator=generator)
    if not estimator.reparameterised:
        z = z.detach()
    log_lik = model.log_likelihood(x, z)
    need_q = not (analytic and estimator.reparameterised)
    log_q = q.log_prob(z) if need_q else None
    if analytic:
        f = log_lik - beta * q.kl_standard_normal()
    else:
        f = log_lik + beta * (model.prior_log_prob(z) - log_q)
    value = f.mean(0) if bound == "elbo" else _log_mean_exp(f)
    if estimator.reparameterised:
        return value, value.detach()
    assert log_q is not None
    fd = f.detach()
    k = samples
    if bound == "elbo":
        if estimator.baseline == "loo":
            base = (fd.sum(0, keepdim=True) - fd) / (k - 1)
        elif estimator.baseline == "moving-average":
            base = _moving_average(model, fd, estimator.decay)
        else:
            base = fd.new_zeros(())
        signal = (fd - base) / k
    else:
        total = _log_mean_exp(fd)
        if estimator.baseline == "loo":
            others = (fd.sum(0, keepdim=True) - fd) / (k - 1)  # mean log-weight of the others
            swapped = fd.unsqueeze(0).repeat(k, 1, 1)
            idx = torch.arange(k, device=fd.device)
            swapped[idx, idx] = others
            base = _log_mean_exp(swapped, dim=1)
        elif estimator.baseline == "moving-average":
            base = _moving_average(model, total, estimator.decay)
        else:
            base = fd.new_zeros(())
        signal = total.unsqueeze(0) - base
    surrogate = value + (signal.detach() * (log_q - log_q.detach())).sum(0)
    return surrogate, value.detach()
