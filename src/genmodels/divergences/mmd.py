"""Kernel maximum mean discrepancy (Gretton et al. 2012) and the median-heuristic bandwidth."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ..errors import InputError
from ._pairwise import as_pair, kernel_two_sample, sq_dists
from .kernels import Kernel, as_kernel

MMD_ESTIMATORS = ("unbiased", "biased", "linear")


def median_bandwidth(x: Tensor, y: Tensor | None = None, *, max_points: int = 2000) -> float:
    """The median heuristic: the median Euclidean distance between points of the pooled sample.

    .. math::
        h = \\operatorname{median}\\{\\, \\lVert z_i - z_j \\rVert : i < j \\,\\},
        \\qquad z = x \\cup y

    The median is of the distances, **not** of the squared distances, over distinct pairs
    (the zero diagonal is left out); with an even number of pairs it is the mean of the two
    middle values. Pooled samples larger than ``max_points`` are thinned to ``max_points``
    evenly spaced rows first (deterministic, proportional to each sample's size). The result
    is clamped at ``1e-8`` (all points equal).

    Reference: Gretton et al., "A Kernel Two-Sample Test", JMLR 13 (2012), §8.

    Args:
        x: ``(n, *D)``.
        y: optional second sample ``(m, *D)``, pooled with ``x``.
        max_points: the most points the median is computed on.
    """
    z = x if y is None else torch.cat(as_pair(x, y))
    z, _ = as_pair(z, z)
    if z.shape[0] < 2:
        raise InputError("the median heuristic needs at least 2 points")
    if z.shape[0] > max_points:
        idx = torch.linspace(0, z.shape[0] - 1, max_points, device=z.device).round().long()
        z = z[idx]
    n = z.shape[0]
    iu = torch.triu_indices(n, n, offset=1, device=z.device)
    d = sq_dists(z, z)[iu[0], iu[1]].sqrt().sort().values
    k = d.numel()
    med = d[k // 2] if k % 2 else 0.5 * (d[k // 2 - 1] + d[k // 2])
    return max(float(med), 1e-8)


def mmd2(
    x: Tensor,
    y: Tensor,
    *,
    kernel: str | Kernel = "gaussian",
    bandwidth: float | Sequence[float] | None = None,
    scales: Sequence[float] = (1.0,),
    estimator: str = "unbiased",
    block: int | None = None,
) -> Tensor:
    """The squared maximum mean discrepancy between two samples.

    .. math::
        \\mathrm{MMD}^2(P, Q) = \\mathbb{E}k(X, X') + \\mathbb{E}k(Y, Y') - 2\\,\\mathbb{E}k(X, Y)

    with the Gaussian kernel :math:`k(a, b) = \\exp(-\\lVert a-b \\rVert^2 / (2h^2))` (no
    normalising constant, :math:`k(a, a) = 1`) by default. With several bandwidths the kernel
    is their **sum** :math:`\\sum_h k_h` (a mixture of kernels as in MMD-GAN, Li et al. 2017).
    Any kernel value of :mod:`genmodels.divergences.kernels` may be passed instead:
    ``Gaussian``, ``multi_bandwidth()``, ``Laplacian``, ``InverseMultiquadric``, ``Energy``
    (with which MMD² equals the energy distance), or their names.

    Estimators (Gretton et al. 2012):

    - ``"unbiased"`` (default): MMD²_u, eq. (3): within-sample sums over ``i ≠ j`` divided by
      ``n(n-1)``, ``m(m-1)``, the full cross sum divided by ``nm``. Unbiased, so it **can be
      negative** when the distributions are close; it is returned as is (never clamped).
    - ``"biased"``: the V-statistic MMD²_b with all pairs, diagonals included; always ≥ 0.
      (geomloss' ``"gaussian"`` loss is half of it.)
    - ``"linear"``: the linear-time estimate MMD²_l, §6: the mean of
      :math:`k(x_{2i-1}, x_{2i}) + k(y_{2i-1}, y_{2i}) - k(x_{2i-1}, y_{2i}) - k(x_{2i}, y_{2i-1})`
      over the first ``⌊min(n, m)/2⌋`` disjoint pairs; unbiased, higher variance.

    Points of shape ``(B, *D)`` are flattened to ``(B, d)``. The quadratic estimators are
    computed in float64, one block of rows at a time (10 000 × 10 000 needs about 64 MiB);
    the result is differentiable in ``x`` and ``y``.

    Args:
        x: ``(n, *D)``.
        y: ``(m, *D)``.
        kernel: a :class:`~genmodels.divergences.kernels.Kernel` value, or a name
            (``"gaussian"``, ``"laplacian"``, ``"imq"``, ``"energy"``) completed by
            ``bandwidth`` and ``scales``.
        bandwidth: ``h``, a list of bandwidths (summed kernels), or ``None`` for the median
            heuristic on the pooled sample (:func:`median_bandwidth`: median of pairwise
            distances, not squared) times each of ``scales``.
        scales: multipliers of the median bandwidth when ``bandwidth`` is ``None``
            (e.g. ``(0.5, 1, 2)`` for a multi-bandwidth sum).
        estimator: ``"unbiased"``, ``"biased"`` or ``"linear"``.
        block: rows per Gram-matrix block (default: about 8 M entries per block).

    Returns:
        A 0-dim float64 tensor (``float(...)`` for a number).
    """
    a, b = as_pair(x, y)
    if estimator not in MMD_ESTIMATORS:
        raise InputError(f"estimator must be one of {MMD_ESTIMATORS}, got {estimator!r}")
    fn = as_kernel(kernel, bandwidth, scales).resolve(a, b)
    if estimator == "linear":
        p = min(a.shape[0], b.shape[0]) // 2
        if p < 1:
            raise InputError("the linear MMD estimator needs at least 2 points per sample")
        x1, x2 = a[0 : 2 * p : 2], a[1 : 2 * p : 2]
        y1, y2 = b[0 : 2 * p : 2], b[1 : 2 * p : 2]

        def k(u: Tensor, v: Tensor) -> Tensor:
            return fn(((u - v) ** 2).sum(1))

        return (k(x1, x2) + k(y1, y2) - k(x1, y2) - k(x2, y1)).mean()
    return kernel_two_sample(a, b, fn, estimator, block)
