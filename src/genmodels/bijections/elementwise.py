"""Elementwise bijections: one scalar map per coordinate, diagonal Jacobian."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import Bijection


class ElementwiseAffine(Bijection):
    r"""A learnable per-coordinate affine map (the diagonal scaling layer of NICE).

    .. math:: z_i = x_i \, e^{s_i} + t_i, \qquad \log|\det J| = \sum_i s_i

    Starts at the identity (:math:`s = t = 0`).

    References:
        NICE: Non-linear Independent Components Estimation (Dinh et al., 2015),
        https://arxiv.org/abs/1410.8516

    Args:
        features: the dimension :math:`d`.
    """

    def __init__(self, features: int) -> None:
        super().__init__()
        self.log_scale = nn.Parameter(torch.zeros(features))
        self.shift = nn.Parameter(torch.zeros(features))

    def forward_and_log_det(self, x: Tensor, cond: Tensor | None = None) -> tuple[Tensor, Tensor]:
        z = torch.addcmul(self.shift, x, self.log_scale.exp())
        return z, self.log_scale.sum().expand(x.shape[0])

    def inverse_and_log_det(self, z: Tensor, cond: Tensor | None = None) -> tuple[Tensor, Tensor]:
        x = (z - self.shift) * torch.exp(-self.log_scale)
        return x, (-self.log_scale.sum()).expand(z.shape[0])


class Sigmoid(Bijection):
    r"""The logistic map :math:`z = \sigma(x) = 1 / (1 + e^{-x})` from :math:`\mathbb R` to
    :math:`(0, 1)`, coordinate by coordinate.

    .. math:: \log|\det J| = \sum_i \log \sigma(x_i)\,(1 - \sigma(x_i))
        = -\sum_i \big(\operatorname{softplus}(x_i) + \operatorname{softplus}(-x_i)\big)

    Its inverse is :class:`Logit`. No parameters; the condition is ignored.
    """

    def forward_and_log_det(self, x: Tensor, cond: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return torch.sigmoid(x), _log_sigmoid_derivative(x)

    def inverse_and_log_det(self, z: Tensor, cond: Tensor | None = None) -> tuple[Tensor, Tensor]:
        x = torch.logit(z)
        return x, -_log_sigmoid_derivative(x)


class Logit(Bijection):
    r"""The logit of a squeezed unit interval, the usual first layer for data in :math:`[0, 1]`.

    .. math:: u = \alpha + (1 - 2\alpha)\,x, \qquad z = \log u - \log(1 - u), \qquad
        \log|\det J| = \sum_i \big[\log(1 - 2\alpha) - \log u_i - \log(1 - u_i)\big]

    :math:`\alpha > 0` keeps pixels at 0 and 1 finite (RealNVP uses :math:`\alpha = 0.05`).
    The inverse is the sigmoid followed by the affine un-squeeze.

    References:
        Density estimation using Real NVP (Dinh et al., 2017), https://arxiv.org/abs/1605.08803

    Args:
        alpha: the margin :math:`\alpha \in [0, 1/2)`.
    """

    def __init__(self, alpha: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= alpha < 0.5:
            raise ValueError(f"alpha must lie in [0, 0.5), got {alpha}")
        self.alpha = alpha

    def forward_and_log_det(self, x: Tensor, cond: Tensor | None = None) -> tuple[Tensor, Tensor]:
        a = self.alpha
        z = torch.logit(a + (1 - 2 * a) * x)
        return z, math.log1p(-2 * a) * x.shape[1] - _log_sigmoid_derivative(z)

    def inverse_and_log_det(self, z: Tensor, cond: Tensor | None = None) -> tuple[Tensor, Tensor]:
        a = self.alpha
        x = (torch.sigmoid(z) - a) / (1 - 2 * a)
        return x, _log_sigmoid_derivative(z) - math.log1p(-2 * a) * z.shape[1]


def _log_sigmoid_derivative(x: Tensor) -> Tensor:
    """:math:`\\sum_i \\log \\sigma'(x_i)`, computed without overflow."""
    return -(F.softplus(x) + F.softplus(-x)).sum(1)
