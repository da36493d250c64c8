"""Builders of the flow families: ``build(config, info) -> (Flow, MaximumLikelihood)``.

Sizes left at "auto" in the config come from :mod:`.defaults` (points, vectors, images);
image-shaped data gets the multiscale conv architectures of :mod:`.images` for the
coupling families, and a flattened MADE for the autoregressive ones.
"""

from __future__ import annotations

import math

import torch

from ...bijections import (
    ActNorm,
    Additive,
    Affine,
    AffineCoupling,
    Bijection,
    Chain,
    Coupling,
    ElementwiseAffine,
    Inverse,
    LULinear,
    MaskedAutoregressive,
    Permutation,
    RationalQuadratic,
    Transformer,
    half_mask,
    parity_mask,
)
from ...distributions import DiagNormal, Distribution, GaussianMixture, StandardNormal
from ...errors import InputError
from ...registry import DataInfo
from . import defaults
from .config import GlowConfig, MAFConfig, NICEConfig, NSFConfig, RealNVPConfig
from .images import glow_steps, multiscale, realnvp_steps
from .model import Flow
from .objective import MaximumLikelihood

Built = tuple[Flow, MaximumLikelihood]


def build_realnvp(config: RealNVPConfig, info: DataInfo) -> Built:
    """A RealNVP flow (multiscale with conv couplings on images), by maximum likelihood."""
    d = _features(info, "realnvp", 2)
    n = defaults.layers("realnvp", config.layers, info.event_shape)
    _check(config, n)
    bound = config.scale_bound or None
    if _image(info):
        steps = realnvp_steps(Affine(bound), n, defaults.channels(config.channels,
                                                                  info.event_shape),
                              config.context, config.actnorm)
        return _flow(multiscale(tuple(info.event_shape), config.scales, *steps), config, info)
    hidden = defaults.hidden(config.hidden, info.event_shape)
    layers: list[Bijection] = []
    for k in range(n):
        if config.actnorm:
            layers.append(ActNorm(d))
        layers.append(AffineCoupling(_mask(config, d, k), hidden, config.activation,
                                     config.context, scale_bound=bound))
        layers += _permutation(config, d, k, n)
    return _flow(Chain(*layers), config, info)


def build_nice(config: NICEConfig, info: DataInfo) -> Built:
    """A NICE flow: additive couplings and a final diagonal scaling (towards the latent)."""
    d = _features(info, "nice", 2)
    n = defaults.layers("nice", config.layers, info.event_shape)
    _check(config, n)
    if _image(info):
        steps = realnvp_steps(Additive(), n, defaults.channels(config.channels,
                                                               info.event_shape),
                              config.context, actnorm=False)
        body = multiscale(tuple(info.event_shape), config.scales, *steps)
        return _flow(Chain(body, ElementwiseAffine(d)), config, info)
    hidden = defaults.hidden(config.hidden, info.event_shape)
    layers: list[Bijection] = []
    for k in range(n):
        layers.append(AffineCoupling(_mask(config, d, k), hidden, config.activation,
                                     config.context, additive=True))
        layers += _permutation(config, d, k, n)
    layers.append(ElementwiseAffine(d))
    return _flow(Chain(*layers), config, info)


def build_glow(config: GlowConfig, info: DataInfo) -> Built:
    """Glow: ActNorm → LU linear (1×1 conv on images) → coupling, multiscale on images."""
    d = _features(info, "glow", 2)
    n = defaults.layers("glow", config.layers, info.event_shape)
    _check(config, n)
    transformer: Transformer = (Additive() if config.coupling == "additive"
                                else Affine(config.scale_bound or None))
    if _image(info):
        steps = glow_steps(transformer, n, defaults.channels(config.channels, info.event_shape),
                           config.context, config.seed)
        return _flow(multiscale(tuple(info.event_shape), config.scales, *steps), config, info)
    hidden = defaults.hidden(config.hidden, info.event_shape)
    layers: list[Bijection] = []
    for k in range(n):
        layers += [ActNorm(d), LULinear(d, seed=config.seed + k),
                   Coupling(half_mask(d, k % 2 == 1), transformer, hidden, config.activation,
                            config.context)]
    return _flow(Chain(*layers), config, info)


def build_maf(config: MAFConfig, info: DataInfo) -> Built:
    """A masked autoregressive flow: one-pass density, ``d``-pass sampling."""
    return _autoregressive("maf", config, info, Affine(config.scale_bound or None), False)


def build_iaf(config: MAFConfig, info: DataInfo) -> Built:
    """An inverse autoregressive flow: one-pass sampling, ``d``-pass density."""
    return _autoregressive("iaf", config, info, Affine(config.scale_bound or None), True)


