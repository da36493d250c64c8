"""Paths from data (t = 0) to noise: forward SDEs, schedules, interpolants, couplings."""

from .couplings import (
    COUPLINGS,
    OT_SOLVERS,
    Coupling,
    ExactOT,
    Independent,
    SinkhornOT,
    auction_assignment,
    make_coupling,
)
from .guidance import NULL_LABEL, drop_labels, guide, guided
from .interpolants import (
    INTERPOLANTS,
    BrownianBridge,
    Cosine,
    Interpolant,
    Linear,
    VPPath,
    make_interpolant,
)
from .oracle import GaussianMixture, isotropic_mixture
from .ou import OU, CallableG, ConstantG, CosineSNRG, GSchedule, LinearG, ou_variance_quadrature
from .prediction import PREDICTIONS, Coefficients, coefficients, convert
from .sde import GRIDS, VE, VP, ForwardSDE, SubVP, expand, integrate_scalar

__all__ = [
    "COUPLINGS",
    "INTERPOLANTS",
    "OT_SOLVERS",
    "BrownianBridge",
    "Cosine",
    "Coupling",
    "ExactOT",
    "Independent",
    "Interpolant",
    "Linear",
    "SinkhornOT",
    "VPPath",
    "auction_assignment",
    "make_coupling",
    "make_interpolant",
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
