"""Flows as samplers of unnormalised densities: reverse-KL and forward-KL (self-normalised
importance sampling) fitting, importance-sampling estimates of log Z and of expectations,
and Langevin / MALA refinement of the flow's samples."""

from .fit import TargetRun, evaluate_target, fit_target, is_target_run, load_target_run
from .importance import ISResult, importance_estimate
from .mcmc import MCMCResult, langevin
from .objectives import OBJECTIVES, ForwardKL, ReverseKL

__all__ = [
    "OBJECTIVES",
    "ForwardKL",
    "ISResult",
    "MCMCResult",
    "ReverseKL",
    "TargetRun",
    "evaluate_target",
    "fit_target",
    "importance_estimate",
    "is_target_run",
    "langevin",
    "load_target_run",
]
