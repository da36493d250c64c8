r"""Adversarial losses as values: one :class:`AdversarialLoss` per game, on critic outputs.

Every loss is written on the critic's raw outputs :math:`v = V_\omega(x)` (logits for the
classifier games), for real points :math:`v_r` and generated ones :math:`v_f`, as what each
player **minimises**:

==============  ==========================================  ==============================
name            critic                                      generator
==============  ==========================================  ==============================
``gan``         softplus(−v_r) + softplus(v_f)              −softplus(v_f) (= log(1−D))
``ns-gan``      softplus(−v_r) + softplus(v_f)              softplus(−v_f) (= −log D)
``fgan``        −(g_f(v_r) − f*(g_f(v_f)))                  −f*(g_f(v_f)) or −g_f(v_f)
``wgan``        v_f − v_r                                   −v_f
``hinge``       relu(1 − v_r) + relu(1 + v_f)               −v_f
``lsgan``       ½(v_r − b)² + ½(v_f − a)²                   ½(v_f − c)²
==============  ==========================================  ==============================

(each term averaged over its batch). With :math:`D = \sigma(v)` the ``gan`` critic loss is
:math:`-V(G, D)` of Goodfellow et al. (2014), and the ``fgan`` game with the ``gan``
divergence is the same game (:math:`g_f = \log\sigma`, :math:`f^*(g_f(v)) = \mathrm{softplus}(v)`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ...divergences.fdiv import FDivergence, get_f_divergence

Pair = Callable[[Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class AdversarialLoss:
    """One adversarial game.

    Attributes:
        name: the game's name.
        critic: ``critic(v_real, v_fake) -> scalar`` minimised by the critic.
        generator: ``generator(v_fake) -> scalar`` minimised by the generator.
        threshold: the critic output above which a point is called real (``None``: the
            midpoint of the mean outputs on the two samples, for Wasserstein potentials).
    """

    name: str
    critic: Pair
    generator: Callable[[Tensor], Tensor]
    threshold: float | None = 0.0


def _bce_critic(vr: Tensor, vf: Tensor) -> Tensor:
    return F.softplus(-vr).mean() + F.softplus(vf).mean()


MINIMAX = AdversarialLoss("gan", _bce_critic, lambda vf: -F.softplus(vf).mean())
NON_SATURATING = AdversarialLoss("ns-gan", _bce_critic, lambda vf: F.softplus(-vf).mean())
WASSERSTEIN = AdversarialLoss("wgan", lambda vr, vf: vf.mean() - vr.mean(),
                              lambda vf: -vf.mean(), threshold=None)
HINGE = AdversarialLoss("hinge", lambda vr, vf: F.relu(1 - vr).mean() + F.relu(1 + vf).mean(),
                        lambda vf: -vf.mean())


def least_squares(a: float = 0.0, b: float = 1.0, c: float = 1.0) -> AdversarialLoss:
    """LSGAN (Mao et al. 2017): targets ``a`` (fake) and ``b`` (real) for the critic, ``c``
    for the generator; with ``b - c = 1``, ``b - a = 2`` it minimises Pearson χ²."""
    return AdversarialLoss(
        "lsgan",
        lambda vr, vf: 0.5 * (vr - b).square().mean() + 0.5 * (vf - a).square().mean(),
        lambda vf: 0.5 * (vf - c).square().mean(),
        threshold=0.5 * (a + b),
    )


def f_gan(divergence: str | FDivergence, alternative: bool = False,
          bound: float = 0.0) -> AdversarialLoss:
    r"""The f-GAN game of Nowozin et al. (2016): the critic maximises
    :math:`F = \mathbb E_P[g_f(v)] - \mathbb E_Q[f^*(g_f(v))]`, a lower bound of
    :math:`D_f(P_\mathrm{data}\,\|\,Q_\theta)`; the generator minimises :math:`F` (its
    second term), or with ``alternative`` maximises :math:`\mathbb E_Q[g_f(v)]`.

    With ``bound = b > 0`` the critic's output is first squashed to
    :math:`b \tanh(v / b) \in (-b, b)`: a smaller class of critics, so :math:`F` stays a
    lower bound, but one that stays finite where :math:`D_f` is infinite (Pearson χ² when
    the model misses data, Neyman χ² when it puts mass off the data, where the unbounded
    critic runs off to :math:`\pm\infty`).

    The threshold is :math:`v` with :math:`g_f(v) = f'(1)`: 0 for every activation here
    except ``kl`` (1) and ``reverse-kl``/``gan`` (where it is 0 too: −e⁰ = −1, log σ(0) = −log 2).
    """
    d = get_f_divergence(divergence)
    if bound < 0:
        raise ValueError(f"bound must be >= 0, got {bound}")

    def squash(v: Tensor) -> Tensor:
        return bound * torch.tanh(v / bound) if bound else v

    if alternative:
        def gen(vf: Tensor) -> Tensor:
            return -d.activation(squash(vf)).mean()
    else:
        def gen(vf: Tensor) -> Tensor:
            return -d.conjugate_of_activation(squash(vf)).mean()

    def critic(vr: Tensor, vf: Tensor) -> Tensor:
        return d.conjugate_of_activation(squash(vf)).mean() - d.activation(squash(vr)).mean()

    return AdversarialLoss(f"fgan-{d.name}", critic, gen,
                           threshold=1.0 if d.name == "kl" else 0.0)
