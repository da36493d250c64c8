r"""Decoders' likelihoods :math:`p_\theta(x \mid z)` as values: what the network's output means.

A decoder network maps :math:`z` to ``(N, P, *D)`` parameters (``P`` per coordinate); a
likelihood turns them into :meth:`~Likelihood.log_prob` (nats, summed over coordinates),
a :meth:`~Likelihood.sample` and a :meth:`~Likelihood.mean`.

* :class:`GaussianLikelihood` — :math:`\mathcal N(x; \mu_\theta(z), \sigma^2)` with a fixed
  :math:`\sigma` or a learned per-coordinate :math:`\sigma` (continuous data, tables, 2-D toys).
* :class:`BernoulliLikelihood` — binary data :math:`x \in \{0, 1\}`.
* :class:`CategoricalLikelihood` — ``K`` levels per coordinate, a softmax over levels.
* :class:`LogisticLikelihood` — the discretised logistic of PixelCNN++ (Salimans et al.,
  2017), two parameters per coordinate whatever ``K``.

**Discrete data.** The library hands discrete data to models dequantised, :math:`y = x + u`,
:math:`u \sim \mathcal U[0,1)^D` (:mod:`genmodels.data.preprocess`). A distribution
:math:`P_\theta(x \mid z)` over levels is the density :math:`p(y \mid z) = P_\theta(\lfloor y
\rfloor \mid z)` on :math:`[0, K)^D` (constant on each unit cell), so its log-likelihood of a
dequantised point is exactly :math:`\log P_\theta(x \mid z)` and bits/dim are comparable with a
flow's on the same data. Samples are levels plus fresh uniform noise (draws of that density).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...distributions.base import standard_normal
from ...errors import InputError

_LOG_2PI = math.log(2 * math.pi)


def _sum(t: Tensor) -> Tensor:
    return t.reshape(t.shape[0], -1).sum(1)


def _uniform(like: Tensor, generator: torch.Generator | None) -> Tensor:
    device = like.device if generator is None else generator.device
    return torch.rand(like.shape, generator=generator, device=device, dtype=like.dtype).to(
        like.device)


class Likelihood(nn.Module, ABC):
    """The meaning of a decoder's output ``(N, P, *D)``; may hold learnable parameters.

    Attributes:
        params: ``P``, the decoder outputs per data coordinate.
        discrete: whether the data must be on the level scale ``[0, K)``.
    """

    params: int = 1
    discrete: bool = False

    @abstractmethod
    def log_prob(self, x: Tensor, out: Tensor) -> Tensor:
        """:math:`\\log p(x \\mid z)` of ``x`` ``(N, *D)``, outputs ``(N, P, *D)``: ``(N,)``."""

    @abstractmethod
    def sample(self, out: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        """One draw :math:`x \\sim p(x \\mid z)` per row, ``(N, *D)``."""

    @abstractmethod
    def mean(self, out: Tensor) -> Tensor:
        """:math:`\\mathbb E[x \\mid z]`, ``(N, *D)`` (the reconstruction shown in figures)."""

    def check(self, x: Tensor) -> None:
        """Raises :class:`InputError` when ``x`` is not data this likelihood can score."""


class GaussianLikelihood(Likelihood):
    r""":math:`\log p(x \mid z) = -\tfrac12 \sum_i \big[(x_i - \mu_i)^2/\sigma_i^2 + 2\log\sigma_i
    + \log 2\pi\big]` with :math:`\mu = \mu_\theta(z)`.

    Args:
        shape: the event shape ``D``.
        sigma: the fixed :math:`\sigma`, or the initial one when learned.
        learned: learn one :math:`\log\sigma_i` per coordinate (kept above ``1e-3``).
    """

    params = 1

    def __init__(self, shape: tuple[int, ...], sigma: float = 1.0, learned: bool = True) -> None:
        super().__init__()
        log_sigma = torch.full(shape, math.log(sigma))
        if learned:
            self.log_sigma = nn.Parameter(log_sigma)
        else:
            self.register_buffer("log_sigma", log_sigma)

    def _log_sigma(self) -> Tensor:
        return self.log_sigma.clamp_min(math.log(1e-3))

    def log_prob(self, x: Tensor, out: Tensor) -> Tensor:
        ls = self._log_sigma()
        u = (x - out[:, 0]) * torch.exp(-ls)
        # the constants per point, not per coordinate: fewer full-size passes
        return -0.5 * _sum(u.square()) - (ls.sum() + 0.5 * ls.numel() * _LOG_2PI)

    def sample(self, out: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        mu = out[:, 0]
        return mu + standard_normal(mu.shape, mu, generator) * self._log_sigma().exp()

    def mean(self, out: Tensor) -> Tensor:
        return out[:, 0]


class BernoulliLikelihood(Likelihood):
    r""":math:`\log p(x \mid z) = \sum_i x_i \log\pi_i + (1 - x_i)\log(1 - \pi_i)`,
    :math:`\pi = \sigma(\text{logits}_\theta(z))`.

    On discrete data with 2 levels the dequantised point is floored first.

    Args:
        levels: 2 for dequantised binary data, ``None`` for data given as exact 0/1.
    """

    params = 1

    def __init__(self, levels: int | None = None) -> None:
        super().__init__()
        self.levels = levels
        self.discrete = levels is not None

    def _binary(self, x: Tensor) -> Tensor:
        return x.floor().clamp(0, 1) if self.levels is not None else x

    def check(self, x: Tensor) -> None:
        b = self._binary(x)
        if not bool(((b == 0) | (b == 1)).all()):
            raise InputError("decoder 'bernoulli': the data must be binary (0/1); use "
                             "decoder=gaussian or categorical for other data")

    def log_prob(self, x: Tensor, out: Tensor) -> Tensor:
        return _sum(-F.binary_cross_entropy_with_logits(out[:, 0], self._binary(x),
                                                        reduction="none"))

    def sample(self, out: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        p = torch.sigmoid(out[:, 0])
        b = (_uniform(p, generator) < p).to(p.dtype)
        return b + _uniform(b, generator) if self.levels is not None else b

    def mean(self, out: Tensor) -> Tensor:
        p = torch.sigmoid(out[:, 0])
        return p + 0.5 if self.levels is not None else p


class _Levels(Likelihood):
    """A distribution over ``K`` levels per coordinate, on dequantised level-scale data."""

    discrete = True

    def __init__(self, levels: int) -> None:
        super().__init__()
        if levels < 2:
            raise InputError(f"a discrete decoder needs at least 2 levels, got {levels}")
        self.levels = levels

    def check(self, x: Tensor) -> None:
        lo, hi = float(x.min()), float(x.max())
        if lo < 0 or hi >= self.levels + 1e-4:
            raise InputError(
                f"a discrete decoder needs data on the level scale [0, {self.levels}); got "
                f"values in [{lo:.3g}, {hi:.3g}] (set data.standardize=no and data.logit=0)")

    def _index(self, x: Tensor) -> Tensor:
        return x.floor().clamp(0, self.levels - 1).long()

    @abstractmethod
    def level_log_probs(self, out: Tensor) -> Tensor:
        """``(N, K, *D)`` log-probabilities of each level."""

    def log_prob(self, x: Tensor, out: Tensor) -> Tensor:
        lp = self.level_log_probs(out)
        return _sum(lp.gather(1, self._index(x).unsqueeze(1)).squeeze(1))

    def sample(self, out: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        p = self.level_log_probs(out).exp().movedim(1, -1)
        flat = p.reshape(-1, self.levels)
        device = flat.device if generator is None else generator.device
        k = torch.multinomial(flat.to(device), 1, generator=generator).to(flat.device)
        k = k.reshape(p.shape[:-1]).to(out.dtype)
        return k + _uniform(k, generator)

    def mean(self, out: Tensor) -> Tensor:
        p = self.level_log_probs(out).exp()
        grid = torch.arange(self.levels, device=out.device, dtype=out.dtype)
        return (p * grid.reshape(1, -1, *([1] * (p.dim() - 2)))).sum(1) + 0.5


class CategoricalLikelihood(_Levels):
    r""":math:`P(x_i = k \mid z) = \mathrm{softmax}_k(\ell_{\theta, i}(z))`, ``K`` logits per
    coordinate."""

    def __init__(self, levels: int) -> None:
        super().__init__(levels)
        self.params = levels

    def level_log_probs(self, out: Tensor) -> Tensor:
        return torch.log_softmax(out, dim=1)


class LogisticLikelihood(_Levels):
    r"""The discretised logistic: :math:`P(x_i = k) = \sigma\big(\frac{k + 1 - \mu_i}{s_i}\big)
    - \sigma\big(\frac{k - \mu_i}{s_i}\big)`, with the edge cells open to :math:`\mp\infty`
    (Salimans et al., 2017, https://arxiv.org/abs/1701.05517); :math:`\mu, \log s` from the
    decoder, on the level scale (``μ = K·sigmoid(out₀)``)."""

    params = 2

    def level_log_probs(self, out: Tensor) -> Tensor:
        mu = self.levels * torch.sigmoid(out[:, 0])
        inv_s = torch.exp(-out[:, 1].clamp(-7.0, 7.0))
        edges = torch.arange(1, self.levels, device=out.device, dtype=out.dtype)
        shape = (1, -1, *([1] * (out.dim() - 2)))
        t = (edges.reshape(shape) - mu.unsqueeze(1)) * inv_s.unsqueeze(1)  # (N, K-1, *D)
        log_cdf = F.logsigmoid(t)
        log_sf = F.logsigmoid(-t)
        # log(σ(b) - σ(a)) = log σ(b) + log(1 - exp(a - b)) + log σ(-a)  (a < b)
        inner = log_cdf[:, 1:] + log_sf[:, :-1] + torch.log(-torch.expm1(t[:, :-1] - t[:, 1:])
                                                             .clamp_max(-1e-12))
        return torch.cat([log_cdf[:, :1], inner, log_sf[:, -1:]], dim=1)
