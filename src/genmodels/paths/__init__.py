"""Paths from data (t = 0) to noise: forward SDEs, schedules, interpolants, couplings."""

from .guidance import NULL_LABEL, drop_labels, guide, guided
from .oracle import GaussianMixture, isotropic_mixture
from .ou import OU, CallableG, ConstantG, CosineSNRG, GSchedule, LinearG, ou_variance_quadrature
from .prediction import PREDICTIONS, Coefficients, coefficients, convert
from .sde import GRIDS, VE, VP, ForwardSDE, SubVP, expand, integrate_scalar

__all__ = [
    "GRIDS",
    "NULL_LABEL",
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
    "drop_labels",
    "expand",
    "guide",
    "guided",
    "integrate_scalar",
    "isotropic_mixture",
    "ou_variance_quadrature",
]
