"""Autoregressive layers on a MADE conditioner: MAF (affine), autoregressive neural splines.

IAF is the inverse direction: ``Inverse(MaskedAutoregressive(...))``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..nn import MADE
from .base import Bijection
from .transformers import Affine, Transformer


class MaskedAutoregressive(Bijection):
    r"""An autoregressive layer: each coordinate is transformed given the earlier ones.

    With :math:`o` the order, :math:`h = \mathrm{MADE}(x, c)` and :math:`\tau` a strictly
    increasing scalar transformer (affine for MAF, rational-quadratic for NSF),

    .. math::
        z_i = \tau\big(x_i;\, h_i(x_{o<o_i}, c)\big), \qquad
        \log|\det J| = \sum_i \log \tau'\big(x_i;\, h_i\big)

    The Jacobian is lower triangular in the order :math:`o` with diagonal :math:`\tau'`,
    so its determinant is the product of the diagonal. The forward (density) direction is
    one pass of the MADE; the inverse (sampling) needs :math:`d` passes, solving coordinate
    after coordinate. ``Inverse(MaskedAutoregressive(...))`` is an IAF: one-pass sampling,
    :math:`d`-pass density. The MADE's last layer starts at zero (identity initialisation).

    References:
        Masked Autoregressive Flow for Density Estimation (Papamakarios et al., 2017),
        https://arxiv.org/abs/1705.07057;
        Improved Variational Inference with Inverse Autoregressive Flow (Kingma et al.,
        2016), https://arxiv.org/abs/1606.04934;
        Neural Spline Flows (Durkan et al., 2019), https://arxiv.org/abs/1906.04032

    Args:
        features: the dimension :math:`d`.
        hidden: the MADE's hidden widths.
        activation: the MADE's activation.
        context: the dimension of the condition vector (0 for none).
        order: a permutation of ``range(d)``: ``order[i]`` is coordinate ``i``'s position.
        scale_bound: the bound of the affine log-scale (``None``: unbounded); used only when
            ``transformer`` is not given.
        transformer: the scalar map (default :class:`Affine` with ``scale_bound``).
    """

    def __init__(
        self,
        features: int,
        hidden: Sequence[int] = (128, 128),
        activation: str = "relu",
        context: int = 0,
        order: Tensor | None = None,
        scale_bound: float | None = 3.0,
        transformer: Transformer | None = None,
    ) -> None:
        super().__init__()
        self.transformer = Affine(scale_bound) if transformer is None else transformer
        self.scale_bound = scale_bound
        self.made = MADE(features, self.transformer.params, hidden, activation, context, order)
        nn.init.zeros_(self.made.last.weight)
        nn.init.zeros_(self.made.last.bias)

    @property
    def order(self) -> Tensor:
        """The coordinates sorted by position: the Jacobian is lower triangular in this order."""
        return self.made.sorted_order.clone()

    def forward_and_log_det(self, x: Tensor, cond: Tensor | None = None) -> tuple[Tensor, Tensor]:
        z, ld = self.transformer.forward(x, self.made(x, cond))
        return z, ld.sum(1)

    def inverse_and_log_det(self, z: Tensor, cond: Tensor | None = None) -> tuple[Tensor, Tensor]:
        # Coordinate after coordinate in the order; over the d steps each hidden unit is
        # computed once: in place without autograd (MADE.incremental), by concatenation with
        # it (MADE.sequential).
        if len(self.made.layers) < 3:  # no hidden layer: d full passes
            x = torch.zeros_like(z)
            ld = z.new_zeros(z.shape)
            for _ in range(z.shape[1]):
                x, ld = self.transformer.inverse(z, self.made(x, cond))
            return x, ld.sum(1)
        if not torch.is_grad_enabled():
            return self._inverse_incremental(z, cond)
        state = self.made.sequential(cond, z)
        zp = z[:, self.made.sorted_order]  # position order
        lds = []
        for p in range(z.shape[1]):
            xp, ld = self.transformer.inverse(zp[:, p : p + 1], state.outputs(p)[:, :, None])
            state.set(p, xp)
            lds.append(ld)
        return state.x[:, self.made.order], torch.cat(lds, dim=1).sum(1)

    def _inverse_incremental(self, z: Tensor, cond: Tensor | None) -> tuple[Tensor, Tensor]:
        # transposed (position, batch) layout: the transformer sees "batch 1, B coordinates"
        zt = z.T[self.made.sorted_order]  # (d, B), row p = the coordinate at position p
        state = self.made.incremental(z.shape[0], cond, z)
        total = z.new_zeros(1, z.shape[0])
        for p in range(z.shape[1]):
            xp, ld = self.transformer.inverse(zt[p : p + 1], state.outputs(p)[None])
            state.set(p, xp[0])
            total += ld
        return state.x[self.made.order].T, total[0]