def build_nsf(config: NSFConfig, info: DataInfo) -> Built:
    """An autoregressive neural spline flow (rational-quadratic transformers on MADEs)."""
    _check_spline(config)
    return _autoregressive("nsf", config, info, RationalQuadratic(config.bins, config.bound),
                           False)


def build_nsf_coupling(config: NSFConfig, info: DataInfo) -> Built:
    """A coupling neural spline flow (LU linear maps between layers; multiscale on images)."""
    d = _features(info, "nsf-coupling", 2)
    n = defaults.layers("nsf-coupling", config.layers, info.event_shape)
    _check(config, n)
    _check_spline(config)
    spline = RationalQuadratic(config.bins, config.bound)
    if _image(info):
        steps = realnvp_steps(spline, n, defaults.channels(config.channels, info.event_shape),
                              config.context, config.actnorm)
        return _flow(multiscale(tuple(info.event_shape), config.scales, *steps), config, info)
    hidden = defaults.hidden(config.hidden, info.event_shape)
    layers: list[Bijection] = []
    for k in range(n):
        if config.actnorm:
            layers.append(ActNorm(d))
        layers.append(Coupling(half_mask(d, k % 2 == 1), spline, hidden, config.activation,
                               config.context))
        if d > 2 and k < n - 1:
            layers.append(LULinear(d, seed=config.seed + k))
    return _flow(Chain(*layers), config, info)


def _autoregressive(name: str, config: MAFConfig | NSFConfig, info: DataInfo,
                    transformer: Transformer, inverse: bool) -> Built:
    d = _features(info, name, 1)
    n = defaults.layers(name, config.layers, info.event_shape)
    _check(config, n)
    hidden = defaults.hidden(config.hidden, info.event_shape)
    gen = torch.Generator().manual_seed(config.seed)
    layers: list[Bijection] = []
    for k in range(n):
        if config.order == "random":
            order = torch.randperm(d, generator=gen)
        else:
            order = torch.arange(d) if k % 2 == 0 else torch.arange(d - 1, -1, -1)
        if config.actnorm:
            layers.append(ActNorm(d))
        layer = MaskedAutoregressive(d, hidden, config.activation, config.context, order,
                                     transformer=transformer)
        layers.append(Inverse(layer) if inverse else layer)
    return _flow(Chain(*layers), config, info)


def _image(info: DataInfo) -> bool:
    return defaults.regime(tuple(info.event_shape)) == 2


def _features(info: DataInfo, name: str, least: int) -> int:
    d = math.prod(info.event_shape)
    if d < least:
        raise InputError(f"model {name!r} needs at least {least} coordinates per point; "
                         f"the data has event shape {tuple(info.event_shape)}")
    return d


def _check(config: object, layers: int) -> None:
    hidden = getattr(config, "hidden", ())
    if layers < 1:
        raise InputError(f"model.layers: {layers} is not a positive number of layers")
    if any(h < 1 for h in hidden):
        raise InputError(f"model.hidden: {list(hidden)} has a width below 1")
    if getattr(config, "context", 0) < 0:
        raise InputError(f"model.context: {config.context} is negative")
    if getattr(config, "scale_bound", 0.0) < 0:
        raise InputError(f"model.scale_bound: {config.scale_bound} is negative "
                         "(0 for unbounded)")
    if getattr(config, "components", 1) < 1:
        raise InputError(f"model.components: {config.components} is below 1")


def _check_spline(config: NSFConfig) -> None:
    if config.bins < 1:
        raise InputError(f"model.bins: {config.bins} is not a positive number of bins")
    if config.bound <= 0:
        raise InputError(f"model.bound: {config.bound} is not a positive spline bound")


def _mask(config: RealNVPConfig | NICEConfig, d: int, k: int) -> torch.Tensor:
    flip = config.permutation == "none" and k % 2 == 1
    return (half_mask if config.mask == "halves" else parity_mask)(d, flip)


def _permutation(config: RealNVPConfig | NICEConfig, d: int, k: int, n: int) -> list[Bijection]:
    if config.permutation == "none" or k == n - 1:
        return []
    if config.permutation == "reverse":
        return [Permutation.reverse(d)]
    return [Permutation.random(d, seed=config.seed + k)]


def _flow(bijection: Bijection, config: object, info: DataInfo) -> Built:
    return Flow(bijection, _base(config, info)), MaximumLikelihood()


def _base(config: object, info: DataInfo) -> Distribution:
    shape = tuple(info.event_shape)
    kind = getattr(config, "base", "standard")
    if kind == "diag":
        return DiagNormal(shape)
    if kind == "mixture":
        return GaussianMixture(shape, config.components, seed=getattr(config, "seed", 0))
    return StandardNormal(shape)
