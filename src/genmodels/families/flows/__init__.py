"""Normalizing flows: coupling (NICE, RealNVP) and autoregressive (MAF) density models.

Registers the families ``realnvp``, ``nice`` and ``maf``.
"""

from ...registry import Family, register_family
from .build import build_maf, build_nice, build_realnvp
from .config import MAFConfig, NICEConfig, RealNVPConfig
from .model import Flow
from .objective import MaximumLikelihood

__all__ = [
    "Flow",
    "MAFConfig",
    "MaximumLikelihood",
    "NICEConfig",
    "RealNVPConfig",
    "build_maf",
    "build_nice",
    "build_realnvp",
]

register_family(Family(
    name="realnvp",
    description="RealNVP: affine coupling flow (Dinh et al., 2017)",
    kind="flow",
    config=RealNVPConfig,
    build=build_realnvp,
))
register_family(Family(
    name="nice",
    description="NICE: additive coupling flow with diagonal scaling (Dinh et al., 2015)",
    kind="flow",
    config=NICEConfig,
    build=build_nice,
))
register_family(Family(
    name="maf",
    description="MAF: masked autoregressive flow (Papamakarios et al., 2017)",
    kind="flow",
    config=MAFConfig,
    build=build_maf,
))
