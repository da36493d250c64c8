r"""A flow as an importance-sampling proposal: estimates of :math:`\log Z` and of expectations.

With :math:`x_i \sim q`, :math:`w_i = \tilde p(x_i)/q(x_i)`:

.. math:: \hat Z = \frac1N\sum_i w_i, \qquad
    \widehat{\mathbb E_p[f]} = \sum_i \bar w_i f(x_i), \quad \bar w_i = w_i/\textstyle\sum_j w_j,

with Kish's :math:`\mathrm{ESS} = (\sum w)^2/\sum w^2`, the delta-method standard error of
:math:`\log\hat Z` (:func:`genmodels.metrics.ess.importance_sampling`) and, for the
self-normalised mean, :math:`\mathrm{se}^2 \approx \sum_i \bar w_i^2 (f(x_i) - \hat\mu)^2`
(Owen, *Monte Carlo theory, methods and examples*, §9.2). An unbiased :math:`\hat Z` needs
:math:`q > 0` wherever :math:`p > 0`; a proposal that misses a mode gives a confident, wrong
estimate, which a high ESS does not reveal.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..data.targets import Target
from ..metrics.ess import importance_sampling
from .objectives import draw


@dataclass
class ISResult:
    """An importance-sampling estimate from ``n`` proposals.

    Attributes:
        log_z: :math:`\\log\\hat Z`.
        log_z_se: its delta-method standard error.
        ess: Kish's effective sample size.
        ess_fraction: ``ess / n``.
        mean: the self-normalised estimate of :math:`\\mathbb E_p[x]`, ``(d,)``.
        mean_se: its standard errors, ``(d,)``.
        n: the proposals.
        x: the proposals ``(n, d)``.
        log_w: their log-weights ``(n,)``.
    """

    log_z: float
    log_z_se: float
    ess: float
    ess_fraction: float
    mean: Tensor
    mean_se: Tensor
    n: int
    x: Tensor
    log_w: Tensor


@torch.no_grad()
def importance_estimate(model: nn.Module, target: Target, n: int, *,
                        generator: torch.Generator | None = None) -> ISResult:
    """Draws ``n`` proposals from the flow ``model`` and weighs them against ``target``."""
    x, lq = draw(model, n, generator=generator, grad=False)
    lw = (target.log_unnorm(x) - lq).double()
    lw = torch.nan_to_num(lw, nan=-torch.inf).clamp_min(-1e300)  # a NaN/−∞ weight is 0
    est = importance_sampling(lw, n_bootstrap=0)
    w = torch.softmax(lw, 0)[:, None]
    xd = x.double()
    mean = (w * xd).sum(0)
    se = (w.square() * (xd - mean).square()).sum(0).sqrt()
    return ISResult(est.log_z, est.log_z_se, est.ess, est.ess_fraction, mean, se, n, x, lw)
