r"""Unnormalised target densities for importance sampling, variational inference and MCMC.

Each :class:`Target` gives :math:`\log \tilde p(x)` (nats, ``(B,)``), its gradient (autograd),
the exact log-normaliser :math:`\log Z = \log \int \tilde p` where it is known (so
:math:`\log p = \log \tilde p - \log Z`), and exact samples where they can be drawn. They are
registered by name in :data:`TARGETS` (``get_target("funnel", dim=10)``).

* ``banana`` (Haario et al. 1999): :math:`y_1 = x_1/a`, :math:`y_2 = x_2 + b(x_1^2 - a^2)`
  (:math:`a = 1, b = 0.5` by default), :math:`y \sim \mathcal N(0, I)`, the other coordinates
  standard normal; the Jacobian of the twist is :math:`1/a`, included, so ``log_z = 0``.
* ``funnel`` (Neal 2003): :math:`v \sim \mathcal N(0, 3^2)`,
  :math:`x_i \mid v \sim \mathcal N(0, e^{v})`, ``i = 1..d-1``; normalised (``log_z = 0``).
* ``gmm``: equal-weight mixture of ``k`` isotropic Gaussians in ``d`` dimensions, centres on
  a seeded draw of scale ``spread``; normalised.
* ``double-well``: :math:`\log \tilde p(x) = -(x_1^2 - 1)^2 / \tau - \tfrac12\sum_{i>1} x_i^2`;
  :math:`\log Z` by 1-D quadrature (exact to float64 precision) times the Gaussian part.
* ``many-well`` (Midgley et al. 2023): ``d/2`` independent 2-D double wells
  :math:`-x_1^4 + 6x_1^2 + \tfrac12 x_1 - \tfrac12 x_2^2`; :math:`\log Z` = ``d/2`` times the
  quadrature value of one well. Exact samples of the 1-D factor by inverse-CDF on a fine grid.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import InputError

__all__ = ["TARGETS", "Target", "get_target", "grad_log_prob"]

LOG2PI = math.log(2 * math.pi)


@dataclass
class Target:
    """An unnormalised density in ``dim`` dimensions.

    Attributes:
        name: the registered name.
        dim: the dimension.
        log_unnorm: :math:`\\log \\tilde p(x)` for ``x`` of shape ``(B, dim)``, ``(B,)``.
        log_z: the exact log-normaliser, or ``None`` when unknown.
        sampler: ``sampler(n, generator) -> (n, dim)`` exact samples, or ``None``.
    """

    name: str
    dim: int
    log_unnorm: Callable[[Tensor], Tensor]
    log_z: float | None = None
    sampler: Callable[[int, torch.Generator | None], Tensor] | None = None

    def log_prob(self, x: Tensor) -> Tensor:
        """:math:`\\log \\tilde p(x) - \\log Z` (needs a known ``log_z``)."""
        if self.log_z is None:
            raise ValueError(f"target {self.name!r} has no known normaliser")
        return self.log_unnorm(x) - self.log_z

    def grad_log_prob(self, x: Tensor) -> Tensor:
        """:math:`\\nabla_x \\log \\tilde p(x)`, shape ``(B, dim)``."""
        return grad_log_prob(self.log_unnorm, x)

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> Tensor:
        """``n`` exact samples ``(n, dim)``."""
        if self.sampler is None:
            raise ValueError(f"target {self.name!r} has no exact sampler")
        return self.sampler(n, generator)


def grad_log_prob(fn: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """The gradient of a per-point log-density by autograd (works inside ``no_grad``)."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(fn(x).sum(), x)
    return g


def _normal_lp(x: Tensor, var: Tensor | float = 1.0) -> Tensor:
    var = torch.as_tensor(var, dtype=x.dtype)
    return -0.5 * (x.square() / var + torch.log(var) + LOG2PI)


