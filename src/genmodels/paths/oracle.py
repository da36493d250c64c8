r"""Closed-form oracles: Gaussian-mixture data pushed through a linear forward process.

If :math:`X_0 \sim \sum_k w_k\,\mathcal N(\mu_k, S_k)` and
:math:`X_t \mid x_0 \sim \mathcal N(\alpha_t x_0, \sigma_t^2 I)`, then exactly

.. math:: q_t = \sum_k w_k\,\mathcal N(\alpha_t\mu_k,\; \alpha_t^2 S_k + \sigma_t^2 I),

so the score :math:`\nabla\log q_t` and the log-density are closed form. Samplers and the
probability-flow likelihood can then be tested apart from any learning error.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


class GaussianMixture:
    """A Gaussian mixture in :math:`\\mathbb R^d` (float64), with its noised marginals.

    Args:
        means: ``(K, d)``.
        covs: ``(K, d, d)``.
        weights: ``(K,)`` (normalised here); uniform when omitted.
    """

    def __init__(self, means: Tensor, covs: Tensor, weights: Tensor | None = None) -> None:
        self.means = torch.as_tensor(means, dtype=torch.float64)
        self.covs = torch.as_tensor(covs, dtype=torch.float64)
        k = self.means.shape[0]
        w = torch.ones(k, dtype=torch.float64) if weights is None else torch.as_tensor(
            weights, dtype=torch.float64)
        self.weights = w / w.sum()
        self.dim = self.means.shape[1]

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> Tensor:
        """``n`` points ``(n, d)`` (float64)."""
        idx = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        z = torch.randn(n, self.dim, generator=generator, dtype=torch.float64)
        chol = torch.linalg.cholesky(self.covs)
        return self.means[idx] + (chol[idx] @ z.unsqueeze(-1)).squeeze(-1)

    def _components(self, alpha: float, sigma: float) -> tuple[Tensor, Tensor]:
        eye = torch.eye(self.dim, dtype=torch.float64)
        return alpha * self.means, alpha**2 * self.covs + sigma**2 * eye

    def _log_terms(self, x: Tensor, alpha: float, sigma: float) -> tuple[Tensor, Tensor]:
        m, c = self._components(alpha, sigma)
        diff = x.to(torch.float64).unsqueeze(1) - m  # (B, K, d)
        prec = torch.linalg.inv(c)  # (K, d, d)
        sol = torch.einsum("kij,bkj->bki", prec, diff)
        maha = (diff * sol).sum(-1)
        logdet = torch.linalg.slogdet(c)[1]
        lp = (self.weights.log() - 0.5 * (maha + logdet + self.dim * math.log(2 * math.pi)))
        return lp, sol

    def log_prob(self, x: Tensor, alpha: float = 1.0, sigma: float = 0.0) -> Tensor:
        """:math:`\\log q_t(x)` ``(B,)`` for the marginal with coefficients ``alpha, sigma``."""
        return torch.logsumexp(self._log_terms(x, alpha, sigma)[0], dim=1)

    def score(self, x: Tensor, alpha: float = 1.0, sigma: float = 0.0) -> Tensor:
        """:math:`\\nabla_x\\log q_t(x)` ``(B, d)`` (float64)."""
        lp, sol = self._log_terms(x, alpha, sigma)
        r = torch.softmax(lp, dim=1)
        return -(r.unsqueeze(-1) * sol).sum(1)


def isotropic_mixture(centers: Tensor, std: float) -> GaussianMixture:
    """Equal-weight mixture of :math:`\\mathcal N(c_k, \\mathrm{std}^2 I)`."""
    c = torch.as_tensor(centers, dtype=torch.float64)
    eye = torch.eye(c.shape[1], dtype=torch.float64)
    return GaussianMixture(c, (std**2 * eye).expand(c.shape[0], -1, -1).clone())
