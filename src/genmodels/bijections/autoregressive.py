"""Affine autoregressive layers (MAF; IAF is their inverse) on a MADE conditioner."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..nn import MADE
from .base import Bijection
from .coupling import soft_clamp


class MaskedAutoregressive(Bijection):
    r"""An affine autoregressive layer: each coordinate is scaled and shifted by the earlier ones.

    With :math:`o` the order and :math:`(s, t) = \mathrm{MADE}(x, c)`,

    .. math::
        z_i = x_i\, e^{s_i(x_{o<o_i}, c)} + t_i(x_{o<o_i}, c), \qquad
        \log|\det J| = \sum_i s_i

    The Jacobian is lower triangular in the order :math:`o` with diagonal :math:`e^{s}`.
    The forward (density) direction is one pass of the MADE; the inverse (sampling)
    direction needs :math:`d` passes, :math:`x_i = (z_i - t_i) e^{-s_i}` solved in order.
    ``Inverse(MaskedAutoregressive(...))`` is an IAF: one-pass sampling, :math:`d`-pass
    density. The log-scale is bounded softly by :math:`\beta\tanh(\cdot/\beta)` and the
    MADE's last layer starts at zero (identity initialisation).

    References:
        Masked Autoregressive Flow for Density Estimation (Papamakarios et al., 2017),
        https://arxiv.org/abs/1705.07057

        Improved Variational Inference with Inverse Autoregressive Flow (Kingma et al.,
        2016), https://arxiv.org/abs/1606.04934

    Args:
        features: the dimension :math:`d`.
        hidden: the MADE's hidden widths.
        activation: the MADE's activation.
        context: the dimension of the condition vector (0 for none).
        order: a permutation of ``range(d)``: ``order[i]`` is coordinate ``i``'s position.
        scale_bound: the bound :math:`\beta` of the log-scale (``None``: unbounded).
    """

    def __init__(
        self,
        features: int,
        hidden: Sequence[int] = (128, 128),
        activation: str = "relu",
        context: int = 0,
        order: Tensor | None = None,
        scale_bound: float | None = 3.0,
    ) -> None:
        super().__init__()
        self.scale_bound = scale_bound
        self.made = MADE(features, 2, hidden, activation, context, order)
        nn.init.zeros_(self.made.last.weight)
        nn.init.zeros_(self.made.last.bias)

    @property
    def order(self) -> Tensor:
        """The coordinates sorted by position: the Jacobian is lower triangular in this order."""
        return torch.argsort(self.made.order)

    def _scale_shift(self, x: Tensor, cond: Tensor | None) -> tuple[Tensor, Tensor]:
        h = self.made(x, cond)
        return soft_clamp(h[:, 0], self.scale_bound), h[:, 1]

    def forward_and_log_det(self, x: Tensor, cond: Tensor | None = None) -> tuple[Tensor, Tensor]:
        s, t = self._scale_shift(x, cond)
        return torch.addcmul(t, x, s.exp()), s.sum(1)

    def inverse_and_log_det(self, z: Tensor, cond: Tensor | None = None) -> tuple[Tensor, Tensor]:
        # After k passes the first k coordinates in the order are exact; d passes solve all.
        x = torch.zeros_like(z)
        s = z.new_zeros(z.shape)
        for _ in range(z.shape[1]):
            s, t = self._scale_shift(x, cond)
            x = (z - t) * torch.exp(-s)
        return x, -s.sum(1)
