"""Learnable invertible linear maps in LU form: dense (vectors) and 1×1 convolutions (images)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .base import Bijection


class _LU(nn.Module):
    r"""A square matrix :math:`W = P\,L\,(U + \mathrm{diag}(\mathrm{sign}\cdot e^{\ell}))`.

    :math:`P` is a fixed permutation, :math:`L` unit lower triangular, :math:`U` strictly
    upper triangular; :math:`\log|\det W| = \sum_i \ell_i`. Initialised at the LU
    decomposition of a random rotation (Glow), drawn from a generator seeded with ``seed``.
    """

    def __init__(self, n: int, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        q = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=torch.float64))[0]
        p, lo, up = torch.linalg.lu(q)
        diag = up.diagonal()
        self.register_buffer("p", p.float(), persistent=False)
        self.register_buffer("sign", diag.sign().float())
        self.register_buffer("lower_mask", torch.tril(torch.ones(n, n), -1), persistent=False)
        self.register_buffer("eye", torch.eye(n), persistent=False)
        self.lower = nn.Parameter(lo.tril(-1).float())
        self.upper = nn.Parameter(up.triu(1).float())
        self.log_diag = nn.Parameter(diag.abs().log().float())

    def factors(self) -> tuple[Tensor, Tensor]:
        """The unit lower and the upper (with diagonal) triangular factors."""
        lo = self.lower * self.lower_mask + self.eye
        up = self.upper * self.lower_mask.T + torch.diag(self.sign * self.log_diag.exp())
        return lo, up

    def weight(self) -> Tensor:
        lo, up = self.factors()
        return self.p @ lo @ up

    def inverse_weight(self) -> Tensor:
        r""":math:`W^{-1} = U^{-1} L^{-1} P^\top` by two triangular solves."""
        lo, up = self.factors()
        li = torch.linalg.solve_triangular(lo, self.eye, upper=False, unitriangular=True)
        return torch.linalg.solve_triangular(up, li, upper=True) @ self.p.T

    def log_abs_det(self) -> Tensor:
        return self.log_diag.sum()


class LULinear(Bijection):
    r"""A dense invertible linear map :math:`z = W x + b` with :math:`W` in LU form.

    .. math:: W = P L (U + \mathrm{diag}\,s), \qquad \log|\det J| = \sum_i \log|s_i|

    :math:`L` and :math:`U` are triangular, so :math:`\det W = \pm\prod_i s_i`, and the
    inverse needs two triangular solves instead of a general :math:`O(d^3)` one.

    References:
        Glow: Generative Flow with Invertible 1x1 Convolutions (Kingma & Dhariwal, 2018),
        https://arxiv.org/abs/1807.03039

    Args:
        features: the dimension :math:`d`.
        seed: the seed of the random rotation it starts from.
    """

    def __init__(self, features: int, seed: int = 0) -> None:
        super().__init__()
        self.lu = _LU(features, seed)
        self.bias = nn.Parameter(torch.zeros(features))

    def forward_and_log_det(self, x: Tensor, cond: Tensor | None = None) -> tuple[Tensor, Tensor]:
        z = torch.addmm(self.bias, x, self.lu.weight().T)
        return z, self.lu.log_abs_det().expand(x.shape[0])

    def inverse_and_log_det(self, z: Tensor, cond: Tensor | None = None) -> tuple[Tensor, Tensor]:
        x = (z - self.bias) @ self.lu.inverse_weight().T
        return x, (-self.lu.log_abs_det()).expand(z.shape[0])


class InvertibleConv1x1(Bijection):
    r"""Glow's invertible 1×1 convolution: the same :math:`C \times C` matrix at every pixel.

    On flattened images ``(B, C·H·W)`` (channel-major, as ``x.reshape(B, -1)`` gives),

    .. math:: z_{:, h, w} = W x_{:, h, w}, \qquad \log|\det J| = H W \sum_i \log|s_i|

    with :math:`W` in LU form (see :class:`LULinear`). The full Jacobian is block diagonal
    (one :math:`W` block per pixel, after reordering to pixel-major), hence the factor
    :math:`HW`.

    References:
        Glow: Generative Flow with Invertible 1x1 Convolutions (Kingma & Dhariwal, 2018),
        https://arxiv.org/abs/1807.03039

    Args:
        shape: the image shape ``(C, H, W)``.
        seed: the seed of the random rotation it starts from.
    """

    def __init__(self, shape: tuple[int, int, int], seed: int = 0) -> None:
        super().__init__()
        self.shape = tuple(shape)
        self.lu = _LU(self.shape[0], seed)
        self.pixels = self.shape[1] * self.shape[2]

    def _mix(self, w: Tensor, x: Tensor) -> Tensor:
        n = x.shape[0]
        return (w @ x.reshape(n, self.shape[0], self.pixels)).reshape(n, -1)

    def forward_and_log_det(self, x: Tensor, cond: Tensor | None = None) -> tuple[Tensor, Tensor]:
        ld = self.pixels * self.lu.log_abs_det()
        return self._mix(self.lu.weight(), x), ld.expand(x.shape[0])

    def inverse_and_log_det(self, z: Tensor, cond: Tensor | None = None) -> tuple[Tensor, Tensor]:
        ld = -self.pixels * self.lu.log_abs_det()
        return self._mix(self.lu.inverse_weight(), z), ld.expand(z.shape[0])
