"""Multiscale image flows (RealNVP / Glow / coupling NSF) on flattened ``(C, H, W)`` images.

Each scale applies its steps, squeezes ``(C, H, W) → (4C, H/2, W/2)``, applies the steps
that need channels, then factors half of the channels out (:class:`~genmodels.bijections.Split`)
and hands the other half to the next scale. A scale that cannot squeeze (odd size, or the
last) ends the recursion.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from ...bijections import (
    ActNorm,
    Bijection,
    Chain,
    ConvConditioner,
    Coupling,
    InvertibleConv1x1,
    Split,
    Transformer,
    channel_mask,
    checkerboard_mask,
    squeeze,
    squeeze_shape,
)

Shape = tuple[int, int, int]


def conv_coupling(shape: Shape, mask: Tensor, transformer: Transformer, channels: int,
                  context: int) -> Coupling:
    """A coupling with a :class:`ConvConditioner` for the flat image mask ``mask``."""
    net = ConvConditioner(mask, shape, transformer.params, channels, context)
    return Coupling(mask, transformer, net=net)


def _features(shape: Shape) -> int:
    return shape[0] * shape[1] * shape[2]


def multiscale(shape: Shape, scales: int, before: Callable[[Shape], list[Bijection]],
               after: Callable[[Shape], list[Bijection]]) -> Bijection:
    """The recursive multiscale architecture.

    Args:
        shape: the image shape at this scale.
        scales: how many more squeezes are allowed.
        before: ``before(shape, last)``, the steps at this resolution (before the squeeze,
            or all of the last scale's steps when ``last``).
        after: the steps after the squeeze, on ``(4C, H/2, W/2)``.

    Squeezes stop at 2×2 (a squeeze needs an even height and width of at least 4).
    """
    c, h, w = shape
    if scales < 1 or h % 2 or w % 2 or h < 4 or w < 4:
        return Chain(*before(shape, True))
    s2 = squeeze_shape(shape)
    half = (s2[0] // 2, s2[1], s2[2])
    inner = multiscale(half, scales - 1, before, after)
    return Chain(*before(shape, False), squeeze(shape), *after(s2),
                 Split(inner, _features(half)))


def realnvp_steps(transformer: Transformer, layers: int, channels: int, context: int,
                  actnorm: bool) -> tuple[Callable, Callable]:
    """RealNVP: ``layers`` checkerboard couplings before, ``layers`` channel couplings after."""

    def norm(s: Shape) -> list[Bijection]:
        return [ActNorm(_features(s), channels=s[0])] if actnorm else []

    def before(s: Shape, last: bool) -> list[Bijection]:
        out: list[Bijection] = []
        for k in range(layers):
            out += norm(s) + [conv_coupling(s, checkerboard_mask(s, k % 2 == 1), transformer,
                                            channels, context)]
        return out

    def after(s: Shape) -> list[Bijection]:
        out: list[Bijection] = []
        for k in range(layers):
            out += norm(s) + [conv_coupling(s, channel_mask(s, k % 2 == 1), transformer,
                                            channels, context)]
        return out

    return before, after


def glow_steps(transformer: Transformer, layers: int, channels: int, context: int,
               seed: int) -> tuple[Callable, Callable]:
    """Glow: ActNorm → 1×1 conv → channel coupling, after each squeeze.

    Before the first squeeze (and on a last, unsqueezable scale with one channel) the
    coupling uses a checkerboard mask, since a single channel cannot be split.
    """
    counter = [seed]

    def step(s: Shape, k: int) -> list[Bijection]:
        counter[0] += 1
        mask = channel_mask(s) if s[0] > 1 else checkerboard_mask(s, k % 2 == 1)
        out: list[Bijection] = [ActNorm(_features(s), channels=s[0])]
        if s[0] > 1:
            out.append(InvertibleConv1x1(s, seed=counter[0]))
        return out + [conv_coupling(s, mask, transformer, channels, context)]

    def before(s: Shape, last: bool) -> list[Bijection]:
        if s[0] > 1 and not last:
            return []  # Glow's steps live after the squeeze
        return [b for k in range(layers) for b in step(s, k)]

    def after(s: Shape) -> list[Bijection]:
        return [b for k in range(layers) for b in step(s, k)]

    return before, after
