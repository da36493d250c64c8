r"""Forward noising processes as values: linear SDEs :math:`dX = f(t) X\,dt + g(t)\,dB`.

Every process here is linear in :math:`X`, so its transition from the data is Gaussian:

.. math:: X_t \mid X_0 = x_0 \sim \mathcal N(\alpha_t x_0, \sigma_t^2 I), \qquad
    \alpha_t = e^{\int_0^t f}, \qquad
    \sigma_t^2 = \int_0^t e^{2\int_s^t f} g(s)^2\, ds.

Time runs from the data (``t = 0``) to the noise (``t = T``). A process is a small object
with ``f``, ``g2``, ``log_alpha`` and ``var``; everything else (marginals, log-SNR and its
inverse, the prior, time grids) is derived here once.

Reference: Song et al., "Score-Based Generative Modeling through Stochastic Differential
Equations" (ICLR 2021), https://arxiv.org/abs/2011.13456, §3 and Appendix B.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable

import torch
from torch import Tensor

from ..errors import InputError

GRIDS = ("uniform", "logsnr", "quadratic", "edm")
_LOG_2PI = math.log(2 * math.pi)


def _ft(t: Tensor | float) -> Tensor:
    """``t`` as a floating tensor (float64 for Python numbers)."""
    t = torch.as_tensor(t)
    return t if t.is_floating_point() else t.to(torch.float64)


def expand(c: Tensor, x: Tensor) -> Tensor:
    """Reshapes per-sample coefficients ``(B,)`` (or a scalar) to broadcast against ``(B, *D)``."""
    c = torch.as_tensor(c, dtype=x.dtype, device=x.device)
    if c.dim() == 0:
        return c
    return c.reshape(c.shape[0], *([1] * (x.dim() - 1)))


class ForwardSDE(ABC):
    r"""A linear forward SDE :math:`dX = f(t) X\,dt + g(t)\,dB` on :math:`[0, T]`.

    Subclasses give :math:`f`, :math:`g^2`, :math:`\log\alpha_t` and :math:`\sigma_t^2`.

    Attributes:
        T: the end time (the noise end).
        t_eps: the smallest time used in training and sampling (the data end, ``t = 0``,
            has :math:`\sigma = 0` where the score is singular).
    """

    T: float = 1.0
    t_eps: float = 1e-3
    #: the grid that first-order samplers use by default (``"logsnr"`` or ``"uniform"``)
    sampling_grid: str = "logsnr"

    @abstractmethod
    def f(self, t: Tensor) -> Tensor:
        """The drift coefficient :math:`f(t)` (the drift is :math:`f(t)\\,x`)."""

    @abstractmethod
    def g2(self, t: Tensor) -> Tensor:
        """The squared diffusion coefficient :math:`g(t)^2`."""

    @abstractmethod
    def log_alpha(self, t: Tensor) -> Tensor:
        """:math:`\\log\\alpha_t = \\int_0^t f`."""

    @abstractmethod
    def var(self, t: Tensor) -> Tensor:
        """The transition variance :math:`\\sigma_t^2` of :math:`q_{t|0}`."""

    # ---- derived -------------------------------------------------------------------------
    def g(self, t: Tensor) -> Tensor:
        """The diffusion coefficient :math:`g(t)`."""
        return self.g2(t).sqrt()

    def alpha(self, t: Tensor) -> Tensor:
        """The mean coefficient :math:`\\alpha_t`."""
        return self.log_alpha(t).exp()

    def sigma(self, t: Tensor) -> Tensor:
        """The transition standard deviation :math:`\\sigma_t`."""
        return self.var(t).sqrt()

    def d_alpha(self, t: Tensor) -> Tensor:
        """:math:`\\dot\\alpha_t = f(t)\\,\\alpha_t`."""
        return self.f(t) * self.alpha(t)

    def d_sigma(self, t: Tensor) -> Tensor:
        """:math:`\\dot\\sigma_t = (2 f \\sigma_t^2 + g^2) / (2\\sigma_t)` (from
        :math:`\\dot{(\\sigma^2)} = 2 f \\sigma^2 + g^2`)."""
        return (2 * self.f(t) * self.var(t) + self.g2(t)) / (2 * self.sigma(t))

    def drift(self, x: Tensor, t: Tensor) -> Tensor:
        """The forward drift :math:`f(t)\\,x`, ``x`` of ``(B, *D)``, ``t`` scalar or ``(B,)``."""
        return expand(self.f(t), x) * x

    def diffusion(self, t: Tensor) -> Tensor:
        """The forward diffusion coefficient :math:`g(t)`."""
        return self.g(t)

    def marginal(self, x0: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """Mean ``(B, *D)`` and std (broadcastable) of :math:`q_{t|0}(\\cdot \\mid x_0)`."""
        return expand(self.alpha(t), x0) * x0, expand(self.sigma(t), x0)

    def perturb(self, x0: Tensor, t: Tensor, noise: Tensor) -> Tensor:
        """:math:`x_t = \\alpha_t x_0 + \\sigma_t \\varepsilon`."""
        mean, std = self.marginal(x0, t)
        return mean + std * noise

    def log_snr(self, t: Tensor) -> Tensor:
        """:math:`\\lambda_t = \\log(\\alpha_t / \\sigma_t)`, decreasing in ``t``."""
        return self.log_alpha(t) - 0.5 * self.var(t).log()

    def t_of_log_snr(self, lam: Tensor) -> Tensor:
        """The time where :math:`\\lambda_t = \\lambda` (bisection: it is monotone)."""
        lam = torch.as_tensor(lam, dtype=torch.float64)
        lo = torch.full_like(lam, min(self.t_eps, self.T) * 1e-3)
        hi = torch.full_like(lam, self.T)
        for _ in range(64):
            mid = 0.5 * (lo + hi)
            above = self.log_snr(mid) > lam  # still too close to the data
            lo = torch.where(above, mid, lo)
            hi = torch.where(above, hi, mid)
        return 0.5 * (lo + hi)

    # ---- prior -------------------------------------------------------------------------
    @property
    def prior_std(self) -> float:
        """The std of the prior :math:`\\mathcal N(0, \\sigma_T^2 I)` that stands in for
        :math:`q_T` (it ignores :math:`\\alpha_T x_0`, small by design)."""
        return float(self.sigma(torch.tensor(self.T, dtype=torch.float64)))

    def prior_sample(self, shape: tuple[int, ...], *, generator: torch.Generator | None = None,
                     device: torch.device | str | None = None,
                     dtype: torch.dtype = torch.float32) -> Tensor:
        """Draws from :math:`\\mathcal N(0, \\sigma_T^2 I)`, shape ``shape``."""
        z = torch.randn(shape, generator=generator, device=device, dtype=dtype)
        return self.prior_std * z

    def prior_log_prob(self, x: Tensor) -> Tensor:
        """Log-density ``(B,)`` of the prior at ``x`` of ``(B, *D)``."""
        s = self.prior_std
        d = x[0].numel()
        return -0.5 * (x.flatten(1).square().sum(1) / s**2) - d * (math.log(s) + 0.5 * _LOG_2PI)

    # ---- time grids --------------------------------------------------------------------
    def time_grid(self, n: int, kind: str = "uniform", *, t_min: float | None = None,
                  t_max: float | None = None, rho: float | None = None) -> Tensor:
        """``n + 1`` decreasing times from ``T`` to ``t_eps`` (float64).

        Args:
            n: the number of steps.
            kind: ``"uniform"`` in ``t``, ``"logsnr"`` (uniform in :math:`\\lambda_t`, the
                DPM-Solver choice), ``"quadratic"`` (power-ρ in ``t``, denser near the data:
                :math:`t = t_\\varepsilon + (T - t_\\varepsilon)(1 - u)^\\rho`, ρ = 2) or
                ``"edm"`` (Karras et al. 2022: :math:`\\sigma/\\alpha = e^{-\\lambda}` spaced
                as :math:`(a^{1/\\rho} + u(b^{1/\\rho} - a^{1/\\rho}))^\\rho`, ρ = 7).
            t_min: the last time (default ``t_eps``).
            t_max: the first time (default ``T``).
            rho: the exponent of ``"quadratic"`` and ``"edm"`` (``None``: 2 and 7).
        """
        if n < 1:
            raise InputError(f"time grid: {n} steps is not a positive number")
        if kind not in GRIDS:
            raise InputError(f"time grid {kind!r}: unknown (known: {', '.join(GRIDS)})")
        if rho is not None and not rho > 0:
            raise InputError(f"time grid: rho {rho} must be positive")
        lo = self.t_eps if t_min is None else t_min
        hi = self.T if t_max is None else t_max
        u = torch.linspace(0.0, 1.0, n + 1, dtype=torch.float64)
        if kind == "uniform":
            ts = hi + (lo - hi) * u
        elif kind == "quadratic":
            ts = lo + (hi - lo) * (1 - u) ** (2.0 if rho is None else rho)
        else:
            lam0 = self.log_snr(torch.tensor(hi, dtype=torch.float64))
            lam1 = self.log_snr(torch.tensor(lo, dtype=torch.float64))
            if kind == "logsnr":
                lam = lam0 + (lam1 - lam0) * u
            else:
                rho = 7.0 if rho is None else rho
                a, b = torch.exp(-lam0) ** (1 / rho), torch.exp(-lam1) ** (1 / rho)
                lam = -rho * torch.log(a + u * (b - a))
            ts = self.t_of_log_snr(lam)
        ts[0], ts[-1] = hi, lo
        return ts

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({fields})"


def _gauss_legendre(n: int) -> tuple[Tensor, Tensor]:
    """Nodes and weights of the ``n``-point Gauss–Legendre rule on [-1, 1] (Golub–Welsch)."""
    k = torch.arange(1, n, dtype=torch.float64)
    off = k / torch.sqrt(4 * k**2 - 1)
    nodes, vecs = torch.linalg.eigh(torch.diag(off, 1) + torch.diag(off, -1))
    return nodes, 2 * vecs[0] ** 2


_GL_NODES, _GL_WEIGHTS = _gauss_legendre(64)


def integrate_scalar(fn: Callable[[Tensor], Tensor], a: Tensor | float,
                     b: Tensor | float) -> Tensor:
    """:math:`\\int_a^b \\mathrm{fn}(s)\\,ds` by 64-point Gauss–Legendre (float64 scalars)."""
    a64, b64 = _ft(a).to(torch.float64), _ft(b).to(torch.float64)
    s = 0.5 * (b64 - a64) * _GL_NODES + 0.5 * (a64 + b64)
    return 0.5 * (b64 - a64) * (fn(s) * _GL_WEIGHTS).sum()


class VP(ForwardSDE):
    r"""The variance-preserving SDE :math:`dX = -\frac12\beta(t)X\,dt + \sqrt{\beta(t)}\,dB`.

    With :math:`\beta(t) = \beta_0 + t(\beta_1 - \beta_0)` and
    :math:`B(t) = \int_0^t\beta`: :math:`\alpha_t = e^{-B/2}`, :math:`\sigma_t^2 = 1 - e^{-B}`.
    ``sub=True`` gives the sub-VP SDE: :math:`g^2 = \beta(1 - e^{-2B})`,
    :math:`\sigma_t^2 = (1 - e^{-B})^2`. First-order samplers default to a grid uniform in
    ``t`` here (the clock the β schedule was designed on; DDPM/DDIM's convention).
    """

    sampling_grid = "uniform"

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0, T: float = 1.0,
                 t_eps: float = 1e-3, sub: bool = False) -> None:
        if not 0 <= beta_min <= beta_max or beta_max <= 0:
            raise InputError(f"VP: need 0 <= beta_min <= beta_max, beta_max > 0; got "
                             f"{beta_min}, {beta_max}")
        if T <= 0 or not 0 < t_eps < T:
            raise InputError(f"VP: need 0 < t_eps < T, got t_eps={t_eps}, T={T}")
        self.beta_min, self.beta_max, self.T, self.t_eps = beta_min, beta_max, T, t_eps
        self.sub = sub

    def beta(self, t: Tensor) -> Tensor:
        return self.beta_min + _ft(t) * (self.beta_max - self.beta_min)

    def big_b(self, t: Tensor) -> Tensor:
        t = _ft(t)
        return self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t**2

    def f(self, t: Tensor) -> Tensor:
        return -0.5 * self.beta(t)

    def g2(self, t: Tensor) -> Tensor:
        b = self.beta(t)
        return -b * torch.expm1(-2 * self.big_b(t)) if self.sub else b

    def log_alpha(self, t: Tensor) -> Tensor:
        return -0.5 * self.big_b(t)

    def var(self, t: Tensor) -> Tensor:
        v = -torch.expm1(-self.big_b(t))
        return v**2 if self.sub else v

    def t_of_log_snr(self, lam: Tensor) -> Tensor:
        """Closed form: :math:`B(t) = \\log(1 + e^{-2\\lambda})` (VP) or
        :math:`2\\,\\mathrm{asinh}(e^{-\\lambda}/2)` (sub-VP), then the root of the quadratic
        :math:`B(t) = \\beta_{\\min}t + \\tfrac12(\\beta_{\\max} - \\beta_{\\min})t^2`."""
        lam = torch.as_tensor(lam, dtype=torch.float64)
        big_b = 2 * torch.asinh(0.5 * torch.exp(-lam)) if self.sub else \
            torch.log1p(torch.exp(-2 * lam))
        slope = self.beta_max - self.beta_min
        if slope == 0:
            return big_b / self.beta_min
        # t = 2B / (b0 + sqrt(b0^2 + 2 slope B)): the stable form of the quadratic's root
        return 2 * big_b / (self.beta_min + torch.sqrt(self.beta_min**2 + 2 * slope * big_b))


def SubVP(beta_min: float = 0.1, beta_max: float = 20.0, T: float = 1.0,  # noqa: N802
          t_eps: float = 1e-3) -> VP:
    """The sub-VP SDE (Song et al. 2021, §3.4): ``VP(..., sub=True)``."""
    return VP(beta_min, beta_max, T, t_eps, sub=True)


class VE(ForwardSDE):
    r"""The variance-exploding SDE :math:`dX = \sqrt{d\bar\sigma^2/dt}\,dB`,
    :math:`\bar\sigma(t) = \sigma_{\min}(\sigma_{\max}/\sigma_{\min})^t`.

    :math:`\alpha_t = 1`, :math:`g^2 = 2\bar\sigma(t)^2\log(\sigma_{\max}/\sigma_{\min})`
    and the exact variance :math:`\sigma_t^2 = \bar\sigma(t)^2 - \sigma_{\min}^2`.
    """

    def __init__(self, sigma_min: float = 0.01, sigma_max: float = 50.0, T: float = 1.0,
                 t_eps: float = 1e-3) -> None:
        if not 0 < sigma_min < sigma_max:
            raise InputError(f"VE: need 0 < sigma_min < sigma_max, got {sigma_min}, {sigma_max}")
        if T <= 0 or not 0 < t_eps < T:
            raise InputError(f"VE: need 0 < t_eps < T, got t_eps={t_eps}, T={T}")
        self.sigma_min, self.sigma_max, self.T, self.t_eps = sigma_min, sigma_max, T, t_eps
        self._log_ratio = math.log(sigma_max / sigma_min)

    def f(self, t: Tensor) -> Tensor:
        return torch.zeros_like(_ft(t))

    def g2(self, t: Tensor) -> Tensor:
        t = _ft(t)
        rate = 2 * self._log_ratio / self.T
        return rate * self.sigma_min**2 * torch.exp(rate * t)

    def log_alpha(self, t: Tensor) -> Tensor:
        return torch.zeros_like(_ft(t))

    def var(self, t: Tensor) -> Tensor:
        t = _ft(t)
        return self.sigma_min**2 * torch.expm1(2 * self._log_ratio * t / self.T)

    def t_of_log_snr(self, lam: Tensor) -> Tensor:
        """Closed form: :math:`\\sigma_t = e^{-\\lambda}`, so :math:`t = T\\log(1 +
        e^{-2\\lambda}/\\sigma_{\\min}^2) / (2\\log(\\sigma_{\\max}/\\sigma_{\\min}))`."""
        lam = torch.as_tensor(lam, dtype=torch.float64)
        return self.T * torch.log1p(torch.exp(-2 * lam) / self.sigma_min**2) / \
            (2 * self._log_ratio)