def banana(dim: int = 2, a: float = 1.0, b: float = 0.5) -> Target:
    """Twisted Gaussian: :math:`y_1 = x_1/a`, :math:`y_2 = x_2 + b(x_1^2 - a^2)`.

    :math:`p(x) = \\mathcal N(x_1/a; 0, 1)\\,\\mathcal N(x_2 + b(x_1^2 - a^2); 0, 1)/a` times
    standard normals for the other coordinates, normalised (``log_z = 0``); samples by
    inverting the twist.
    """
    if dim < 2:
        raise InputError(f"banana: dim {dim} must be >= 2")

    def lp(x: Tensor) -> Tensor:
        y1 = x[:, 0] / a
        y2 = x[:, 1] + b * (x[:, 0].square() - a * a)
        rest = _normal_lp(x[:, 2:]).sum(1) if dim > 2 else 0.0
        return _normal_lp(y1) - math.log(a) + _normal_lp(y2) + rest

    def draw(n: int, g: torch.Generator | None) -> Tensor:
        y = torch.randn(n, dim, generator=g, dtype=torch.float64)
        x = y.clone()
        x[:, 0] = a * y[:, 0]
        x[:, 1] = y[:, 1] - b * (x[:, 0].square() - a * a)
        return x

    return Target("banana", dim, lp, 0.0, draw)


def funnel(dim: int = 10, scale: float = 3.0) -> Target:
    """Neal's funnel: :math:`v \\sim \\mathcal N(0, 3^2)`,
    :math:`x_i \\sim \\mathcal N(0, e^v)`."""
    if dim < 2:
        raise InputError(f"funnel: dim {dim} must be >= 2")

    def lp(x: Tensor) -> Tensor:
        v = x[:, 0]
        return _normal_lp(v, scale**2) + _normal_lp(x[:, 1:], torch.exp(v)[:, None]).sum(1)

    def draw(n: int, g: torch.Generator | None) -> Tensor:
        v = scale * torch.randn(n, 1, generator=g, dtype=torch.float64)
        z = torch.randn(n, dim - 1, generator=g, dtype=torch.float64)
        return torch.cat([v, z * torch.exp(v / 2)], 1)

    return Target("funnel", dim, lp, 0.0, draw)


def gmm(dim: int = 2, k: int = 8, spread: float = 5.0, std: float = 1.0, seed: int = 0) -> Target:
    """An equal-weight mixture of ``k`` Gaussians ``N(c_j, std² I)``, centres
    ``spread · U[-1, 1]^dim`` from a generator seeded by ``seed``; normalised."""
    g0 = torch.Generator().manual_seed(seed)
    centres = spread * (2 * torch.rand(k, dim, generator=g0, dtype=torch.float64) - 1)

    def lp(x: Tensor) -> Tensor:
        sq = (x[:, None, :] - centres.to(x)).square().sum(-1)
        return (torch.logsumexp(-sq / (2 * std * std), 1) - math.log(k)
                - 0.5 * dim * (LOG2PI + 2 * math.log(std)))

    def draw(n: int, g: torch.Generator | None) -> Tensor:
        j = torch.randint(k, (n,), generator=g)
        return centres[j] + std * torch.randn(n, dim, generator=g, dtype=torch.float64)

    return Target("gmm", dim, lp, 0.0, draw)


def _grid_1d(f: Callable[[Tensor], Tensor], lo: float, hi: float, m: int = 200_001
             ) -> tuple[Tensor, Tensor, float]:
    """Grid, normalised CDF and log-integral of :math:`e^{f}` on [lo, hi] (Simpson)."""
    t = torch.linspace(lo, hi, m, dtype=torch.float64)
    logf = f(t)
    mx = logf.max()
    w = torch.ones(m, dtype=torch.float64)
    w[1:-1:2], w[2:-1:2] = 4.0, 2.0
    h = (hi - lo) / (m - 1)
    dens = torch.exp(logf - mx)
    log_int = float(torch.log((w * dens).sum() * h / 3) + mx)
    cdf = torch.cumsum((dens[1:] + dens[:-1]) * h / 2, 0)
    cdf = torch.cat([cdf.new_zeros(1), cdf]) / cdf[-1]
    return t, cdf, log_int


