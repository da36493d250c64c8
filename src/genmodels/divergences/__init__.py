"""Divergences and distances between distributions, each with one documented convention.

=========================  ============================================================
function                   convention
=========================  ============================================================
:func:`wasserstein2`       exact OT, uniform weights, cost ‖x−y‖² (not halved); returns
                           the distance √(optimal mean cost)
:func:`wasserstein2_gaussians`  the same W2 between two Gaussians, in closed form
:func:`mmd2`               MMD² (squared), Gaussian kernel exp(−‖a−b‖²/(2h²)), median
                           heuristic of distances; unbiased U-statistic by default (can be < 0)
:func:`energy_distance`    squared energy distance 2E‖X−Y‖ − E‖X−X'‖ − E‖Y−Y'‖,
                           V-statistic by default (= scipy's value squared in 1-D)
:func:`kl_gaussians`       KL(N0 ‖ N1) in nats, full or diagonal covariances
=========================  ============================================================

Optional libraries (POT, scipy) are imported inside the functions that use them.
"""

from __future__ import annotations

from .energy import energy_distance
from .fdiv import F_DIVERGENCES, FDivergence, get_f_divergence, variational_bound
from .kl import kl_gaussians
from .mmd import median_bandwidth, mmd2
from .wasserstein import wasserstein2, wasserstein2_gaussians

__all__ = [
    "F_DIVERGENCES",
    "FDivergence",
    "get_f_divergence",
    "variational_bound",
    "energy_distance",
    "kl_gaussians",
    "median_bandwidth",
    "mmd2",
    "wasserstein2",
    "wasserstein2_gaussians",
]
