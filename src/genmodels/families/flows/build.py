"""Builders of the flow families: ``build(config, info) -> (Flow, MaximumLikelihood)``."""

from __future__ import annotations

import math

import torch

from ...bijections import (
    ActNorm,
    AffineCoupling,
    Bijection,
    Chain,
    ElementwiseAffine,
    MaskedAutoregressive,
    Permutation,
    half_mask,
    parity_mask,
)
from ...distributions import DiagNormal, Distribution, StandardNormal
from ...errors import InputError
from ...registry import DataInfo
from .config import MAFConfig, NICEConfig, RealNVPConfig
from .model import Flow
from .objective import MaximumLikelihood


def build_realnvp(config: RealNVPConfig, info: DataInfo) -> tuple[Flow, MaximumLikelihood]:
    """A RealNVP flow for points of shape ``info.event_shape``, trained by maximum likelihood."""
    d = _features(info, "realnvp", 2)
    _check(config.layers, config.hidden, config.context, config.scale_bound)
    bound = config.scale_bound or None
    layers: list[Bijection] = []
    for k in range(config.layers):
        if config.actnorm:
            layers.append(ActNorm(d))
        layers.append(AffineCoupling(_mask(config, d, k), config.hidden, config.activation,
                                     config.context, scale_bound=bound))
        layers += _permutation(config, d, k)
    return Flow(Chain(*layers), _base(config.base, info)), MaximumLikelihood()


def build_nice(config: NICEConfig, info: DataInfo) -> tuple[Flow, MaximumLikelihood]:
    """A NICE flow: additive couplings and a final diagonal scaling (towards the latent)."""
    d = _features(info, "nice", 2)
    _check(config.layers, config.hidden, config.context, 0.0)
    layers: list[Bijection] = []
    for k in range(config.layers):
        layers.append(AffineCoupling(_mask(config, d, k), config.hidden, config.activation,
                                     config.context, additive=True))
        layers += _permutation(config, d, k)
    layers.append(ElementwiseAffine(d))
    return Flow(Chain(*layers), _base(config.base, info)), MaximumLikelihood()


def build_maf(config: MAFConfig, info: DataInfo) -> tuple[Flow, MaximumLikelihood]:
    """A masked autoregressive flow: one-pass density, ``d``-pass sampling."""
    d = _features(info, "maf", 1)
    _check(config.layers, config.hidden, config.context, config.scale_bound)
    gen = torch.Generator().manual_seed(config.seed)
    layers: list[Bijection] = []
    for k in range(config.layers):
        if config.order == "random":
            order = torch.randperm(d, generator=gen)
        else:
            order = torch.arange(d) if k % 2 == 0 else torch.arange(d - 1, -1, -1)
        if config.actnorm:
            layers.append(ActNorm(d))
        layers.append(MaskedAutoregressive(d, config.hidden, config.activation, config.context,
                                           order, scale_bound=config.scale_bound or None))
    return Flow(Chain(*layers), _base(config.base, info)), MaximumLikelihood()


def _features(info: DataInfo, name: str, least: int) -> int:
    d = math.prod(info.event_shape)
    if d < least:
        raise InputError(f"model {name!r} needs at least {least} coordinates per point; "
                         f"the data has event shape {tuple(info.event_shape)}")
    return d


def _check(layers: int, hidden: tuple[int, ...], context: int, scale_bound: float) -> None:
    if layers < 1:
        raise InputError(f"model.layers: {layers} is not a positive number of layers")
    if any(h < 1 for h in hidden):
        raise InputError(f"model.hidden: {list(hidden)} has a width below 1")
    if context < 0:
        raise InputError(f"model.context: {context} is negative")
    if scale_bound < 0:
        raise InputError(f"model.scale_bound: {scale_bound} is negative (0 for unbounded)")


def _mask(config: RealNVPConfig | NICEConfig, d: int, k: int) -> torch.Tensor:
    flip = config.permutation == "none" and k % 2 == 1
    return (half_mask if config.mask == "halves" else parity_mask)(d, flip)


def _permutation(config: RealNVPConfig | NICEConfig, d: int, k: int) -> list[Bijection]:
    if config.permutation == "none" or k == config.layers - 1:
        return []
    if config.permutation == "reverse":
        return [Permutation.reverse(d)]
    return [Permutation.random(d, seed=config.seed + k)]


def _base(kind: str, info: DataInfo) -> Distribution:
    shape = tuple(info.event_shape)
    return DiagNormal(shape) if kind == "diag" else StandardNormal(shape)
