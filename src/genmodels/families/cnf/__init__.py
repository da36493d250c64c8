"""Continuous normalizing flows (CNF / FFJORD), trained by maximum likelihood with optional
RNODE regularisation.

Registers the family ``cnf``.
"""

from ...registry import Family, register_family
from .build import build_cnf
from .config import CNFConfig
from .model import CNF
from .objective import CNFLikelihood

__all__ = ["CNF", "CNFConfig", "CNFLikelihood", "build_cnf"]

register_family(Family(
    name="cnf",
    description="CNF/FFJORD: continuous normalizing flow, exact or Hutchinson trace, RNODE "
    "(Grathwohl et al., 2019)",
    kind="flow", config=CNFConfig, build=build_cnf))
