"""Coupling layers: a conditioner on the kept coordinates, a transformer on the others.

NICE (additive), RealNVP/Glow (affine) and coupling neural spline flows (rational-quadratic)
are one class, :class:`Coupling`, with the transformer as a value; :class:`AffineCoupling`
keeps the familiar signature.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..nn import MLP
from .base import Bijection
from .transformers import Additive, Affine, Transformer, soft_clamp

__all__ = ["AffineCoupling", "Coupling", "half_mask", "parity_mask", "soft_clamp"]


def half_mask(features: int, flip: bool = False) -> Tensor:
    """The mask keeping the first ``features // 2`` coordinates (the rest with ``flip``)."""
    mask = torch.arange(features) < features // 2
    return ~mask if flip else mask


def parity_mask(features: int, flip: bool = False) -> Tensor:
    """The mask keeping the even coordinates (the odd ones with ``flip``)."""
    mask = torch.arange(features) % 2 == 0
    return ~mask if flip else mask


def _range(idx: Tensor) -> tuple[int, int] | None:
    """``(start, stop)`` when ``idx`` is a contiguous increasing range, else ``None``."""
    if len(idx) and torch.equal(idx, torch.arange(int(idx[0]), int(idx[0]) + len(idx))):
        return int(idx[0]), int(idx[0]) + len(idx)
    return None


class Coupling(Bijection):
    r"""A coupling layer: the kept coordinates :math:`x_a` parameterise a map of the others.

    With :math:`a` the coordinates where ``mask`` is true, :math:`b` the rest and
    :math:`\tau` a strictly increasing scalar transformer,

    .. math::
        z_a = x_a, \qquad z_{b_j} = \tau\big(x_{b_j};\, h_j(x_a, c)\big), \qquad
        \log|\det J| = \sum_j \log \tau'\big(x_{b_j};\, h_j(x_a, c)\big)

    Ordered as :math:`(a, b)` the Jacobian is block lower triangular with the identity and a
    *diagonal* block :math:`\mathrm{diag}\,\tau'`, so it is triangular and its determinant is
    the product of its diagonal. Inverting needs one pass of the conditioner. The
    conditioner's last layer starts at zero, so the layer starts at the identity (for every
    transformer here, zero parameters are the identity).

    References:
        NICE (Dinh et al., 2015), https://arxiv.org/abs/1410.8516;
        Density estimation using Real NVP (Dinh et al., 2017), https://arxiv.org/abs/1605.08803;
        Neural Spline Flows (Durkan et al., 2019), https://arxiv.org/abs/1906.04032

    Args:
        mask: a boolean vector ``(d,)``, true for the kept (conditioning) coordinates; at
            least one coordinate on each side.
        transformer: the scalar map :math:`\tau` (:class:`Affine`, :class:`Additive`,
            :class:`RationalQuadratic`).
        hidden: the conditioner MLP's hidden widths.
        activation: the conditioner's activation.
        context: the dimension of the condition vector (0 for none).
        net: a conditioner to use instead of an MLP: ``net(x_a, cond)`` of shape
            ``(B, params·|b|)``, laid out as ``(params, |b|)``.
    """

    def __init__(
        self,
        mask: Tensor,
        transformer: Transformer | None = None,
        hidden: Sequence[int] = (128, 128),
        activation: str = "relu",
        context: int = 0,
        net: nn.Module | None = None,
    ) -> None:
        super().__init__()
        mask = torch.as_tensor(mask, dtype=torch.bool)
        idx_a, idx_b = mask.nonzero()[:, 0], (~mask).nonzero()[:, 0]
        if not len(idx_a) or not len(idx_b):
            raise ValueError("a coupling mask needs kept and transformed coordinates")
        self.transformer = Affine() if transformer is None else transformer
        self.register_buffer("mask", mask, persistent=False)
        self.register_buffer("idx_a", idx_a, persistent=False)
        self.register_buffer("idx_b", idx_b, persistent=False)
        self.register_buffer("merge", torch.argsort(torch.cat((idx_a, idx_b))), persistent=False)
        ra, rb = _range(idx_a), _range(idx_b)
        self._ranges = (ra, rb) if ra is not None and rb is not None else None
        self._nb = len(idx_b)
        if net is None:
            net = MLP(len(idx_a), len(idx_b) * self.transformer.params, hidden, activation,
                      context)
            nn.init.zeros_(net.last.weight)
            nn.init.zeros_(net.last.bias)
        self.net = net

    @property
    def order(self) -> Tensor:
        """The coordinate order ``(a, b)`` under which the Jacobian is lower triangular."""
        return torch.cat((self.idx_a, self.idx_b))

    def _split(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if self._ranges is not None:
            (a0, a1), (b0, b1) = self._ranges
            return x[:, a0:a1], x[:, b0:b1]
        return x[:, self.idx_a], x[:, self.idx_b]

    def _merge(self, xa: Tensor, yb: Tensor) -> Tensor:
        if self._ranges is not None:
            return torch.cat((xa, yb) if self._ranges[0][0] == 0 else (yb, xa), dim=1)
        return torch.cat((xa, yb), dim=1)[:, self.merge]

    def _params(self, xa: Tensor, cond: Tensor | None) -> Tensor:
        return self.net(xa, cond).unflatten(1, (self.transformer.params, self._nb))

    def _log_det(self, ld: Tensor, like: Tensor) -> Tensor:
        if self.transformer.volume_preserving:
            return like.new_zeros(like.shape[0])
        return ld.sum(1)

    def forward_and_log_det(self, x: Tensor, cond: Tensor | None = None) -> tuple[Tensor, Tensor]:
        xa, xb = self._split(x)
        yb, ld = self.transformer.forward(xb, self._params(xa, cond))
        return self._merge(xa, yb), self._log_det(ld, x)

    def inverse_and_log_det(self, z: Tensor, cond: Tensor | None = None) -> tuple[Tensor, Tensor]:
        za, zb = self._split(z)
        xb, ld = self.transformer.inverse(zb, self._params(za, cond))
        return self._merge(za, xb), self._log_det(ld, z)


class AffineCoupling(Coupling):
    r"""The affine (RealNVP) or additive (NICE) coupling layer.

    .. math:: z_a = x_a, \qquad z_b = x_b \odot e^{s(x_a, c)} + t(x_a, c), \qquad
        \log|\det J| = \sum_j s_j(x_a, c)

    with :math:`s = \beta \tanh(\tilde s / \beta)` (soft bound), or :math:`s = 0` with
    ``additive=True`` (volume preserving). See :class:`Coupling`.

    Args:
        mask: a boolean vector ``(d,)``, true for the kept coordinates.
        hidden: the conditioner's hidden widths.
        activation: the conditioner's activation.
        context: the dimension of the condition vector (0 for none).
        additive: NICE's additive coupling (no scale).
        scale_bound: the bound :math:`\beta` of the log-scale (``None``: unbounded).
        net: a conditioner to use instead of an MLP: ``net(x_a, cond)`` of shape
            ``(B, |b|)`` (additive) or ``(B, 2|b|)`` (log-scales then shifts).
    """

    def __init__(
        self,
        mask: Tensor,
        hidden: Sequence[int] = (128, 128),
        activation: str = "relu",
        context: int = 0,
        additive: bool = False,
        scale_bound: float | None = 3.0,
        net: nn.Module | None = None,
    ) -> None:
        transformer = Additive() if additive else Affine(scale_bound)
        super().__init__(mask, transformer, hidden, activation, context, net)
        self.additive, self.scale_bound = additive, scale_bound
