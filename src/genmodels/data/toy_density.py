"""Exact log-densities and entropies of the toys that have them in closed form.

* The Gaussian mixtures (``8gaussians``, ``25gaussians``, ``ring8``, ``grid25``,
  ``8gaussians-cfm``) are equal-weight
  mixtures of K isotropic Gaussians in d = 2:

  .. math:: \\log p(x) = \\operatorname{logsumexp}_k\\Big(-\\frac{\\lVert x - c_k\\rVert^2}
            {2\\sigma^2}\\Big) - \\log K - \\frac d2 \\log(2\\pi\\sigma^2),

  evaluated in float64. Their entropy :math:`H = -\\mathbb E_p[\\log p]` has no closed form; it is
  a Monte-Carlo mean over :data:`ENTROPY_SAMPLES` seeded draws, with standard error
  :math:`\\hat s / \\sqrt n`, computed once per process and cached in :data:`_ENTROPY_CACHE`.
* ``checkerboard`` (FFJORD) is uniform on 8 of the 16 2×2 cells of :math:`[-4, 4)^2`, those
  with :math:`\\lfloor x_1/2\\rfloor + \\lfloor x_2/2\\rfloor` even: :math:`p = 1/32` there, 0
  elsewhere, and :math:`H = \\log 32` exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from .toy import TOYS, mixture_centres

__all__ = ["ENTROPY_SAMPLES", "entropy", "has_density", "log_prob", "log_prob_fn"]

ENTROPY_SAMPLES = 1_000_000
"""Monte-Carlo draws behind a cached entropy estimate."""

_ENTROPY_SEED = 20_240_601
_CHUNK = 1 << 16
_ENTROPY_CACHE: dict[str, tuple[float, float]] = {}
_MIXTURES = ("8gaussians", "25gaussians", "ring8", "grid25", "8gaussians-cfm")


def has_density(name: str) -> bool:
    """Whether ``name`` has an exact closed-form log-density here."""
    return name in _MIXTURES or name == "checkerboard"


def _mixture_log_prob(x: Tensor, centres: Tensor, std: float) -> Tensor:
    x64 = x.to(torch.float64).reshape(-1, 2)
    out = []
    for chunk in torch.split(x64, _CHUNK):
        sq = (chunk[:, None, :] - centres.to(chunk.device)).square().sum(-1)
        out.append(torch.logsumexp(-sq / (2 * std * std), dim=1))
    lse = torch.cat(out) if out else x64.new_zeros(0)
    k = centres.shape[0]
    return lse - math.log(k) - math.log(2 * math.pi * std * std)


def _checkerboard_log_prob(x: Tensor) -> Tensor:
    u = x.to(torch.float64).reshape(-1, 2) / 2
    inside = ((u >= -2) & (u < 2)).all(dim=1)
    even = torch.remainder(torch.floor(u).sum(dim=1), 2) == 0
    lp = torch.full((u.shape[0],), -math.inf, dtype=torch.float64, device=u.device)
    return lp.masked_fill(inside & even, -math.log(32.0))


def log_prob(name: str, x: Tensor) -> Tensor:
    """The exact log-density (nats, float64) of toy ``name`` at points ``x`` ``(B, 2)``.

    Returns:
        A ``(B,)`` float64 tensor (``-inf`` outside the checkerboard's support).

    Raises:
        KeyError: when ``name`` has no closed-form density.
    """
    if x.ndim != 2 or x.shape[-1] != 2:
        raise ValueError(f"expected points of shape (B, 2), got {tuple(x.shape)}")
    if name == "checkerboard":
        return _checkerboard_log_prob(x)
    if name in _MIXTURES:
        centres, std = mixture_centres(name)
        return _mixture_log_prob(x, centres, std)
    raise KeyError(f"toy {name!r} has no closed-form density")


def log_prob_fn(name: str) -> Callable[[Tensor], Tensor]:
    """``log_prob`` bound to ``name``, as :attr:`Dataset.log_prob` wants it."""
    if not has_density(name):
        raise KeyError(f"toy {name!r} has no closed-form density")

    def fn(x: Tensor) -> Tensor:
        return log_prob(name, x)

    fn.__name__ = f"log_prob_{name}"
    return fn


def entropy(name: str) -> tuple[float, float]:
    """The entropy (nats) of toy ``name`` and its standard error.

    ``checkerboard`` gives ``(log 32, 0)``; a mixture gives a Monte-Carlo estimate over
    :data:`ENTROPY_SAMPLES` draws from a fixed seed (the same numbers on every call and every
    machine with the same torch), computed in chunks and cached per process.

    Raises:
        KeyError: when ``name`` has no closed-form density.
    """
    if name == "checkerboard":
        return math.log(32.0), 0.0
    if name not in _MIXTURES:
        raise KeyError(f"toy {name!r} has no closed-form density")
    if name not in _ENTROPY_CACHE:
        g = torch.Generator().manual_seed(_ENTROPY_SEED)
        draw = TOYS[name].draw
        total, total_sq, left = 0.0, 0.0, ENTROPY_SAMPLES
        while left > 0:
            m = min(_CHUNK, left)
            nlp = -log_prob(name, draw(m, g))
            total += float(nlp.sum())
            total_sq += float(nlp.square().sum())
            left -= m
        n = ENTROPY_SAMPLES
        mean = total / n
        var = max(total_sq / n - mean * mean, 0.0) * n / (n - 1)
        _ENTROPY_CACHE[name] = (mean, math.sqrt(var / n))
    return _ENTROPY_CACHE[name]
