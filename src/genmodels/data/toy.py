"""The 2-D toy distributions, vectorised in torch and driven by an explicit generator.

The FFJORD toys (Grathwohl et al. 2019, ``rtqichen/ffjord`` ``lib/toy_data.py``) follow that file's
maths exactly; the two mode-coverage mixtures follow VEEGAN (Srivastava et al. 2017) and PacGAN
(Lin et al. 2018); ``25gaussians`` follows the WGAN-GP toy script (Gulrajani et al. 2017,
``igul222/improved_wgan_training`` ``gan_toy.py``). ``8gaussians-cfm`` and ``moons-cfm`` are the
two Gaussian-source data sets of the torchcfm benchmark runner (Tong et al. 2024, Table 2;
``atong01/conditional-flow-matching`` ``runner/src/datamodules/distribution_datamodule.py``),
kept apart from the FFJORD toys of the same shape because their scales differ.
U = Uniform[0, 1), N = standard normal.

These versions are *distributionally* identical to the originals but not stream-identical: they
draw from one :class:`torch.Generator` instead of NumPy's global RNG. Where the originals use fixed
per-arm counts (pinwheel, 2spirals, rings, circles, moons) the counts are kept and the rows are
shuffled, so that every prefix of a sample is a fair mixture; the originals' truncation to a
multiple of the arm count (``5·(B//5)``, ``2·(B//2)``) is replaced by returning exactly ``n`` rows
(pinwheel draws the next multiple of 5 and keeps ``n``; 2spirals gives its first arm the odd
point). FFJORD's 2spirals mirrors the same draws into its second arm; here the arms are
independent, so the points are i.i.d. Everything is computed in float64 and returned as float32.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["TOYS", "Toy", "mixture_centres", "sample"]

_F64 = torch.float64


def _normal(n: int, d: int, g: torch.Generator | None) -> Tensor:
    return torch.randn(n, d, generator=g, dtype=_F64)


def _uniform(n: int, g: torch.Generator | None) -> Tensor:
    return torch.rand(n, generator=g, dtype=_F64)


def _shuffle(x: Tensor, g: torch.Generator | None) -> Tensor:
    return x[torch.randperm(x.shape[0], generator=g)]


def _linspace_open(n: int, end: float) -> Tensor:
    """``n`` evenly spaced angles on ``[0, end)`` (NumPy's ``endpoint=False``)."""
    return torch.arange(n, dtype=_F64) * (end / max(n, 1))


def _linspace_closed(n: int, end: float) -> Tensor:
    """``n`` evenly spaced points on ``[0, end]`` (both ends included)."""
    return torch.linspace(0.0, end, n, dtype=_F64)


# --- Gaussian mixtures (closed-form densities live in toy_density) ---------------------------


def mixture_centres(name: str) -> tuple[Tensor, float]:
    """The centres ``(K, 2)`` (float64) and the common isotropic std of a mixture toy.

    * ``8gaussians`` (FFJORD): :math:`c_k = 4(\\cos k\\pi/4, \\sin k\\pi/4)/1.414`,
      :math:`\\sigma = 0.5/1.414` (FFJORD divides by 1.414, not :math:`\\sqrt 2`).
    * ``25gaussians`` (WGAN-GP): :math:`c = (2i, 2j)/2.828`, :math:`i, j \\in \\{-2..2\\}`,
      :math:`\\sigma = 0.05/2.828`.
    * ``ring8`` (VEEGAN): :math:`c_k = 2(\\cos 2\\pi k/8, \\sin 2\\pi k/8)`, k = 0..7,
      :math:`\\sigma = 0.02`.
    * ``grid25`` (VEEGAN/PacGAN): :math:`c \\in \\{-4,-2,0,2,4\\}^2`, :math:`\\sigma = 0.05`.
    * ``8gaussians-cfm`` (torchcfm runner, ``datamodule=gaussians``: torchdyn's
      ``generate_gaussians(n_gaussians=8, radius=5, std_gaussians=1)``):
      :math:`c_k = 5(\\cos 2\\pi k/8, \\sin 2\\pi k/8)`, :math:`\\sigma = 1`. (torchdyn adds one
      offset of std 1e-4 per component, and draws exactly ``n/8`` points per component; both
      are left out: i.i.d. draws of the same mixture.)
    """
    if name == "8gaussians":
        a = torch.arange(8, dtype=_F64) * (math.pi / 4)
        return torch.stack([a.cos(), a.sin()], 1) * (4.0 / 1.414), 0.5 / 1.414
    if name == "ring8":
        a = torch.arange(8, dtype=_F64) * (2 * math.pi / 8)
        return torch.stack([a.cos(), a.sin()], 1) * 2.0, 0.02
    if name == "8gaussians-cfm":
        a = torch.arange(8, dtype=_F64) * (2 * math.pi / 8)
        return torch.stack([a.cos(), a.sin()], 1) * 5.0, 1.0
    grid = torch.arange(-2, 3, dtype=_F64) * 2.0
    c = torch.cartesian_prod(grid, grid)
    if name == "25gaussians":
        return c / 2.828, 0.05 / 2.828
    if name == "grid25":
        return c, 0.05
    raise KeyError(name)


def _mixture(name: str) -> Callable[[int, torch.Generator | None], Tensor]:
    def draw(n: int, g: torch.Generator | None) -> Tensor:
        centres, std = mixture_centres(name)
        noise = _normal(n, 2, g)
        k = torch.randint(centres.shape[0], (n,), generator=g)
        return centres[k] + std * noise

    return draw


# --- FFJORD toys -----------------------------------------------------------------------------


def _checkerboard(n: int, g: torch.Generator | None) -> Tensor:
    """x1 = 4U − 2; x2 = U − 2·Bernoulli(½) + (⌊x1⌋ mod 2); output 2·(x1, x2)."""
    x1 = 4 * _uniform(n, g) - 2
    x2 = _uniform(n, g) - 2 * torch.randint(2, (n,), generator=g, dtype=_F64)
    x2 = x2 + torch.remainder(torch.floor(x1), 2)
    x = 2 * torch.stack([x1, x2], 1)
    # Rounding to float32 may carry a point just below a cell edge onto the edge (into the
    # neighbouring cell, outside the support); step it back by one float32 ulp.
    x32 = x.to(torch.float32)
    moved = torch.floor(x32.to(_F64) / 2) != torch.floor(x / 2)
    x32 = torch.where(moved, torch.nextafter(x32, torch.tensor(-math.inf)), x32)
    return x32.to(_F64)


def _2spirals(n: int, g: torch.Generator | None) -> Tensor:
    """s = 3π√U; arm (−s cos s + U′/2, s sin s + U″/2), half the points negated; /3; + 0.1·N.

    FFJORD negates the *same* draws for its second arm, so its points come in mirrored pairs;
    here the two halves are drawn independently (the same distribution per point, i.i.d.)."""
    s = torch.sqrt(_uniform(n, g)) * (540 * 2 * math.pi / 360)
    dx = -torch.cos(s) * s + 0.5 * _uniform(n, g)
    dy = torch.sin(s) * s + 0.5 * _uniform(n, g)
    sign = torch.ones(n, 1, dtype=_F64)
    sign[(n + 1) // 2:] = -1.0
    x = sign * torch.stack([dx, dy], 1) / 3 + 0.1 * _normal(n, 2, g)
    return _shuffle(x, g)


def _pinwheel(n: int, g: torch.Generator | None) -> Tensor:
    """5 arms; f = (1 + 0.3·N, 0.1·N); θ = 2πk/5 + 0.25·exp(f0); 2·(feature rotated by −θ)."""
    arms, per = 5, (n + 4) // 5
    f = _normal(arms * per, 2, g) * torch.tensor([0.3, 0.1], dtype=_F64)
    f[:, 0] += 1.0
    k = torch.arange(arms).repeat_interleave(per)
    theta = _linspace_open(arms, 2 * math.pi)[k] + 0.25 * torch.exp(f[:, 0])
    c, s = torch.cos(theta), torch.sin(theta)
    x = torch.stack([f[:, 0] * c + f[:, 1] * s, -f[:, 0] * s + f[:, 1] * c], 1)
    return 2 * _shuffle(x, g)[:n]


def _rings(n: int, g: torch.Generator | None) -> Tensor:
    """Radii 3, 2.25, 1.5, 0.75 (×3 of 1, .75, .5, .25); counts n//4 each, the innermost ring
    gets the remainder; evenly spaced angles on [0, 2π); shuffled; + 0.08·N."""
    q = n // 4
    counts = (q, q, q, n - 3 * q)
    parts = []
    for radius, count in zip((1.0, 0.75, 0.5, 0.25), counts, strict=True):
        a = _linspace_open(count, 2 * math.pi)
        parts.append(torch.stack([a.cos(), a.sin()], 1) * radius)
    x = torch.cat(parts) * 3.0
    return _shuffle(x, g) + 0.08 * _normal(n, 2, g)


def _circles(n: int, g: torch.Generator | None) -> Tensor:
    """``make_circles(n, factor=0.5, noise=0.08)`` × 3: n//2 points on radius 3, the rest on 1.5,
    evenly spaced angles on [0, 2π), shuffled, noise std 0.24."""
    n_out = n // 2
    a_out, a_in = _linspace_open(n_out, 2 * math.pi), _linspace_open(n - n_out, 2 * math.pi)
    x = torch.cat([torch.stack([a_out.cos(), a_out.sin()], 1),
                   0.5 * torch.stack([a_in.cos(), a_in.sin()], 1)])
    x = _shuffle(x, g) + 0.08 * _normal(n, 2, g)
    return 3 * x


def _moons(n: int, g: torch.Generator | None) -> Tensor:
    """``make_moons(n, noise=0.1)`` × 2 + (−1, −0.2): outer (cos s, sin s), inner
    (1 − cos s, 0.5 − sin s), s evenly spaced on [0, π] with both ends."""
    n_out = n // 2
    s_out, s_in = _linspace_closed(n_out, math.pi), _linspace_closed(n - n_out, math.pi)
    x = torch.cat([torch.stack([s_out.cos(), s_out.sin()], 1),
                   torch.stack([1 - s_in.cos(), 1 - s_in.sin() - 0.5], 1)])
    x = _shuffle(x, g) + 0.1 * _normal(n, 2, g)
    return 2 * x + torch.tensor([-1.0, -0.2], dtype=_F64)


def _moons_cfm(n: int, g: torch.Generator | None) -> Tensor:
    """The torchcfm runner's moons (``datamodule=moons``, ``SKLearnDataModule``):
    ``make_moons(n, noise=0.05)`` × 2, then x1 − 1; outer (cos s, sin s), inner
    (1 − cos s, 0.5 − sin s), s evenly spaced on [0, π] with both ends, noise std 0.1 after
    scaling."""
    n_out = n // 2
    s_out, s_in = _linspace_closed(n_out, math.pi), _linspace_closed(n - n_out, math.pi)
    x = torch.cat([torch.stack([s_out.cos(), s_out.sin()], 1),
                   torch.stack([1 - s_in.cos(), 1 - s_in.sin() - 0.5], 1)])
    x = _shuffle(x, g) + 0.05 * _normal(n, 2, g)
    return 2 * x + torch.tensor([-1.0, 0.0], dtype=_F64)


def _swissroll(n: int, g: torch.Generator | None) -> Tensor:
    """``make_swiss_roll(n, noise=1.0)`` columns 0 and 2, / 5: t = 1.5π(1 + 2U),
    ((t cos t + ε1)/5, (t sin t + ε3)/5)."""
    t = 1.5 * math.pi * (1 + 2 * _uniform(n, g))
    x = torch.stack([t * torch.cos(t), t * torch.sin(t)], 1) + _normal(n, 2, g)
    return x / 5


@dataclass(frozen=True)
class Toy:
    """One toy distribution.

    Attributes:
        name: the registered name.
        description: one line for ``genmodels list``.
        paper: where the definition comes from.
        draw: ``draw(n, generator) -> (n, 2)`` float64.
        density: whether :mod:`genmodels.data.toy_density` has its exact log-density.
    """

    name: str
    description: str
    paper: str
    draw: Callable[[int, torch.Generator | None], Tensor]
    density: bool = False


TOYS: dict[str, Toy] = {t.name: t for t in (
    Toy("8gaussians", "8 Gaussians on a circle of radius 2.83, std 0.354", "FFJORD",
        _mixture("8gaussians"), density=True),
    Toy("25gaussians", "25 Gaussians on a 5×5 grid of spacing 0.707, std 0.0177", "WGAN-GP",
        _mixture("25gaussians"), density=True),
    Toy("checkerboard", "uniform on 8 of the 16 2×2 cells of [-4, 4]²", "FFJORD",
        _checkerboard, density=True),
    Toy("2spirals", "two interleaved noisy spirals", "FFJORD", _2spirals),
    Toy("pinwheel", "5 curved arms", "FFJORD", _pinwheel),
    Toy("rings", "4 noisy concentric rings of radii 0.75..3", "FFJORD", _rings),
    Toy("moons", "two interleaved noisy half circles", "FFJORD", _moons),
    Toy("circles", "2 noisy concentric circles of radii 1.5 and 3", "FFJORD", _circles),
    Toy("swissroll", "a noisy 2-D swiss roll", "FFJORD", _swissroll),
    Toy("ring8", "8 Gaussians on a circle of radius 2, std 0.02", "VEEGAN",
        _mixture("ring8"), density=True),
    Toy("grid25", "25 Gaussians on {-4,-2,0,2,4}², std 0.05", "VEEGAN/PacGAN",
        _mixture("grid25"), density=True),
    Toy("8gaussians-cfm", "8 Gaussians on a circle of radius 5, std 1 (torchcfm benchmark)",
        "torchcfm runner", _mixture("8gaussians-cfm"), density=True),
    Toy("moons-cfm", "make_moons(noise=0.05) × 2 − (1, 0) (torchcfm benchmark)",
        "torchcfm runner", _moons_cfm),
)}


def sample(name: str, n: int, *, generator: torch.Generator | None = None) -> Tensor:
    """Draws ``n`` points of a toy distribution.

    Args:
        name: a key of :data:`TOYS`.
        n: the number of points (≥ 0).
        generator: the source of randomness (the global RNG when ``None``).

    Returns:
        A float32 tensor of shape ``(n, 2)``.

    Raises:
        KeyError: for an unknown name.
        ValueError: for a negative ``n``.
    """
    if name not in TOYS:
        raise KeyError(f"unknown toy {name!r} (known: {', '.join(sorted(TOYS))})")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if n == 0:
        return torch.zeros(0, 2)
    return TOYS[name].draw(n, generator).to(torch.float32)
