"""Score-based diffusion: forward SDEs, denoising score matching, reverse-time samplers.

Registers the families ``ou-sde``, ``vp-sde``, ``subvp-sde`` and ``ve-sde``.
"""

from ...registry import Family, register_family
from .bound import bound_terms, variational_bound
from .build import build_diffusion, make_network, make_sde
from .config import DiffusionConfig, OUConfig, SubVPConfig, VEConfig, VPConfig
from .likelihood import pf_ode_log_prob
from .model import ScoreDiffusion
from .objective import T_DENSITIES, WEIGHTINGS, DenoisingScoreMatching, TimeDensity
from .samplers import SAMPLERS, SamplerOptions, sample

__all__ = [
    "SAMPLERS",
    "T_DENSITIES",
    "WEIGHTINGS",
    "DenoisingScoreMatching",
    "DiffusionConfig",
    "OUConfig",
    "SamplerOptions",
    "ScoreDiffusion",
    "SubVPConfig",
    "TimeDensity",
    "VEConfig",
    "VPConfig",
    "bound_terms",
    "build_diffusion",
    "make_network",
    "make_sde",
    "pf_ode_log_prob",
    "sample",
    "variational_bound",
]

for _name, _cfg, _desc in (
    ("ou-sde", OUConfig, "Score SDE, OU form dX = -X dt + g(t) dB (constant/linear/cosine g)"),
    ("vp-sde", VPConfig, "Score SDE, variance preserving (Song et al., 2021)"),
    ("subvp-sde", SubVPConfig, "Score SDE, sub-variance-preserving (Song et al., 2021)"),
    ("ve-sde", VEConfig, "Score SDE, variance exploding (Song et al., 2021)"),
):
    register_family(Family(name=_name, description=_desc, kind="diffusion", config=_cfg,
                           build=build_diffusion))
