"""Paths from data (t = 0) to noise: forward SDEs, schedules, interpolants, couplings."""

from .oracle import GaussianMixture, isotropic_mixture
from .prediction import PREDICTIONS, Coefficients, coefficients, convert
from .sde import (
    GRIDS,
    OU,
    VE,
    VP,
    CallableG,
    ConstantG,
    CosineSNRG,
    ForwardSDE,
    GSchedule,
    LinearG,
    SubVP,
    expand,
    integrate_scalar,
    ou_variance_quadrature,
)

__all__ = [
    "GRIDS",
    "OU",
    "PREDICTIONS",
    "VE",
    "VP",
    "CallableG",
    "Coefficients",
    "ConstantG",
    "CosineSNRG",
    "ForwardSDE",
    "GSchedule",
    "GaussianMixture",
    "LinearG",
    "SubVP",
    "coefficients",
    "convert",
    "expand",
    "integrate_scalar",
    "isotropic_mixture",
    "ou_variance_quadrature",
]
