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
:func:`kl_monte_carlo`     KL(P ‖ Q) = E_P[log p − log q] from log-densities at x ~ P, ± SE
:func:`js_monte_carlo`     JS(P, Q) = ½KL(P‖M) + ½KL(Q‖M) in nats (∈ [0, log 2]), ± SE
:func:`mmd2_permutation_test`  MMD² and its permutation p-value (1 + #{T_b ≥ T}) / (1 + B)
:func:`sinkhorn_divergence`  debiased S_ε = OT_ε(α,β) − ½OT_ε(α,α) − ½OT_ε(β,β), cost
                           ‖x−y‖² (not halved), ε·KL(π‖a⊗b); → W2² (squared) as ε → 0
:func:`entropic_ot`        OT_ε with its potentials and ⟨π, C⟩ (= POT ``sinkhorn2``)
:func:`sliced_wasserstein`  (mean_θ W_p^p(θ#P, θ#Q))^{1/p}, a distance (POT's convention)
:func:`frechet_distance`   squared W2 between Gaussians fitted to features (FD of FID)
:func:`kid`                unbiased MMD², cubic polynomial kernel, mean ± sd over subsets
=========================  ============================================================

Kernels are values (:mod:`~genmodels.divergences.kernels`): ``Gaussian``, ``multi_bandwidth``,
``Laplacian``, ``InverseMultiquadric``, ``Energy`` (MMD² with it = the energy distance).

Optional libraries (POT, scipy) are imported inside the functions that use them.
"""

from __future__ import annotations

from .energy import energy_distance
from .fdiv import F_DIVERGENCES, FDivergence, get_f_divergence, variational_bound
from .frechet import frechet_distance, kid
from .kernels import Energy, Gaussian, InverseMultiquadric, Kernel, Laplacian, multi_bandwidth
from .kl import kl_gaussians
from .mmd import median_bandwidth, mmd2
from .montecarlo import MCEstimate, js_monte_carlo, kl_monte_carlo
from .permutation import PermutationTest, mmd2_permutation_test
from .sinkhorn import EntropicOT, entropic_ot, sinkhorn_divergence
from .sliced import random_directions, sliced_wasserstein
from .wasserstein import wasserstein2, wasserstein2_gaussians

__all__ = [
    "F_DIVERGENCES",
    "FDivergence",
    "get_f_divergence",
    "variational_bound",
    "Energy",
    "EntropicOT",
    "Gaussian",
    "InverseMultiquadric",
    "Kernel",
    "Laplacian",
    "MCEstimate",
    "PermutationTest",
    "energy_distance",
    "entropic_ot",
    "frechet_distance",
    "js_monte_carlo",
    "kid",
    "kl_gaussians",
    "kl_monte_carlo",
    "median_bandwidth",
    "mmd2",
    "mmd2_permutation_test",
    "multi_bandwidth",
    "random_directions",
    "sinkhorn_divergence",
    "sliced_wasserstein",
    "wasserstein2",
    "wasserstein2_gaussians",
]
