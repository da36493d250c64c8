r"""The course's Ornstein–Uhlenbeck form :math:`dX = -X\,dt + g(t)\,dB` with any :math:`g`.

.. math:: X_t \mid x_0 \sim \mathcal N\Big(e^{-t}x_0,\;
    v_t I\Big), \qquad v_t = \int_0^t e^{-2(t-s)} g(s)^2\, ds,

the solution of :math:`v' = -2v + g^2`, :math:`v_0 = 0` (mind the factor 2). Closed forms for
constant, linear and cosine-SNR :math:`g`; Gauss–Legendre quadrature for any other.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable

import torch
from torch import Tensor

from ..errors import InputError
from .sde import _GL_NODES, _GL_WEIGHTS, ForwardSDE, _ft


class GSchedule(ABC):
    """A diffusion coefficient :math:`g(t)` for the OU form; ``variance`` is optional."""

    @abstractmethod
    def g2(self, t: Tensor) -> Tensor:
        """:math:`g(t)^2`."""

    def variance(self, t: Tensor) -> Tensor | None:
        """The closed form of :math:`\\int_0^t e^{-2(t-s)} g(s)^2 ds`, or ``None``."""
        return None


class ConstantG(GSchedule):
    r""":math:`g \equiv c`: :math:`v_t = c^2 (1 - e^{-2t})/2` (:math:`c = \sqrt2` is VP)."""

    def __init__(self, c: float = math.sqrt(2.0)) -> None:
        if c <= 0:
            raise InputError(f"OU g: the constant {c} must be positive")
        self.c = float(c)

    def g2(self, t: Tensor) -> Tensor:
        return torch.full_like(_ft(t), self.c**2)

    def variance(self, t: Tensor) -> Tensor:
        return -0.5 * self.c**2 * torch.expm1(-2 * t)


class LinearG(GSchedule):
    r""":math:`g(t) = a + b t`, with the closed form

    .. math:: v_t = \tfrac12 g_t^2 - \tfrac b2 g_t + \tfrac{b^2}4
        - e^{-2t}\big(\tfrac{a^2}2 - \tfrac{ab}2 + \tfrac{b^2}4\big).
    """

    def __init__(self, a: float = 1.0, b: float = 1.0) -> None:
        if a <= 0 or a + b * 1e-12 < 0:
            raise InputError(f"OU g: linear g(t) = {a} + {b} t must be positive")
        self.a, self.b = float(a), float(b)

    def g2(self, t: Tensor) -> Tensor:
        return (self.a + self.b * t) ** 2

    def variance(self, t: Tensor) -> Tensor:
        a, b = self.a, self.b
        gt = a + b * t
        return (0.5 * gt**2 - 0.5 * b * gt + 0.25 * b**2
                - torch.exp(-2 * t) * (0.5 * a**2 - 0.5 * a * b + 0.25 * b**2))


class CosineSNRG(GSchedule):
    r"""The :math:`g` whose OU marginal has a cosine signal-to-noise curve.

    With :math:`u_t = u_{\max} t/T`, :math:`\mathrm{SNR}_t = \cot^2(\pi u_t/2)` (Nichol &
    Dhariwal 2021) and the OU mean :math:`e^{-t}x_0`, the variance is
    :math:`v_t = e^{-2t}\tan^2(\pi u_t/2)`, and :math:`v' = -2v + g^2` gives

    .. math:: g(t)^2 = e^{-2t}\,\frac{d}{dt}\tan^2\frac{\pi u_t}{2}
        = e^{-2t}\, \pi \frac{u_{\max}}{T} \tan\frac{\pi u_t}{2}\sec^2\frac{\pi u_t}{2}.

    :math:`u_{\max} = \frac2\pi\arctan(\mathrm{SNR}_{\min}^{-1/2})` makes
    :math:`\mathrm{SNR}_T = \mathrm{SNR}_{\min}`.
    """

    def __init__(self, T: float = 1.0, snr_min: float = 1e-4) -> None:
        if not 0 < snr_min < 1:
            raise InputError(f"OU cosine g: snr_min {snr_min} must be in (0, 1)")
        self.T, self.snr_min = float(T), float(snr_min)
        self.u_max = 2 / math.pi * math.atan(snr_min**-0.5)

    def _angle(self, t: Tensor) -> Tensor:
        return 0.5 * math.pi * self.u_max * t / self.T

    def g2(self, t: Tensor) -> Tensor:
        a = self._angle(t)
        rate = math.pi * self.u_max / self.T
        return torch.exp(-2 * t) * rate * torch.tan(a) / torch.cos(a) ** 2

    def variance(self, t: Tensor) -> Tensor:
        return torch.exp(-2 * t) * torch.tan(self._angle(t)) ** 2


class CallableG(GSchedule):
    """Any :math:`g(t)` given as a function of a tensor; the variance is integrated numerically."""

    def __init__(self, fn: Callable[[Tensor], Tensor]) -> None:
        self.fn = fn

    def g2(self, t: Tensor) -> Tensor:
        return self.fn(t) ** 2


def ou_variance_quadrature(g2: Callable[[Tensor], Tensor], t: Tensor) -> Tensor:
    """:math:`\\int_0^t e^{-2(t-s)} g(s)^2 ds` by 64-point Gauss–Legendre (per ``t``)."""
    t = _ft(t)
    t64 = t.to(torch.float64)
    s = 0.5 * t64.unsqueeze(-1) * (_GL_NODES + 1)  # (..., 64)
    vals = torch.exp(-2 * (t64.unsqueeze(-1) - s)) * g2(s)
    return (0.5 * t64 * (vals * _GL_WEIGHTS).sum(-1)).to(t.dtype)


class OU(ForwardSDE):
    r"""The course's Ornstein–Uhlenbeck form :math:`dX = -X\,dt + g(t)\,dB`.

    .. math:: X_t \mid x_0 \sim \mathcal N\Big(e^{-t}x_0,\;
        \int_0^t e^{-2(t-s)} g(s)^2\, ds\; I\Big)

    (the factor 2 in the exponent: the variance solves :math:`v' = -2v + g^2`).

    Args:
        g: a :class:`GSchedule` (``ConstantG``, ``LinearG``, ``CosineSNRG``) or a callable.
        T: the end time.
        t_eps: the smallest time.
    """

    def __init__(self, g: GSchedule | Callable[[Tensor], Tensor] | None = None, T: float = 5.0,
                 t_eps: float = 1e-4) -> None:
        if T <= 0 or not 0 < t_eps < T:
            raise InputError(f"OU: need 0 < t_eps < T, got t_eps={t_eps}, T={T}")
        self.gs = ConstantG() if g is None else g if isinstance(g, GSchedule) else CallableG(g)
        self.T, self.t_eps = float(T), float(t_eps)

    def f(self, t: Tensor) -> Tensor:
        return -torch.ones_like(_ft(t))

    def g2(self, t: Tensor) -> Tensor:
        return self.gs.g2(t)

    def log_alpha(self, t: Tensor) -> Tensor:
        return -_ft(t)

    def var(self, t: Tensor) -> Tensor:
        t = _ft(t)
        v = self.gs.variance(t)
        return ou_variance_quadrature(self.gs.g2, t) if v is None else v
