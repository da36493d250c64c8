"""The encoder and decoder networks of a VAE: MLPs on flattened points, small convnets on images.

Networks only: an encoder maps ``(B, *D)`` to ``(B, out)`` (the posterior's parameters), a
decoder maps ``(N, L)`` to ``(N, P, *D)`` (``P`` likelihood parameters per coordinate).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from torch import Tensor, nn

from ...nn import MLP, DCGANCritic, DCGANGenerator


class MLPEncoder(nn.Module):
    """An MLP on the flattened point."""

    def __init__(self, shape: tuple[int, ...], out: int, hidden: Sequence[int],
                 activation: str) -> None:
        super().__init__()
        self.net = MLP(math.prod(shape), out, tuple(hidden), activation)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.flatten(1))


class MLPDecoder(nn.Module):
    """An MLP to ``P`` parameters per coordinate, reshaped to ``(N, P, *D)``."""

    def __init__(self, latent: int, shape: tuple[int, ...], params: int, hidden: Sequence[int],
                 activation: str) -> None:
        super().__init__()
        self.shape, self.params = tuple(shape), params
        self.net = MLP(latent, params * math.prod(shape), tuple(hidden), activation)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).reshape(z.shape[0], self.params, *self.shape)


class ConvEncoder(nn.Module):
    """Two stride-2 convolutions and a linear head (:class:`~genmodels.nn.DCGANCritic`)."""

    def __init__(self, shape: tuple[int, int, int], out: int, channels: int) -> None:
        super().__init__()
        self.net = DCGANCritic(shape, out, channels, norm="none")

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class ConvDecoder(nn.Module):
    """A linear map and two stride-2 transposed convolutions
    (:class:`~genmodels.nn.DCGANGenerator`) to ``C·P`` channels, read as ``(N, P, C, H, W)``."""

    def __init__(self, latent: int, shape: tuple[int, int, int], params: int,
                 channels: int) -> None:
        super().__init__()
        c, h, w = shape
        self.shape, self.params = tuple(shape), params
        self.net = DCGANGenerator(latent, (c * params, h, w), channels, norm="none")

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).reshape(z.shape[0], self.params, *self.shape)
