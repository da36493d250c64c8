r"""The importance-weighted estimate of :math:`\log p_\theta(x)`, vectorised and chunked.

.. math:: \log \hat p_K(x) = \log \frac1K \sum_{k=1}^K w_k, \quad
    w_k = \frac{p_\theta(x, z_k)}{q(z_k \mid x)}, \quad z_k \sim q(\cdot \mid x),

an unbiased estimate of :math:`p(x)` whose log is a lower bound in expectation,
:math:`\mathbb E[\log \hat p_K] \le \log p(x)`, increasing in ``K`` to :math:`\log p(x)`
(Burda et al., 2016). Per point: Kish's ESS :math:`(\sum w)^2/\sum w^2` and the delta-method
standard error :math:`\operatorname{se}(\log\hat p_K) = \sqrt{1/\mathrm{ESS} - 1/K}`
(:math:`\mathrm{var}(w)/(K\bar w^2)` with the plug-in variance).

All points of a batch are handled at once; the ``K`` samples come in chunks of
``max(1, chunk // B)``, accumulated by running log-sum-exps of :math:`\log w` and
:math:`2\log w`, so memory is bounded by ``chunk`` decoder evaluations whatever ``K``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple

import torch
from torch import Tensor

from ....errors import InputError

if TYPE_CHECKING:
    from ..model import VAE
    from ..posterior import GaussianPosterior


class IWEstimate(NamedTuple):
    """Per-point importance-weighted estimates."""

    log_prob: Tensor  #: (B,) log p̂_K(x)
    ess: Tensor  #: (B,) Kish effective sample size in [1, K]
    se: Tensor  #: (B,) delta-method standard error of log p̂_K(x)
    k: int  #: the number of proposals per point


def importance_weighted(model: VAE, x: Tensor, k: int, *, chunk: int = 16384,
                        q: GaussianPosterior | None = None,
                        generator: torch.Generator | None = None) -> IWEstimate:
    """``k`` proposals per point from ``q`` (default: the model's posterior), in chunks."""
    if k < 1:
        raise InputError(f"importance weighting: K = {k} must be >= 1")
    if chunk < 1:
        raise InputError(f"importance weighting: chunk = {chunk} must be >= 1")
    with torch.no_grad():
        q = model.posterior(x) if q is None else q
        b = x.shape[0]
        per = max(1, chunk // max(b, 1))
        lse1 = x.new_full((b,), -math.inf)
        lse2 = x.new_full((b,), -math.inf)
        done = 0
        while done < k:
            n = min(per, k - done)
            z = q.rsample(n, generator=generator)
            lw = model.log_joint(x, z) - q.log_prob(z)
            lse1 = torch.logaddexp(lse1, torch.logsumexp(lw, 0))
            lse2 = torch.logaddexp(lse2, torch.logsumexp(2 * lw, 0))
            done += n
        log_prob = lse1 - math.log(k)
        ess = torch.exp(2 * lse1 - lse2)
        se = torch.sqrt((1.0 / ess - 1.0 / k).clamp_min(0.0))
    return IWEstimate(log_prob, ess, se, k)
