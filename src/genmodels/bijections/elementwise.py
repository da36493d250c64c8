"""Elementwise bijections: one scalar map per coordinate, diagonal Jacobian."""

from __future__ import annotations

import torch
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
