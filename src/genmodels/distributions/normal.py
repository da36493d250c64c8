"""Gaussian base distributions: standard and diagonal (learnable)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .base import Distribution, standard_normal

_LOG_2PI = math.log(2 * math.pi)


class StandardNormal(Distribution):
    r"""The standard normal :math:`\mathcal N(0, I)` over points of shape ``event_shape``.

    .. math:: \log p(x) = -\tfrac12 \lVert x \rVert^2 - \tfrac{d}{2}\log 2\pi

    Args:
        event_shape: the shape ``D`` of one point (an int for vectors).
    """

    def __init__(self, event_shape: tuple[int, ...] | int) -> None:
        super().__init__()
        self.event_shape = (event_shape,) if isinstance(event_shape, int) else tuple(event_shape)
        self.dim = math.prod(self.event_shape)
        self.register_buffer("_anchor", torch.zeros(()), persistent=False)  # device and dtype

    def log_prob(self, x: Tensor) -> Tensor:
        return -0.5 * (x.flatten(1).square().sum(1) + self.dim * _LOG_2PI)

    def rsample(self, n: int, *, generator: torch.Generator | None = None) -> Tensor:
        return standard_normal((n, *self.event_shape), self._anchor, generator)

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> Tensor:
        # no parameters, so no graph to avoid: the no_grad context of the base class cost
        # more than the draw itself (a flow-matching step samples the source every step)
        return self.rsample(n, generator=generator)


class DiagNormal(Distribution):
    r"""A Gaussian :math:`\mathcal N(\mu, \mathrm{diag}\,\sigma^2)` with learnable mean and scale.

    .. math:: \log p(x) = -\tfrac12 \sum_i \Big(\frac{x_i - \mu_i}{\sigma_i}\Big)^2
        - \sum_i \log \sigma_i - \tfrac{d}{2}\log 2\pi

    Starts at the standard normal (:math:`\mu = 0`, :math:`\log\sigma = 0`).

    Args:
        event_shape: the shape ``D`` of one point (an int for vectors).
    """

    def __init__(self, event_shape: tuple[int, ...] | int) -> None:
        super().__init__()
        self.event_shape = (event_shape,) if isinstance(event_shape, int) else tuple(event_shape)
        self.dim = math.prod(self.event_shape)
        self.loc = nn.Parameter(torch.zeros(self.event_shape))
        self.log_scale = nn.Parameter(torch.zeros(self.event_shape))

    def log_prob(self, x: Tensor) -> Tensor:
        u = (x - self.loc) * torch.exp(-self.log_scale)
        return -0.5 * (u.flatten(1).square().sum(1) + self.dim * _LOG_2PI) - self.log_scale.sum()

    def rsample(self, n: int, *, generator: torch.Generator | None = None) -> Tensor:
        eps = standard_normal((n, *self.event_shape), self.loc, generator)
        return torch.addcmul(self.loc, eps, self.log_scale.exp())
