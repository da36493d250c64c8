"""Coupling layers: NICE (additive) and RealNVP (affine), for any binary mask."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..nn import MLP
from .base import Bijection


def half_mask(features: int, flip: bool = False) -> Tensor:
    """The mask keeping the first ``features // 2`` coordinates (the rest with ``flip``)."""
    mask = torch.arange(features) < features // 2
    return ~mask if flip else mask


def parity_mask(features: int, flip: bool = False) -> Tensor:
    """The mask keeping the even coordinates (the odd ones with ``flip``)."""
    mask = torch.arange(features) % 2 == 0
    return ~mask if flip else mask


def soft_clamp(s: Tensor, bound: float | None) -> Tensor:
    r"""The smooth bounded log-scale :math:`c \tanh(s / c)` (``s`` when ``bound`` is None)."""
    return s if bound is None else bound * torch.tanh(s / bound)


def _range(idx: Tensor) -> tuple[int, int] | None:
    """``(start, stop)`` when ``idx`` is a contiguous increasing range, else ``None``."""
    if len(idx) and torch.equal(idx, torch.arange(int(idx[0]), int(idx[0]) + len(idx))):
        return int(idx[0]), int(idx[0]) + len(idx)
    return None


class AffineCoupling(Bijection):
    r"""A coupling layer: the kept coordinates :math:`x_a` condition a map of the others.

    With :math:`a` the coordinates where ``mask`` is true and :math:`b` the rest,

    .. math::
        z_a = x_a, \qquad z_b = x_b \odot e^{s(x_a, c)} + t(x_a, c), \qquad
        \log|\det J| = \sum_j s_j(x_a, c)

    where :math:`s = \beta \tanh(\tilde s / \beta)` bounds the log-scale softly. Ordered as
    :math:`(a, b)` the Jacobian is lower triangular with diagonal :math:`(1, e^{s})`, so the
    determinant is the product of its diagonal; inverting needs one pass of the
    conditioner: :math:`x_b = (z_b - t) \odot e^{-s}`. With ``additive=True`` :math:`s = 0`
    (NICE, volume preserving). The conditioner's last layer starts at zero, so the layer
    starts at the identity.

    References:
        NICE: Non-linear Independent Components Estimation (Dinh et al., 2015),
        https://arxiv.org/abs/1410.8516

        Density estimation using Real NVP (Dinh et al., 2017),
        https://arxiv.org/abs/1605.08803

    Args:
        mask: a boolean vector of shape ``(d,)``, true for the kept (conditioning)
            coordinates; at least one coordinate on each side.
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
        super().__init__()
        mask = torch.as_tensor(mask, dtype=torch.bool)
        idx_a, idx_b = mask.nonzero()[:, 0], (~mask).nonzero()[:, 0]
        if not len(idx_a) or not len(idx_b):
            raise ValueError("a coupling mask needs kept and transformed coordinates")
        self.additive, self.scale_bound = additive, scale_bound
        self.register_buffer("mask", mask, persistent=False)
        self.register_buffer("idx_a", idx_a, persistent=False)
        self.register_buffer("idx_b", idx_b, persistent=False)
        self.register_buffer("merge", torch.argsort(torch.cat((idx_a, idx_b))), persistent=False)
        ra, rb = _range(idx_a), _range(idx_b)
        self._ranges = (ra, rb) if ra is not None and rb is not None else None
        if net is None:
            out = len(idx_b) * (1 if additive else 2)
            net = MLP(len(idx_a), out, hidden, activation, context)
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

    def _scale_shift(self, xa: Tensor, cond: Tensor | None) -> tuple[Tensor | None, Tensor]:
        h = self.net(xa, cond)
        if self.additive:
            return None, h
        s, t = h.chunk(2, dim=1)
        return soft_clamp(s, self.scale_bound), t

    def forward_and_log_det(self, x: Tensor, cond: Tensor | None = None) -> tuple[Tensor, Tensor]:
        xa, xb = self._split(x)
        s, t = self._scale_shift(xa, cond)
        if s is None:
            return self._merge(xa, xb + t), x.new_zeros(x.shape[0])
        return self._merge(xa, torch.addcmul(t, xb, s.exp())), s.sum(1)

    def inverse_and_log_det(self, z: Tensor, cond: Tensor | None = None) -> tuple[Tensor, Tensor]:
        za, zb = self._split(z)
        s, t = self._scale_shift(za, cond)
        if s is None:
            return self._merge(za, zb - t), z.new_zeros(z.shape[0])
        return self._merge(za, (zb - t) * torch.exp(-s)), -s.sum(1)
