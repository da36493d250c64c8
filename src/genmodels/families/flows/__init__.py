"""Normalizing flows: coupling (NICE, RealNVP, Glow), autoregressive (MAF, IAF) and neural
spline (autoregressive and coupling) density models, on points, vectors and images.

Registers the families ``nice``, ``realnvp``, ``glow``, ``maf``, ``iaf``, ``nsf`` and
``nsf-coupling``.
"""

from ...registry import Family, register_family
from .build import (
    build_glow,
    build_iaf,
    build_maf,
    build_nice,
    build_nsf,
    build_nsf_coupling,
    build_realnvp,
)
from .config import GlowConfig, MAFConfig, NICEConfig, NSFConfig, RealNVPConfig
from .model import Flow
from .objective import MaximumLikelihood

__all__ = [
    "Flow",
    "GlowConfig",
    "MAFConfig",
    "MaximumLikelihood",
    "NICEConfig",
    "NSFConfig",
    "RealNVPConfig",
    "build_glow",
    "build_iaf",
    "build_maf",
    "build_nice",
    "build_nsf",
    "build_nsf_coupling",
    "build_realnvp",
]

_FAMILIES = (
    ("realnvp", "RealNVP: affine coupling flow, multiscale on images (Dinh et al., 2017)",
     RealNVPConfig, build_realnvp),
    ("nice", "NICE: additive coupling flow with diagonal scaling (Dinh et al., 2015)",
     NICEConfig, build_nice),
    ("glow", "Glow: ActNorm, LU 1x1 convolution and affine coupling (Kingma & Dhariwal, 2018)",
     GlowConfig, build_glow),
    ("maf", "MAF: masked autoregressive flow (Papamakarios et al., 2017)", MAFConfig,
     build_maf),
    ("iaf", "IAF: inverse autoregressive flow, one-pass sampling (Kingma et al., 2016)",
     MAFConfig, build_iaf),
    ("nsf", "NSF: autoregressive rational-quadratic neural spline flow (Durkan et al., 2019)",
     NSFConfig, build_nsf),
    ("nsf-coupling", "NSF (coupling): rational-quadratic spline couplings (Durkan et al., 2019)",
     NSFConfig, build_nsf_coupling),
)

for _name, _description, _config, _build in _FAMILIES:
    register_family(Family(name=_name, description=_description, kind="flow", config=_config,
                           build=_build))
