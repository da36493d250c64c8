"""GANs: the minimax game, f-GAN, Wasserstein, hinge, least-squares and MMD GANs.

Registers ``gan``, ``ns-gan``, ``fgan``, ``wgan``, ``wgan-gp``, ``hinge-gan``, ``lsgan`` and
``mmd-gan`` (kind ``"gan"``: models that sample, without ``log_prob``).
"""

from ...registry import Family, register_family
from . import diagnostics, losses
from .build import (
    build_fgan,
    build_gan,
    build_hinge,
    build_lsgan,
    build_mmd_gan,
    build_networks,
    build_ns_gan,
    build_wgan,
    build_wgan_gp,
)
from .config import (
    FGANConfig,
    GANConfig,
    HingeConfig,
    LSGANConfig,
    MinimaxConfig,
    MMDGANConfig,
    WGANConfig,
    WGANGPConfig,
)
from .losses import AdversarialLoss, f_gan, least_squares
from .model import GAN
from .objective import Adversarial, MomentMatching, gradient_penalty, mmd2_biased

__all__ = [
    "GAN",
    "Adversarial",
    "AdversarialLoss",
    "FGANConfig",
    "GANConfig",
    "HingeConfig",
    "LSGANConfig",
    "MMDGANConfig",
    "MinimaxConfig",
    "MomentMatching",
    "WGANConfig",
    "WGANGPConfig",
    "build_networks",
    "diagnostics",
    "f_gan",
    "gradient_penalty",
    "least_squares",
    "losses",
    "mmd2_biased",
]

for _name, _desc, _cfg, _build in (
    ("gan", "GAN, saturating minimax game (Goodfellow et al., 2014)", MinimaxConfig, build_gan),
    ("ns-gan", "GAN, non-saturating generator loss -log D(G(z)) (Goodfellow et al., 2014)",
     MinimaxConfig, build_ns_gan),
    ("fgan", "f-GAN, variational f-divergence minimisation, --set divergence=... "
     "(Nowozin et al., 2016)", FGANConfig, build_fgan),
    ("wgan", "Wasserstein GAN with weight clipping (Arjovsky et al., 2017)", WGANConfig,
     build_wgan),
    ("wgan-gp", "Wasserstein GAN with gradient penalty (Gulrajani et al., 2017)", WGANGPConfig,
     build_wgan_gp),
    ("hinge-gan", "GAN with the hinge loss (Lim & Ye, 2017; Miyato et al., 2018)", HingeConfig,
     build_hinge),
    ("lsgan", "least squares GAN (Mao et al., 2017)", LSGANConfig, build_lsgan),
    ("mmd-gan", "MMD GAN: fixed-kernel moment matching or a learned embedding kernel "
     "(Li et al., 2015; 2017)", MMDGANConfig, build_mmd_gan),
):
    register_family(Family(_name, _desc, "gan", _cfg, _build))
