"""Exact 2-Wasserstein distances: between samples (exact OT) and between Gaussians."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..errors import InputError
from ._pairwise import as_pair, sq_dists

#: The largest sample :func:`wasserstein2` accepts (its cost matrix is n·m float64).
MAX_POINTS = 10_000

BACKENDS = ("auto", "pot", "scipy")

_EXTRA = "pip install 'genmodels[metrics]'"


def wasserstein2(
    x: Tensor, y: Tensor, *, backend: str = "auto", max_points: int = MAX_POINTS
) -> float:
    """The exact 2-Wasserstein distance between two empirical measures with uniform weights.

    .. math::
        W_2(\\hat P, \\hat Q) = \\Big( \\min_{\\gamma \\in \\Pi(\\frac1n \\mathbf 1,
            \\frac1m \\mathbf 1)} \\sum_{ij} \\gamma_{ij} \\lVert x_i - y_j \\rVert^2 \\Big)^{1/2}

    The cost is the squared Euclidean distance, **not** halved (POT's ``ot.dist`` default);
    the optimal cost is a mean over the transport plan (the weights sum to 1); the value
    returned is the **distance**, the square root of that optimal mean cost (not W2²).
    Points of shape ``(B, *D)`` are flattened to ``(B, d)``.

    Solvers: POT's network simplex ``ot.emd2`` (Bonneel et al. 2011), or, for ``n == m``,
    scipy's ``linear_sum_assignment`` (with equal uniform weights an optimal plan is a
    permutation, Birkhoff–von Neumann). ``backend="auto"`` uses POT and falls back to scipy
    when POT is missing and ``n == m``. Not differentiable (the value is a float).

    Reference: Peyré & Cuturi, "Computational Optimal Transport" (2019), §2–3.

    Args:
        x: ``(n, *D)``.
        y: ``(m, *D)``.
        backend: ``"auto"``, ``"pot"`` or ``"scipy"``.
        max_points: refuse samples larger than this (memory O(nm), time roughly cubic).

    Raises:
        InputError: a sample larger than ``max_points``, or different dimensions.
        ImportError: the solver's library is missing (``pip install 'genmodels[metrics]'``).
        RuntimeError: the network simplex stopped before optimality.
    """
    if backend not in BACKENDS:
        raise InputError(f"backend must be one of {BACKENDS}, got {backend!r}")
    a, b = as_pair(x, y)
    n, m = a.shape[0], b.shape[0]
    if max(n, m) > max_points:
        raise InputError(
            f"wasserstein2: {max(n, m)} points exceed the limit of {max_points} for exact OT "
            "(subsample, or use a sliced or entropic distance)"
        )
    if backend == "auto":
        try:
            import ot  # noqa: F401

            backend = "pot"
        except ImportError:
            if n != m:
                raise ImportError(
                    f"wasserstein2 with n != m needs POT: {_EXTRA}"
                ) from None
            backend = "scipy"
    cost = sq_dists(a.detach().cpu().double(), b.detach().cpu().double()).numpy()
    if backend == "scipy":
        if n != m:
            raise InputError(f"the scipy backend needs n == m, got {n} and {m}")
        try:
            from scipy.optimize import linear_sum_assignment
        except ImportError:
            raise ImportError(f"wasserstein2 needs scipy or POT: {_EXTRA}") from None
        rows, cols = linear_sum_assignment(cost)
        value = float(cost[rows, cols].mean())
    else:
        try:
            import ot
        except ImportError:
            raise ImportError(f"wasserstein2 needs POT: {_EXTRA}") from None
        import numpy as np

        wa = np.full(n, 1.0 / n)
        wb = np.full(m, 1.0 / m)
        value, log = ot.emd2(wa, wb, np.ascontiguousarray(cost), numItermax=max(100_000,
                             50 * n * m), log=True)
        if log.get("result_code", 1) != 1:
            raise RuntimeError(f"ot.emd2 did not reach optimality: {log.get('warning')}")
        value = float(value)
    return math.sqrt(max(value, 0.0))


def _sqrtm_psd(a: Tensor) -> Tensor:
    """The symmetric square root of a symmetric positive semi-definite matrix (eigh)."""
    vals, vecs = torch.linalg.eigh(0.5 * (a + a.mT))
    return (vecs * vals.clamp_min(0.0).sqrt().unsqueeze(-2)) @ vecs.mT


def wasserstein2_gaussians(mu0: Tensor, cov0: Tensor, mu1: Tensor, cov1: Tensor) -> float:
    """The closed-form 2-Wasserstein distance between two Gaussians.

    .. math::
        W_2^2 = \\lVert \\mu_0 - \\mu_1 \\rVert^2 + \\operatorname{tr}\\big(\\Sigma_0 + \\Sigma_1
            - 2 (\\Sigma_1^{1/2} \\Sigma_0 \\Sigma_1^{1/2})^{1/2}\\big)

    (the mean term plus the squared Bures distance; Dowson & Landau 1982, Givens & Shortt
    1984), with the same convention as :func:`wasserstein2`: cost ``‖x - y‖²`` and the
    **distance** returned. The Fréchet distance of FID is this W2².

    Args:
        mu0, mu1: means ``(d,)``.
        cov0, cov1: covariances ``(d, d)``.
    """
    mu0, mu1 = mu0.double().reshape(-1), mu1.double().reshape(-1)
    c0, c1 = cov0.double(), cov1.double()
    s1 = _sqrtm_psd(c1)
    cross = _sqrtm_psd(s1 @ c0 @ s1)
    w2sq = (mu0 - mu1).pow(2).sum() + torch.trace(c0 + c1 - 2.0 * cross)
    return math.sqrt(max(float(w2sq), 0.0))
