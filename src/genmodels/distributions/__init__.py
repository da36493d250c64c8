"""Distributions as modules: base distributions for flows and priors."""

from .base import Distribution
from .mixture import GaussianMixture
from .normal import DiagNormal, StandardNormal

__all__ = ["DiagNormal", "Distribution", "GaussianMixture", "StandardNormal"]
