r"""Interpolants between data (:math:`t = 0`) and a source (:math:`t = 1`), as values.

An interpolant is

.. math:: x_t = \alpha_t\,x_\mathrm{data} + \sigma_t\,x_\mathrm{src} + \gamma_t\,z,
    \qquad z \sim \mathcal N(0, I),

with :math:`\alpha_0 = 1, \sigma_0 = 0` (up to :math:`\sigma_\mathrm{min}`) and
:math:`\alpha_1 = 0, \sigma_1 = 1` (up to the VP path's :math:`\alpha_1 \approx 0`). Its
conditional velocity, the regression target of flow matching, is the time derivative

.. math:: u_t = \dot\alpha_t\,x_\mathrm{data} + \dot\sigma_t\,x_\mathrm{src}
    + \dot\gamma_t\,z.

With :math:`\gamma = 0` the path is affine and :func:`genmodels.paths.convert` maps any of
the predictions (velocity, noise = the source point, data) to the others; the source plays the
part of the noise :math:`\varepsilon`. The Brownian bridge has :math:`\gamma_t =
s\sqrt{t(1 - t)}`, a stochastic interpolant, and is trained with the velocity target only.

Paths (``INTERPOLANTS``):

* ``linear``: :math:`\alpha = 1 - t`,
  :math:`\sigma = \sigma_\mathrm{min} + (1 - \sigma_\mathrm{min})t` (rectified flow,
  the conditional-OT path; Liu et al. 2023, Lipman et al. 2023 with time reversed).
* ``cosine``: :math:`\alpha = \cos\frac{\pi t}2`, :math:`\sigma = \sin\frac{\pi t}2` (the
  trigonometric interpolant of Albergo & Vanden-Eijnden 2023; variance preserving).
* ``vp``: the VP-SDE marginal, :math:`\alpha = e^{-B(t)/2}`, :math:`\sigma = \sqrt{1 -
  \alpha^2}`, :math:`B(t) = \beta_\min t + \tfrac12(\beta_\max - \beta_\min)t^2` (Lipman et
  al. 2023, §4.1: the diffusion path; :math:`\dot\sigma` is singular at :math:`t = 0`, so
  times start at ``t_min``).
* ``bridge``: ``linear`` plus :math:`\gamma_t = s\sqrt{t(1 - t)}` (a Brownian bridge between
  the pair; Tong et al. 2024 SB-CFM, Albergo & Vanden-Eijnden 2023); :math:`\dot\gamma` is
  singular at both ends, so times lie in ``[t_min, 1 - t_min]``.
* ``tube``: :math:`\alpha = 1 - t`, :math:`\sigma = t` plus a constant :math:`\gamma_t = s`
  (a Gaussian tube of width :math:`s` around the line: Tong et al. 2024's I-CFM and OT-CFM
  with constant :math:`\sigma`, torchcfm's ``sigma``).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch
from torch import Tensor

from ..errors import InputError
from .sde import expand


class Interpolant(ABC):
    """An interpolant :math:`x_t = \\alpha_t x_\\mathrm{data} + \\sigma_t x_\\mathrm{src} +
    \\gamma_t z`; coefficients take ``t`` of any shape and return the same shape.

    Attributes:
        name: the registered name.
        t_min: the smallest time trained on and integrated to (a singular coefficient
            derivative at an end keeps times off it).
        t_max: the largest one.
    """

    name: str = ""
    t_min: float = 0.0
    t_max: float = 1.0

    @abstractmethod
    def alpha(self, t: Tensor) -> Tensor:
        """:math:`\\alpha_t`, the data coefficient."""

    @abstractmethod
    def sigma(self, t: Tensor) -> Tensor:
        """:math:`\\sigma_t`, the source coefficient."""

    @abstractmethod
    def d_alpha(self, t: Tensor) -> Tensor:
        """:math:`\\dot\\alpha_t`."""

    @abstractmethod
    def d_sigma(self, t: Tensor) -> Tensor:
        """:math:`\\dot\\sigma_t`."""

    def gamma(self, t: Tensor) -> Tensor:
        """:math:`\\gamma_t`, the scale of the extra noise (0 for affine paths)."""
        return torch.zeros_like(t)

    def d_gamma(self, t: Tensor) -> Tensor:
        """:math:`\\dot\\gamma_t`."""
        return torch.zeros_like(t)

    @property
    def stochastic(self) -> bool:
        """Whether :math:`\\gamma \\ne 0` (the point is then not a function of the pair)."""
        return False

    def sample(self, x_data: Tensor, x_src: Tensor, t: Tensor,
               z: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """:math:`x_t` and the conditional velocity :math:`u_t`, both ``(B, *D)``.

        Args:
            x_data: the data end ``(B, *D)``.
            x_src: the source end, paired with it ``(B, *D)``.
            t: times ``(B,)``.
            z: the bridge noise (required when :attr:`stochastic`).
        """
        xt, ut = self._affine(x_data, x_src, t)
        if self.stochastic:
            if z is None:
                raise InputError(f"interpolant {self.name!r}: needs the bridge noise z")
            xt = xt + expand(self.gamma(t), x_data) * z
            ut = ut + expand(self.d_gamma(t), x_data) * z
        return xt, ut

    def _affine(self, x_data: Tensor, x_src: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        """:math:`(\\alpha_t x_\\mathrm{data} + \\sigma_t x_\\mathrm{src},\\;
        \\dot\\alpha_t x_\\mathrm{data} + \\dot\\sigma_t x_\\mathrm{src})`, the path without
        its extra noise."""
        a, s = expand(self.alpha(t), x_data), expand(self.sigma(t), x_data)
        da, ds = expand(self.d_alpha(t), x_data), expand(self.d_sigma(t), x_data)
        return a * x_data + s * x_src, da * x_data + ds * x_src

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Linear(Interpolant):
    """:math:`\\alpha_t = 1 - t`, :math:`\\sigma_t = \\sigma_\\mathrm{min} + (1 -
    \\sigma_\\mathrm{min})t`: straight lines at constant speed (rectified flow / conditional OT).

    Args:
        sigma_min: the width left at the data end (Lipman et al. 2023; 0 by default, when
            the data end is exactly the data).
    """

    name = "linear"

    def __init__(self, sigma_min: float = 0.0) -> None:
        if not 0.0 <= sigma_min < 1.0:
            raise InputError(f"sigma_min {sigma_min} must be in [0, 1)")
        self.sigma_min = float(sigma_min)

    def alpha(self, t: Tensor) -> Tensor:
        return 1 - t

    def sigma(self, t: Tensor) -> Tensor:
        return self.sigma_min + (1 - self.sigma_min) * t

    def d_alpha(self, t: Tensor) -> Tensor:
        return -torch.ones_like(t)

    def d_sigma(self, t: Tensor) -> Tensor:
        return torch.full_like(t, 1 - self.sigma_min)

    def _affine(self, x_data: Tensor, x_src: Tensor, t: Tensor) -> tuple[Tensor, Tensor]:
        # u_t = (1 - σmin) x_src - x_data does not depend on t, and
        # x_t = x_data + σmin x_src + t u_t: 3 tensor operations instead of 12
        smin = self.sigma_min
        ut = x_src - x_data if smin == 0 else torch.sub(x_src * (1 - smin), x_data)
        start = x_data if smin == 0 else torch.add(x_data, x_src, alpha=smin)
        return torch.addcmul(start, expand(t, x_data), ut), ut

    def __repr__(self) -> str:
        return f"Linear(sigma_min={self.sigma_min})"


class Cosine(Interpolant):
    """:math:`\\alpha_t = \\cos(\\pi t/2)`, :math:`\\sigma_t = \\sin(\\pi t/2)`
    (:math:`\\alpha^2 + \\sigma^2 = 1`)."""

    name = "cosine"

    def alpha(self, t: Tensor) -> Tensor:
        return torch.cos(0.5 * math.pi * t)

    def sigma(self, t: Tensor) -> Tensor:
        return torch.sin(0.5 * math.pi * t)

    def d_alpha(self, t: Tensor) -> Tensor:
        return -0.5 * math.pi * torch.sin(0.5 * math.pi * t)

    def d_sigma(self, t: Tensor) -> Tensor:
        return 0.5 * math.pi * torch.cos(0.5 * math.pi * t)


class VPPath(Interpolant):
    """The VP-SDE marginal as an interpolant (the linear :math:`\\beta` schedule).

    Args:
        beta_min: :math:`\\beta_\\min`.
        beta_max: :math:`\\beta_\\max`.
        t_min: the smallest time (:math:`\\dot\\sigma \\sim 1/\\sqrt t` at 0).
    """

    name = "vp"

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0,
                 t_min: float = 1e-3) -> None:
        if not 0 < beta_min <= beta_max:
            raise InputError(f"vp path: need 0 < beta_min <= beta_max, got {beta_min}, {beta_max}")
        if not 0 < t_min < 0.5:
            raise InputError(f"vp path: t_min {t_min} must be in (0, 0.5)")
        self.beta_min, self.beta_max, self.t_min = float(beta_min), float(beta_max), float(t_min)

    def _beta(self, t: Tensor) -> Tensor:
        return self.beta_min + (self.beta_max - self.beta_min) * t

    def alpha(self, t: Tensor) -> Tensor:
        return torch.exp(-0.5 * (self.beta_min * t + 0.5 * (self.beta_max - self.beta_min)
                                 * t**2))

    def sigma(self, t: Tensor) -> Tensor:
        return (-torch.expm1(-(self.beta_min * t + 0.5 * (self.beta_max - self.beta_min)
                               * t**2))).sqrt()

    def d_alpha(self, t: Tensor) -> Tensor:
        return -0.5 * self._beta(t) * self.alpha(t)

    def d_sigma(self, t: Tensor) -> Tensor:
        return -self.alpha(t) * self.d_alpha(t) / self.sigma(t)

    def __repr__(self) -> str:
        return f"VPPath(beta_min={self.beta_min}, beta_max={self.beta_max})"


class BrownianBridge(Linear):
    """``linear`` plus :math:`\\gamma_t = s\\sqrt{t(1-t)}`,
    :math:`\\dot\\gamma_t = s\\frac{1 - 2t}{2\\sqrt{t(1-t)}}`.

    Args:
        scale: :math:`s`.
        t_min: times lie in ``[t_min, 1 - t_min]`` (:math:`\\dot\\gamma` is singular at both
            ends).
    """

    name = "bridge"

    def __init__(self, scale: float = 0.1, t_min: float = 1e-3) -> None:
        super().__init__(0.0)
        if scale <= 0:
            raise InputError(f"bridge: scale {scale} must be positive")
        if not 0 < t_min < 0.5:
            raise InputError(f"bridge: t_min {t_min} must be in (0, 0.5)")
        self.scale, self.t_min, self.t_max = float(scale), float(t_min), 1.0 - float(t_min)

    @property
    def stochastic(self) -> bool:
        return True

    def gamma(self, t: Tensor) -> Tensor:
        return self.scale * (t * (1 - t)).clamp_min(0).sqrt()

    def d_gamma(self, t: Tensor) -> Tensor:
        return self.scale * (1 - 2 * t) / (2 * (t * (1 - t)).sqrt())

    def __repr__(self) -> str:
        return f"BrownianBridge(scale={self.scale})"


class Tube(Linear):
    """``linear`` (with :math:`\\sigma_\\mathrm{min} = 0`) plus a constant
    :math:`\\gamma_t = s`: a Gaussian tube of width :math:`s` around the straight line,
    :math:`x_t \\sim \\mathcal N\\big((1-t)x_\\mathrm{data} + t x_\\mathrm{src},\\, s^2 I\\big)`,
    :math:`u_t = x_\\mathrm{src} - x_\\mathrm{data}`. This is the conditional path of
    Tong et al. (2024, "Improving and generalizing flow-based generative models with minibatch
    optimal transport", §3.2-3.3: I-CFM and OT-CFM with constant :math:`\\sigma`) and
    torchcfm's ``sigma``; ``linear`` with ``sigma_min`` is Lipman et al.'s instead, whose width
    shrinks from 1 at the source to :math:`\\sigma_\\mathrm{min}` at the data.

    Args:
        scale: :math:`s` (> 0).
    """

    name = "tube"

    def __init__(self, scale: float = 0.1) -> None:
        super().__init__(0.0)
        if scale <= 0:
            raise InputError(f"tube: scale {scale} must be positive")
        self.scale = float(scale)

    @property
    def stochastic(self) -> bool:
        return True

    def gamma(self, t: Tensor) -> Tensor:
        return torch.full_like(t, self.scale)

    def __repr__(self) -> str:
        return f"Tube(scale={self.scale})"


#: The interpolants by name.
INTERPOLANTS = ("linear", "cosine", "vp", "bridge", "tube")


def make_interpolant(name: str, *, sigma_min: float = 0.0, bridge_scale: float = 0.1,
                     t_min: float = 1e-3) -> Interpolant:
    """The interpolant ``name`` (one of :data:`INTERPOLANTS`).

    Args:
        name: the path.
        sigma_min: ``linear``'s width at the data end.
        bridge_scale: ``bridge``'s and ``tube``'s :math:`s`.
        t_min: the end cut-off of ``vp`` and ``bridge``.
    """
    if name == "linear":
        return Linear(sigma_min)
    if name == "cosine":
        return Cosine()
    if name == "vp":
        return VPPath(t_min=t_min)
    if name == "bridge":
        return BrownianBridge(bridge_scale, t_min)
    if name == "tube":
        return Tube(bridge_scale)
    raise InputError(f"path {name!r}: unknown (known: {', '.join(INTERPOLANTS)})")
