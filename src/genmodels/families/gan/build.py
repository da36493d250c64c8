"""Builders of the GAN families: ``build(config, info) -> (GAN, objective)``.

The networks are picked from the data's event shape: DCGAN-style convolutions for images
``(C, H, W)`` with H, W divisible by 4, MLPs on flattened points otherwise.
"""

from __future__ import annotations

import math

from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from ...errors import InputError
from ...nn import MLP
from ...nn.conv import DCGANCritic, DCGANGenerator, conv_shape_ok
from ...registry import DataInfo
from . import losses as L
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
from .model import GAN
from .objective import Adversarial, MomentMatching


def _check(c: GANConfig, penalty: bool) -> None:
    if c.latent < 1:
        raise InputError(f"model.latent: {c.latent} is not a positive dimension")
    if any(h < 1 for h in (*c.hidden, *c.critic_hidden)) or c.channels < 1:
        raise InputError("model.hidden / critic_hidden / channels: widths must be >= 1")
    if c.n_critic < 1:
        raise InputError(f"model.n_critic: {c.n_critic} must be >= 1")
    if c.pack < 1:
        raise InputError(f"model.pack: {c.pack} must be >= 1 (points per critic input)")
    if not (c.critic_lr_scale > 0 and c.generator_lr_scale > 0):
        raise InputError("model.critic_lr_scale / generator_lr_scale: must be > 0")
    if penalty and c.critic_norm == "batch":
        raise InputError("model.critic_norm: batch norm in a gradient-penalty critic couples "
                         "the samples the penalty treats as independent; use none or layer")


def _spectral(module: nn.Module) -> nn.Module:
    for name, child in module.named_children():
        if isinstance(child, (nn.Linear, nn.Conv2d)):
            setattr(module, name, spectral_norm(child))
        else:
            _spectral(child)
    return module


def build_networks(c: GANConfig, info: DataInfo, critic_out: int | None = 1) -> GAN:
    """The generator and (unless ``critic_out`` is ``None``) the critic for ``info``."""
    shape = tuple(info.event_shape)
    d = math.prod(shape)
    image = conv_shape_ok(shape)
    if image:
        gen: nn.Module = DCGANGenerator(c.latent, shape, c.channels, c.generator_norm)
    else:
        gen = MLP(c.latent, d, c.hidden, c.activation)
    critic = None
    m = c.pack
    if critic_out is not None:
        if image:
            packed = (m * shape[0], *shape[1:])
            critic = DCGANCritic(packed, critic_out, c.channels, c.critic_norm)
        else:
            critic = MLP(m * d, critic_out, c.critic_hidden, c.activation)
        if c.spectral_norm:
            critic = _spectral(critic)
    return GAN(gen, critic, c.latent, shape, flat_critic=not image, pack=m)


def _adversarial(loss: L.AdversarialLoss, c: GANConfig, info: DataInfo, *, gp: float = 0.0,
                 clip: float = 0.0) -> tuple[GAN, Adversarial]:
    _check(c, gp > 0)
    obj = Adversarial(loss, n_critic=c.n_critic, gp_weight=gp, clip=clip,
                      critic_lr_scale=c.critic_lr_scale,
                      generator_lr_scale=c.generator_lr_scale)
    return build_networks(c, info), obj


def build_gan(c: MinimaxConfig, info: DataInfo) -> tuple[GAN, Adversarial]:
    """The saturating minimax game of Goodfellow et al. (2014)."""
    return _adversarial(L.MINIMAX, c, info)


def build_ns_gan(c: MinimaxConfig, info: DataInfo) -> tuple[GAN, Adversarial]:
    """The non-saturating game (the generator minimises −log D(G(z)))."""
    return _adversarial(L.NON_SATURATING, c, info)


def build_fgan(c: FGANConfig, info: DataInfo) -> tuple[GAN, Adversarial]:
    """f-GAN with ``c.divergence`` (Nowozin et al. 2016)."""
    if c.bound < 0:
        raise InputError(f"model.bound: {c.bound} must be >= 0 (0: an unbounded critic)")
    return _adversarial(L.f_gan(c.divergence, c.alternative, c.bound), c, info)


def build_wgan(c: WGANConfig, info: DataInfo) -> tuple[GAN, Adversarial]:
    """WGAN with weight clipping (Arjovsky et al. 2017)."""
    if not c.clip > 0:
        raise InputError(f"model.clip: {c.clip} must be > 0 (the Lipschitz constraint)")
    return _adversarial(L.WASSERSTEIN, c, info, clip=c.clip)


def build_wgan_gp(c: WGANGPConfig, info: DataInfo) -> tuple[GAN, Adversarial]:
    """WGAN-GP (Gulrajani et al. 2017)."""
    if not c.gp_weight > 0:
        raise InputError(f"model.gp_weight: {c.gp_weight} must be > 0")
    return _adversarial(L.WASSERSTEIN, c, info, gp=c.gp_weight)


def build_hinge(c: HingeConfig, info: DataInfo) -> tuple[GAN, Adversarial]:
    """The hinge game."""
    return _adversarial(L.HINGE, c, info)


def build_lsgan(c: LSGANConfig, info: DataInfo) -> tuple[GAN, Adversarial]:
    """Least squares GAN (Mao et al. 2017)."""
    return _adversarial(L.least_squares(c.a, c.b, c.c), c, info)


def build_mmd_gan(c: MMDGANConfig, info: DataInfo) -> tuple[GAN, MomentMatching]:
    """Moment matching with a fixed kernel, or MMD-GAN with a learned embedding."""
    _check(c, False)
    if c.pack != 1:
        raise InputError(f"model.pack: {c.pack}: packing is for the critic games; the MMD "
                         "already compares whole batches (use pack=1)")
    if not c.bandwidths or min(c.bandwidths) <= 0:
        raise InputError(f"model.bandwidths: {list(c.bandwidths)} must be positive")
    if c.embedding < 1 or c.clip < 0:
        raise InputError("model.embedding must be >= 1 and model.clip >= 0")
    learned = c.kernel == "learned"
    model = build_networks(c, info, c.embedding if learned else None)
    obj = MomentMatching(c.bandwidths, learned=learned, n_critic=c.n_critic, clip=c.clip,
                         critic_lr_scale=c.critic_lr_scale,
                         generator_lr_scale=c.generator_lr_scale)
    return model, obj
