"""Distances between feature clouds: the Fréchet distance and the kernel distance of KID."""

from __future__ import annotations

import torch
from torch import Tensor

from ..errors import InputError
from ._pairwise import as_pair


def gaussian_stats(sum_x: Tensor, sum_xx: Tensor, n: int | float) -> tuple[Tensor, Tensor]:
    """Mean and covariance (ddof 1) from the sums ``Σx`` and ``Σxxᵀ`` over ``n`` points."""
    if n < 2:
        raise InputError(f"a covariance needs at least 2 points, got {n}")
    mu = sum_x / n
    cov = (sum_xx - n * torch.outer(mu, mu)) / (n - 1)
    return mu, 0.5 * (cov + cov.T)


def frechet_from_stats(mu0: Tensor, cov0: Tensor, mu1: Tensor, cov1: Tensor) -> float:
    """``‖μ0 − μ1‖² + tr(Σ0 + Σ1 − 2(Σ0^{1/2} Σ1 Σ0^{1/2})^{1/2})``, the squared W2 between
    the two Gaussians (eigh of the symmetric PSD product, eigenvalues clamped at 0)."""
    mu0, mu1, c0, c1 = (t.to(torch.float64) for t in (mu0, mu1, cov0, cov1))
    vals, vecs = torch.linalg.eigh(c0)
    s0 = (vecs * vals.clamp_min(0).sqrt()) @ vecs.T
    inner = torch.linalg.eigvalsh(s0 @ c1 @ s0)
    tr_cross = inner.clamp_min(0).sqrt().sum()
    return float((mu0 - mu1).pow(2).sum() + torch.trace(c0) + torch.trace(c1) - 2 * tr_cross)


def frechet_distance(fx: Tensor, fy: Tensor) -> float:
    """The Fréchet distance between two feature samples (the "FD" of FID, **squared**).

    .. math::
        \\mathrm{FD} = \\lVert \\mu_x - \\mu_y \\rVert^2 + \\operatorname{tr}\\big(\\Sigma_x
            + \\Sigma_y - 2 (\\Sigma_x^{1/2} \\Sigma_y \\Sigma_x^{1/2})^{1/2}\\big)

    with sample means and covariances (ddof 1) — Heusel et al. 2017, with whatever features
    are given (FID is this on InceptionV3 pool3 features; on other features it is **not**
    FID). Equals ``wasserstein2_gaussians(...) ** 2`` of the fitted Gaussians. Biased in the
    sample size: compare at equal sizes. Can be slightly negative from rounding (not clamped).
    """
    a, b = as_pair(fx, fy)
    ma, ca = gaussian_stats(a.sum(0), a.T @ a, a.shape[0])
    mb, cb = gaussian_stats(b.sum(0), b.T @ b, b.shape[0])
    return frechet_from_stats(ma, ca, mb, cb)


def kid(
    fx: Tensor,
    fy: Tensor,
    *,
    n_subsets: int = 10,
    subset_size: int = 1000,
    degree: int = 3,
    coef: float = 1.0,
    generator: torch.Generator | None = None,
) -> tuple[float, float]:
    """The kernel distance of KID (Bińkowski et al. 2018) on given features: mean and sd.

    Unbiased MMD² (Gretton's MMD²_u: within-sample ``i ≠ j``, full cross term) with the cubic
    polynomial kernel ``k(a, b) = (aᵀb / d + coef)^degree``, averaged over ``n_subsets``
    random subsets of ``min(subset_size, n, m)`` points per side (drawn without replacement
    from ``generator``); the sd is over subsets (ddof 0, as torchmetrics). Can be negative.
    """
    a, b = as_pair(fx, fy)
    d = a.shape[1]
    s = min(subset_size, a.shape[0], b.shape[0])
    if s < 2:
        raise InputError(f"kid needs at least 2 points per side, got {a.shape[0]}, {b.shape[0]}")
    gen_device = generator.device if generator is not None else torch.device("cpu")
    values = []
    for _ in range(n_subsets):
        ia = torch.randperm(a.shape[0], generator=generator, device=gen_device)[:s]
        ib = torch.randperm(b.shape[0], generator=generator, device=gen_device)[:s]
        u, v = a[ia.to(a.device)], b[ib.to(b.device)]
        kxx = (u @ u.T / d + coef) ** degree
        kyy = (v @ v.T / d + coef) ** degree
        kxy = (u @ v.T / d + coef) ** degree
        off = s * (s - 1)
        values.append(float((kxx.sum() - kxx.diagonal().sum()) / off
                            + (kyy.sum() - kyy.diagonal().sum()) / off - 2 * kxy.mean()))
    t = torch.tensor(values, dtype=torch.float64)
    return float(t.mean()), float(t.std(unbiased=False))
