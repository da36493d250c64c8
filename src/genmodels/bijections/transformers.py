"""Univariate monotone transformers: the elementwise maps that conditioners parameterise.

A coupling or autoregressive layer is a *conditioner* (an MLP, a MADE, a conv net) that
outputs ``params`` numbers per transformed coordinate, and a *transformer* that maps each
coordinate with them. The transformer is a value passed to the layer (variants are values):
:class:`Affine`, :class:`Additive`, :class:`RationalQuadratic`. Each maps ``x`` of shape
``(B, n)`` with parameters ``h`` of shape ``(B, params, n)`` and returns the output and the
per-coordinate log-derivative ``(B, n)`` (the diagonal of the layer's triangular Jacobian).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def soft_clamp(s: Tensor, bound: float | None) -> Tensor:
    r"""The smooth bounded log-scale :math:`c \tanh(s / c)` (``s`` when ``bound`` is None).

    Computed as :math:`2c\,\sigma(2s/c) - c` (the same function): on CPU ``torch.tanh`` is
    several times slower than ``torch.sigmoid`` in float32.
    """
    return s if bound is None else torch.sigmoid(s * (2 / bound)) * (2 * bound) - bound


class Transformer:
    """A family of strictly increasing scalar maps :math:`y = \\tau(x; h)`.

    Attributes:
        params: how many conditioner outputs each coordinate needs.
        volume_preserving: whether the log-derivative is identically zero.
    """

    params: int = 1
    volume_preserving: bool = False

    def forward(self, x: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        """Returns :math:`\\tau(x; h)` and :math:`\\log \\tau'(x; h)`, both ``(B, n)``."""
        raise NotImplementedError

    def inverse(self, y: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        """Returns :math:`\\tau^{-1}(y; h)` and :math:`-\\log \\tau'(\\tau^{-1}(y); h)`."""
        raise NotImplementedError


class Additive(Transformer):
    r"""The shift :math:`y = x + t` (NICE): volume preserving, :math:`\log\tau' = 0`."""

    params = 1
    volume_preserving = True

    def forward(self, x: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        return x + h[:, 0], torch.zeros_like(x)

    def inverse(self, y: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        return y - h[:, 0], torch.zeros_like(y)


class Affine(Transformer):
    r"""The affine map :math:`y = x e^{s} + t` with :math:`s = \beta \tanh(\tilde s / \beta)`.

    ``h[:, 0]`` is the raw log-scale :math:`\tilde s`, ``h[:, 1]`` the shift :math:`t`.

    Args:
        scale_bound: the bound :math:`\beta` (``None``: unbounded).
    """

    params = 2

    def __init__(self, scale_bound: float | None = 3.0) -> None:
        self.scale_bound = scale_bound

    def forward(self, x: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        s = soft_clamp(h[:, 0], self.scale_bound)
        return torch.addcmul(h[:, 1], x, s.exp()), s

    def inverse(self, y: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        # -s in one op less than soft_clamp then negation (same value: negation is exact)
        b = self.scale_bound
        neg_s = -h[:, 0] if b is None else torch.sigmoid(h[:, 0] * (2 / b)) * (-2 * b) + b
        return (y - h[:, 1]) * neg_s.exp(), neg_s


class RationalQuadratic(Transformer):
    r"""A monotone rational-quadratic spline on :math:`[-B, B]` with identity (linear) tails.

    ``K`` bins with widths :math:`w_k`, heights :math:`h_k` and knot derivatives
    :math:`\delta_k` (:math:`\delta_0 = \delta_K = 1`, matching the identity tails). In bin
    :math:`k`, with :math:`\xi = (x - x_k)/w_k` and :math:`s_k = h_k / w_k`,

    .. math::
        y = y_k + \frac{h_k\,[s_k \xi^2 + \delta_k \xi(1-\xi)]}
                       {s_k + (\delta_{k+1} + \delta_k - 2 s_k)\,\xi(1-\xi)},
        \quad
        \frac{dy}{dx} = \frac{s_k^2\,[\delta_{k+1}\xi^2 + 2 s_k \xi(1-\xi)
                        + \delta_k (1-\xi)^2]}
                       {[s_k + (\delta_{k+1} + \delta_k - 2 s_k)\,\xi(1-\xi)]^2}.

    The inverse solves :math:`a\xi^2 + b\xi + c = 0` in bin :math:`k` of the output knots
    with the cancellation-free root :math:`\xi = 2c / (-b - \sqrt{b^2 - 4ac})`. Outside
    :math:`[-B, B]` the map is the identity. Everything is branch-free (``torch.where`` on
    clamped inputs), so out-of-domain points never reach the spline arithmetic.
    ``3K - 1`` parameters per coordinate: ``K`` widths, ``K`` heights, ``K - 1`` inner
    derivatives; all zero gives the identity.

    References:
        Neural Spline Flows (Durkan, Bekasov, Murray & Papamakarios, 2019),
        https://arxiv.org/abs/1906.04032

    Args:
        bins: the number of bins :math:`K`.
        bound: the half-width :math:`B` of the spline's domain (and range).
        min_width: the smallest bin width and height, as a fraction of :math:`2B`.
        min_derivative: the smallest knot derivative.
    """

    def __init__(self, bins: int = 8, bound: float = 5.0, min_width: float = 1e-3,
                 min_derivative: float = 1e-3) -> None:
        if bins < 1 or bound <= 0 or min_width * bins >= 1:
            raise ValueError(f"bad spline settings: bins={bins}, bound={bound}, "
                             f"min_width={min_width}")
        self.bins, self.bound = bins, bound
        self.min_width, self.min_derivative = min_width, min_derivative
        self.params = 3 * bins - 1
        # softplus(u + shift) + min_derivative = 1 at u = 0: identity initialisation
        self._shift = math.log(math.expm1(1.0 - min_derivative))

    def _tables(self, h: Tensor) -> Tensor:
        """Knot abscissas, ordinates and derivatives ``(3, K + 1, B, n)``, bins leading.

        Bins lead so that every reduction over them (softmax, cumulative sum, bin search)
        runs along the outermost dimension: a reduction over a short innermost dimension is
        many times slower on CPU.
        """
        k, b = self.bins, self.bound
        u = h.movedim(1, 0)  # (3K-1, B, n)
        wh = torch.softmax(u[: 2 * k].unflatten(0, (2, k)), dim=1)  # widths, heights
        cum = torch.cumsum(wh, dim=1)[:, :-1] * (2 * b * (1 - self.min_width * k))
        base = torch.arange(1, k, dtype=h.dtype, device=h.device) * (2 * b * self.min_width) - b
        inner_knots = cum + base[:, None, None]  # (2, K-1, B, n): x_1..x_{K-1}, y_1..y_{K-1}
        deriv = F.softplus(u[2 * k :] + self._shift) + self.min_derivative  # (K-1, B, n)
        inner = torch.cat((inner_knots, deriv[None]), dim=0)  # (3, K-1, B, n)
        ends = h.new_tensor([[-b, b], [-b, b], [1.0, 1.0]])  # (3, 2): x_0, x_K; y_0, y_K; δ
        ends = ends[:, :, None, None].expand(3, 2, *inner.shape[2:])
        return torch.cat((ends[:, :1], inner, ends[:, 1:]), dim=1)

    @staticmethod
    def _bin(knots: Tensor, v: Tensor) -> Tensor:
        # the bin k with knots[k] <= v < knots[k+1], shape (1, B, n); v is inside [-B, B]
        return (v[None] >= knots[1:-1]).sum(0, keepdim=True)

    @staticmethod
    def _gather(tables: Tensor, idx: Tensor) -> tuple[Tensor, ...]:
        idx = idx[None].expand(3, *idx.shape)
        lo = tables.gather(1, idx)[:, 0]  # (3, B, n): x_k, y_k, δ_k
        hi = tables.gather(1, idx + 1)[:, 0]
        x0, y0, d0 = lo
        x1, y1, d1 = hi
        return x0, x1 - x0, y0, y1 - y0, d0, d1

    def forward(self, x: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        tables = self._tables(h)
        inside = x.abs() < self.bound
        xc = x.clamp(-self.bound, self.bound)
        x0, w, y0, hh, d0, d1 = self._gather(tables, self._bin(tables[0], xc))
        s = hh / w
        xi = ((xc - x0) / w).clamp(0, 1)
        om = xi * (1 - xi)
        den = s + (d0 + d1 - 2 * s) * om
        y = y0 + hh * (s * xi.square() + d0 * om) / den
        logd = _log_derivative(s, xi, om, den, d0, d1)
        return torch.where(inside, y, x), torch.where(inside, logd, torch.zeros_like(x))

    def inverse(self, y: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        tables = self._tables(h)
        inside = y.abs() < self.bound
        yc = y.clamp(-self.bound, self.bound)
        x0, w, y0, hh, d0, d1 = self._gather(tables, self._bin(tables[1], yc))
        s = hh / w
        dy = yc - y0
        g = d0 + d1 - 2 * s
        a = hh * (s - d0) + dy * g
        b = hh * d0 - dy * g
        c = -s * dy
        disc = (b.square() - 4 * a * c).clamp_min(0)
        xi = (2 * c / (-b - disc.sqrt())).clamp(0, 1)
        x = x0 + xi * w
        om = xi * (1 - xi)
        den = s + g * om
        logd = _log_derivative(s, xi, om, den, d0, d1)
        return torch.where(inside, x, y), torch.where(inside, -logd, torch.zeros_like(y))


def _log_derivative(s: Tensor, xi: Tensor, om: Tensor, den: Tensor, d0: Tensor,
                    d1: Tensor) -> Tensor:
    r""":math:`\log \frac{s^2 [\delta_{k+1}\xi^2 + 2 s \xi(1-\xi) + \delta_k(1-\xi)^2]}{den^2}`."""
    num = d1 * xi.square() + 2 * s * om + d0 * (1 - xi).square()
    return torch.log(num * (s / den).square())
