r"""f-divergences as values: the generator f, its convex conjugate f*, the f-GAN activation.

.. math::
    D_f(P \,\|\, Q) = \int q(x)\, f\!\Big(\frac{p(x)}{q(x)}\Big)\, dx, \qquad
    f^*(t) = \sup_{u \in \mathrm{dom} f} \{u t - f(u)\}

and the variational lower bound (tight at :math:`T^*(x) = f'(p(x)/q(x))`)

.. math:: D_f(P \,\|\, Q) \ge \sup_T\; \mathbb E_P[T(x)] - \mathbb E_Q[f^*(T(x))].

The f-GAN critic outputs :math:`v \in \mathbb R`; the activation :math:`g_f` maps it into
:math:`\mathrm{dom} f^*`, and :meth:`FDivergence.conjugate_of_activation` is
:math:`f^*(g_f(v))` written in a form that cannot overflow (softplus / logsigmoid). Where
the activation or :math:`f^*\circ g_f` is exponential in :math:`v` (``kl``, ``reverse-kl``,
``neyman``, ``hellinger``) the exponential continues linearly beyond an exponent of
:math:`c = 30` (:math:`e^{c}(1 + x - c)`, the tangent there: value and slope continuous,
still convex and increasing), so that a critic output of :math:`\pm 10^4` gives a finite loss
and a finite gradient instead of ``inf``/``nan``; below :math:`e^{30} \approx 10^{13}` nothing
changes.
Pearson's conjugate is taken over :math:`u \ge 0` (the domain of the density ratio):
:math:`t^2/4 + t` for :math:`t \ge -2` and :math:`-1` below, i.e.
:math:`\mathrm{relu}(t + 2)^2/4 - 1`. The closed form :math:`t^2/4 + t` over all of
:math:`\mathbb R` is a looser bound that *rises* again as :math:`t \to -\infty`, so an f-GAN
generator playing it is rewarded for moving where the critic calls its points most fake.
The Jensen–Shannon row follows the f-GAN convention: it is **2·JSD**; the ``gan`` row is
:math:`2\,\mathrm{JSD} - \log 4` and, alone here, has :math:`f(1) = -\log 4` instead of 0.

Reference: Nowozin, Cseke, Tomioka, "f-GAN: Training Generative Neural Samplers using
Variational Divergence Minimization", NeurIPS 2016, Tables 1–2, https://arxiv.org/abs/1606.00709
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import InputError

__all__ = [
    "F_DIVERGENCES",
    "FDivergence",
    "f_divergence",
    "f_divergence_mc",
    "get_f_divergence",
    "jensen_shannon",
    "variational_bound",
]

_LOG2 = math.log(2.0)
Fn = Callable[[Tensor], Tensor]


def _xlogx(u: Tensor) -> Tensor:
    return torch.xlogy(u, u)


#: The exponent beyond which :func:`_exp_lin` continues linearly.
EXP_LINEAR_FROM = 30.0


def _exp_lin(x: Tensor) -> Tensor:
    r""":math:`e^x` for :math:`x \le c`, its tangent :math:`e^c(1 + x - c)` above (finite)."""
    c = EXP_LINEAR_FROM
    return torch.exp(x.clamp(max=c)) * (1 + F.relu(x - c))


def _expm1_lin(x: Tensor) -> Tensor:
    r""":math:`e^x - 1` for :math:`x \le c`, continued linearly above (see :func:`_exp_lin`)."""
    c = EXP_LINEAR_FROM
    return torch.expm1(x.clamp(max=c)) + math.exp(c) * F.relu(x - c)


def _outside(t: Tensor, ok: Tensor, value: Tensor) -> Tensor:
    """``value`` where ``ok``, ``+inf`` elsewhere (the conjugate outside its domain)."""
    return torch.where(ok, value, torch.full_like(t, math.inf))


@dataclass(frozen=True)
class FDivergence:
    """One f-divergence of the f-GAN table.

    Attributes:
        name: ``"kl"``, ``"reverse-kl"``, ``"pearson"``, ``"neyman"``, ``"hellinger"``,
            ``"js"``, ``"gan"`` or ``"tv"``.
        f: the convex generator :math:`f(u)`, ``u ≥ 0``.
        f_prime: its derivative :math:`f'(u)` (the optimal critic is ``f'(p/q)``).
        conjugate: :math:`f^*(t)`, ``+inf`` outside its domain.
        activation: :math:`g_f(v)`, mapping a real critic output into ``dom f*``.
        conjugate_of_activation: :math:`f^*(g_f(v))` in a numerically stable form.
        integrand: :math:`q f(p/q)` from ``(log p, log q)``, stable where either is tiny.
        f_prime_one: :math:`f'(1)`, the critic value at which real and fake are equally
            likely (a decision threshold on :math:`g_f(v)`).
        domain: ``(lo, hi)`` of ``dom f*`` (open bounds).
    """

    name: str
    f: Fn
    f_prime: Fn
    conjugate: Fn
    activation: Fn
    conjugate_of_activation: Fn
    integrand: Callable[[Tensor, Tensor], Tensor]
    f_prime_one: float
    domain: tuple[float, float] = (-math.inf, math.inf)


def _pq(lp: Tensor, lq: Tensor) -> tuple[Tensor, Tensor]:
    return lp.exp(), lq.exp()


def _js_integrand(lp: Tensor, lq: Tensor) -> Tensor:
    p, q = _pq(lp, lq)
    lm = torch.logaddexp(lp, lq) - _LOG2  # log of the midpoint density
    return torch.xlogy(p, p) - p * lm + torch.xlogy(q, q) - q * lm


def _gan_integrand(lp: Tensor, lq: Tensor) -> Tensor:
    p, q = _pq(lp, lq)
    ls = torch.logaddexp(lp, lq)
    return torch.xlogy(p, p) - p * ls + torch.xlogy(q, q) - q * ls


F_DIVERGENCES: dict[str, FDivergence] = {d.name: d for d in (
    FDivergence(
        "kl", f=_xlogx, f_prime=lambda u: torch.log(u) + 1,
        conjugate=lambda t: torch.exp(t - 1), activation=lambda v: v,
        conjugate_of_activation=lambda v: _exp_lin(v - 1),
        integrand=lambda lp, lq: lp.exp() * (lp - lq), f_prime_one=1.0,
    ),
    FDivergence(
        "reverse-kl", f=lambda u: -torch.log(u), f_prime=lambda u: -1 / u,
        conjugate=lambda t: _outside(t, t < 0, -1 - torch.log(-t.clamp(max=-1e-30))),
        activation=lambda v: -_exp_lin(-v),
        conjugate_of_activation=lambda v: v - 1,
        integrand=lambda lp, lq: lq.exp() * (lq - lp), f_prime_one=-1.0,
        domain=(-math.inf, 0.0),
    ),
    FDivergence(
        "pearson", f=lambda u: (u - 1) ** 2, f_prime=lambda u: 2 * (u - 1),
        conjugate=lambda t: F.relu(t + 2).square() / 4 - 1, activation=lambda v: v,
        conjugate_of_activation=lambda v: F.relu(v + 2).square() / 4 - 1,
        integrand=lambda lp, lq: (lp.exp() - lq.exp()) ** 2 / lq.exp(), f_prime_one=0.0,
    ),
    FDivergence(
        "neyman", f=lambda u: (1 - u) ** 2 / u, f_prime=lambda u: 1 - 1 / (u * u),
        conjugate=lambda t: _outside(t, t < 1, 2 - 2 * torch.sqrt((1 - t).clamp(min=0))),
        activation=lambda v: -_expm1_lin(-v),
        conjugate_of_activation=lambda v: 2 - 2 * _exp_lin(-v / 2),
        integrand=lambda lp, lq: (lp.exp() - lq.exp()) ** 2 / lp.exp(), f_prime_one=0.0,
        domain=(-math.inf, 1.0),
    ),
    FDivergence(
        "hellinger", f=lambda u: (torch.sqrt(u) - 1) ** 2, f_prime=lambda u: 1 - u.rsqrt(),
        conjugate=lambda t: _outside(t, t < 1, t / (1 - t).clamp(min=1e-30)),
        activation=lambda v: -_expm1_lin(-v),
        conjugate_of_activation=lambda v: _expm1_lin(v),
        integrand=lambda lp, lq: (torch.exp(lp / 2) - torch.exp(lq / 2)) ** 2,
        f_prime_one=0.0, domain=(-math.inf, 1.0),
    ),
    FDivergence(
        "js", f=lambda u: _xlogx(u) - torch.xlogy(u + 1, (u + 1) / 2),
        f_prime=lambda u: torch.log(2 * u / (1 + u)),
        conjugate=lambda t: _outside(
            t, t < _LOG2, -torch.log((2 - torch.exp(t.clamp(max=_LOG2))).clamp(min=1e-300))),
        activation=lambda v: _LOG2 - F.softplus(-v),
        conjugate_of_activation=lambda v: F.softplus(v) - _LOG2,
        integrand=_js_integrand, f_prime_one=0.0, domain=(-math.inf, _LOG2),
    ),
    FDivergence(
        "gan", f=lambda u: _xlogx(u) - torch.xlogy(u + 1, u + 1),
        f_prime=lambda u: torch.log(u / (u + 1)),
        conjugate=lambda t: _outside(
            t, t < 0, -torch.log(-torch.expm1(t.clamp(max=-1e-30)))),
        activation=lambda v: F.logsigmoid(v),
        conjugate_of_activation=lambda v: F.softplus(v),
        integrand=_gan_integrand, f_prime_one=-_LOG2, domain=(-math.inf, 0.0),
    ),
    FDivergence(
        "tv", f=lambda u: 0.5 * (u - 1).abs(), f_prime=lambda u: 0.5 * torch.sign(u - 1),
        conjugate=lambda t: _outside(t, t.abs() <= 0.5, t),
        activation=lambda v: 0.5 * torch.tanh(v),
        conjugate_of_activation=lambda v: 0.5 * torch.tanh(v),
        integrand=lambda lp, lq: 0.5 * (lp.exp() - lq.exp()).abs(), f_prime_one=0.0,
        domain=(-0.5, 0.5),
    ),
)}


def get_f_divergence(name: str | FDivergence) -> FDivergence:
    """The divergence registered as ``name`` (or ``name`` itself when it is one already)."""
    if isinstance(name, FDivergence):
        return name
    if name not in F_DIVERGENCES:
        known = ", ".join(F_DIVERGENCES)
        raise InputError(f"divergence: {name!r} is not one of {known}")
    return F_DIVERGENCES[name]


def variational_bound(
    divergence: str | FDivergence, t_p: Tensor, t_q: Tensor, *, activated: bool = True
) -> Tensor:
    r"""The variational lower bound :math:`\mathbb E_P[T] - \mathbb E_Q[f^*(T)]` of D_f(P‖Q).

    Args:
        divergence: the f-divergence (a name or a value).
        t_p: critic values on samples of P, any shape.
        t_q: critic values on samples of Q, any shape.
        activated: when ``True`` the inputs are raw critic outputs ``v`` and
            :math:`T = g_f(v)` (the f-GAN form, stable); when ``False`` they are ``T``
            itself, which must lie in ``dom f*``.

    Returns:
        A scalar tensor (differentiable).
    """
    d = get_f_divergence(divergence)
    if activated:
        return d.activation(t_p).mean() - d.conjugate_of_activation(t_q).mean()
    return t_p.mean() - d.conjugate(t_q).mean()


def f_divergence(
    divergence: str | FDivergence, log_p: Tensor, log_q: Tensor, weights: Tensor | float
) -> Tensor:
    r"""D_f(P‖Q) by quadrature: :math:`\sum_i w_i\, q(x_i) f(p(x_i)/q(x_i))`.

    Args:
        divergence: the f-divergence.
        log_p: :math:`\log p` at the quadrature nodes, shape ``(n,)``.
        log_q: :math:`\log q` at the same nodes.
        weights: the quadrature weights (the cell volume of a uniform grid).
    """
    d = get_f_divergence(divergence)
    return (d.integrand(log_p, log_q) * weights).sum()


def f_divergence_mc(divergence: str | FDivergence, log_p: Tensor, log_q: Tensor) -> Tensor:
    r"""D_f(P‖Q) by Monte Carlo from samples of Q: :math:`\frac1n \sum_i f(p(x_i)/q(x_i))`,
    :math:`x_i \sim Q`; ``log_p``, ``log_q`` are the log-densities at those samples."""
    d = get_f_divergence(divergence)
    return d.f(torch.exp(log_p - log_q)).mean()


def jensen_shannon(log_p: Tensor, log_q: Tensor, weights: Tensor | float) -> Tensor:
    r"""JSD(P‖Q) = ½ KL(P‖M) + ½ KL(Q‖M), M = ½(P + Q), by quadrature; in [0, log 2].

    This is half the f-GAN ``js`` divergence."""
    return 0.5 * f_divergence("js", log_p, log_q, weights)
