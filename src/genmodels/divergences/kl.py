"""Closed-form Kullback–Leibler divergences."""

from __future__ import annotations

import torch
from torch import Tensor

from ..errors import InputError


def _is_diag(mu: Tensor, cov: Tensor, name: str) -> bool:
    d = mu.shape[-1]
    if cov.ndim > mu.ndim and cov.shape[-2:] == (d, d):
        return False
    if cov.ndim >= 1 and cov.shape[-1] == d:
        return True
    raise InputError(f"{name}: shape {tuple(cov.shape)} is neither (..., {d}) nor (..., {d}, {d})")


def kl_gaussians(mu0: Tensor, cov0: Tensor, mu1: Tensor, cov1: Tensor) -> Tensor:
    """The Kullback–Leibler divergence between two Gaussians in nats, in closed form.

    :math:`\\mathrm{KL}(\\mathcal N(\\mu_0, \\Sigma_0) \\| \\mathcal N(\\mu_1, \\Sigma_1))`:

    .. math::
        \\mathrm{KL} = \\tfrac12 \\Big[ \\operatorname{tr}(\\Sigma_1^{-1}\\Sigma_0)
            + (\\mu_1 - \\mu_0)^\\top \\Sigma_1^{-1} (\\mu_1 - \\mu_0) - d
            + \\log\\det\\Sigma_1 - \\log\\det\\Sigma_0 \\Big]

    A covariance of shape ``(..., d)`` (the same number of dimensions as its mean) is the
    diagonal of a diagonal covariance (variances, not standard deviations); ``(..., d, d)``
    is a full covariance (positive definite; Cholesky factors are used). The two may be
    mixed; batch dimensions broadcast. Differentiable.

    Reference: e.g. Bishop, "Pattern Recognition and Machine Learning" (2006), ex. 2.13;
    it matches ``torch.distributions.kl_divergence`` of ``MultivariateNormal`` / ``Normal``.

    Args:
        mu0, mu1: means ``(..., d)``.
        cov0, cov1: variances ``(..., d)`` or covariances ``(..., d, d)``.

    Returns:
        The divergence, shape ``(...)``.
    """
    d = mu0.shape[-1]
    diag0, diag1 = _is_diag(mu0, cov0, "cov0"), _is_diag(mu1, cov1, "cov1")
    diff = mu1 - mu0
    if diag0 and diag1:
        ratio = cov0 / cov1
        return 0.5 * (ratio + diff.pow(2) / cov1 - 1.0 - torch.log(ratio)).sum(-1)
    l0 = cov0.sqrt().diag_embed() if diag0 else torch.linalg.cholesky(cov0)
    l1 = cov1.sqrt().diag_embed() if diag1 else torch.linalg.cholesky(cov1)
    l0, l1 = torch.broadcast_tensors(l0, l1)
    # tr(Σ1⁻¹Σ0) = ‖L1⁻¹ L0‖_F², Mahalanobis term ‖L1⁻¹ (μ1 − μ0)‖²
    m = torch.linalg.solve_triangular(l1, l0, upper=False)
    z = torch.linalg.solve_triangular(l1, diff.unsqueeze(-1), upper=False).squeeze(-1)
    logdet1 = 2.0 * torch.log(torch.diagonal(l1, dim1=-2, dim2=-1)).sum(-1)
    logdet0 = 2.0 * torch.log(torch.diagonal(l0, dim1=-2, dim2=-1)).sum(-1)
    return 0.5 * (m.pow(2).sum((-2, -1)) + z.pow(2).sum(-1) - d + logdet1 - logdet0)
