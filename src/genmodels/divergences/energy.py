"""The energy distance (Székely & Rizzo) between two samples."""

from __future__ import annotations

from torch import Tensor

from ._pairwise import as_pair, kernel_two_sample, safe_sqrt


def _neg_dist(d2: Tensor) -> Tensor:
    return -safe_sqrt(d2)


def energy_distance(
    x: Tensor, y: Tensor, *, estimator: str = "biased", block: int | None = None
) -> Tensor:
    """The **squared** energy distance between two samples.

    .. math::
        \\mathcal{E}(P, Q) = 2\\,\\mathbb{E}\\lVert X - Y \\rVert
            - \\mathbb{E}\\lVert X - X' \\rVert - \\mathbb{E}\\lVert Y - Y' \\rVert

    with Euclidean norms, no factor ½ (geomloss' ``"energy"`` loss is half of it). It is
    ≥ 0 and 0 only for equal distributions; it equals MMD² with the distance-induced kernel
    :math:`-\\lVert a - b \\rVert`, is scale-equivariant of degree 1 and has no bandwidth.

    Estimators:

    - ``"biased"`` (default): the V-statistic, every mean over all pairs (the zero diagonal
      included); always ≥ 0. In 1-D it equals :math:`2\\int (F_n - G_m)^2`, the square of
      ``scipy.stats.energy_distance(x, y)`` (scipy returns the square root).
    - ``"unbiased"``: U-statistics for the within-sample means (``i ≠ j``, divided by
      ``n(n-1)``); can be slightly negative.

    Points of shape ``(B, *D)`` are flattened; computed in float64 one row block at a time;
    differentiable (the gradient of ``‖a - b‖`` at ``a = b`` is taken as 0).

    Reference: Székely & Rizzo, "Energy statistics: a class of statistics based on
    distances", J. Stat. Plan. Inference 143 (2013).

    Args:
        x: ``(n, *D)``.
        y: ``(m, *D)``.
        estimator: ``"biased"`` (V-statistic) or ``"unbiased"`` (U-statistic).
        block: rows per distance-matrix block.

    Returns:
        A 0-dim float64 tensor.
    """
    a, b = as_pair(x, y)
    return kernel_two_sample(a, b, _neg_dist, estimator, block)