def _inverse_cdf(t: Tensor, cdf: Tensor, u: Tensor) -> Tensor:
    i = torch.searchsorted(cdf, u).clamp(1, len(t) - 1)
    c0, c1 = cdf[i - 1], cdf[i]
    frac = (u - c0) / (c1 - c0).clamp_min(1e-300)
    return t[i - 1] + frac * (t[i] - t[i - 1])


def double_well(dim: int = 2, tau: float = 0.25) -> Target:
    """:math:`\\log\\tilde p = -(x_1^2 - 1)^2/\\tau - \\tfrac12 \\sum_{i>1} x_i^2`;
    :math:`\\log Z = \\log\\int e^{-(t^2-1)^2/\\tau}dt + \\tfrac{d-1}2 \\log 2\\pi`."""

    def f1(t: Tensor) -> Tensor:
        return -(t.square() - 1).square() / tau

    t, cdf, log_int = _grid_1d(f1, -4.0, 4.0)

    def lp(x: Tensor) -> Tensor:
        return f1(x[:, 0]) - 0.5 * x[:, 1:].square().sum(1)

    def draw(n: int, g: torch.Generator | None) -> Tensor:
        x1 = _inverse_cdf(t, cdf, torch.rand(n, generator=g, dtype=torch.float64))
        rest = torch.randn(n, dim - 1, generator=g, dtype=torch.float64)
        return torch.cat([x1[:, None], rest], 1)

    return Target("double-well", dim, lp, log_int + 0.5 * (dim - 1) * LOG2PI, draw)


def many_well(dim: int = 32) -> Target:
    """``dim/2`` copies of the 2-D well :math:`-x_1^4 + 6x_1^2 + \\tfrac12 x_1 - \\tfrac12 x_2^2`
    (Midgley et al. 2023, FAB); :math:`\\log Z = \\tfrac d2(\\log\\int e^{-t^4+6t^2+t/2}dt +
    \\tfrac12\\log 2\\pi)`."""
    if dim < 2 or dim % 2:
        raise InputError(f"many-well: dim {dim} must be even and >= 2")

    def f1(t: Tensor) -> Tensor:
        return -t**4 + 6 * t.square() + 0.5 * t

    t, cdf, log_int = _grid_1d(f1, -5.0, 5.0)
    m = dim // 2

    def lp(x: Tensor) -> Tensor:
        x1, x2 = x[:, 0::2], x[:, 1::2]
        return (f1(x1) - 0.5 * x2.square()).sum(1)

    def draw(n: int, g: torch.Generator | None) -> Tensor:
        x = torch.empty(n, dim, dtype=torch.float64)
        u = torch.rand(n * m, generator=g, dtype=torch.float64)
        x[:, 0::2] = _inverse_cdf(t, cdf, u).reshape(n, m)
        x[:, 1::2] = torch.randn(n, m, generator=g, dtype=torch.float64)
        return x

    return Target("many-well", dim, lp, m * (log_int + 0.5 * LOG2PI), draw)


TARGETS: dict[str, Callable[..., Target]] = {
    "banana": banana, "funnel": funnel, "gmm": gmm, "double-well": double_well,
    "many-well": many_well,
}
"""Target constructors by name (keyword arguments: ``dim`` and each target's own)."""


def get_target(name: str, **kwargs: float) -> Target:
    """The target ``name`` built with ``kwargs``; :class:`InputError` for an unknown name."""
    if name not in TARGETS:
        raise InputError(f"unknown target {name!r} (known: {', '.join(sorted(TARGETS))})")
    return TARGETS[name](**kwargs)
