"""Kernels as values: each is a small object that becomes a function of squared distances.

A kernel ``k(a, b)`` used by :func:`~genmodels.divergences.mmd2` depends on the points only
through ``‖a - b‖²`` (the polynomial kernel of KID is the exception; it is applied to inner
products by :func:`~genmodels.divergences.kid`). A kernel whose bandwidth is ``None`` takes
the median heuristic of the pooled sample when it is :meth:`resolved <Kernel.resolve>`.

==========================  ==================================================================
value                       k(a, b)
==========================  ==================================================================
``Gaussian(h)``             exp(−‖a−b‖² / (2h²)); a tuple of bandwidths is the **sum** of them
``Gaussian(None, scales)``  the same with h = median heuristic × each scale (multi-bandwidth)
``Laplacian(h)``            exp(−‖a−b‖ / h)
``InverseMultiquadric(c)``  (c² + ‖a−b‖²)^β, β = −½ (Gorham & Mackey 2017); c = median if None
``Energy()``                −‖a−b‖: MMD² with it **equals** the energy distance (no ½)
==========================  ==================================================================
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import InputError
from ._pairwise import safe_sqrt

D2Fn = Callable[[Tensor], Tensor]


def _bandwidths(
    bandwidth: float | Sequence[float] | None, scales: Sequence[float], median: Callable[[], float]
) -> list[float]:
    if bandwidth is None:
        h = median()
        hs = [h * float(s) for s in scales]
    elif isinstance(bandwidth, (int, float)) or (
        isinstance(bandwidth, Tensor) and bandwidth.ndim == 0
    ):
        hs = [float(bandwidth)]
    else:
        hs = [float(h) for h in bandwidth]
    if not hs or min(hs) <= 0:
        raise InputError(f"bandwidths must be positive, got {hs}")
    return hs


class Kernel:
    """A kernel of squared distances; :meth:`resolve` fixes data-dependent bandwidths."""

    def resolve(self, a: Tensor, b: Tensor) -> D2Fn:  # pragma: no cover - interface
        """The kernel as an elementwise function of ``d2 = ‖a_i − b_j‖²``."""
        raise NotImplementedError

    def bandwidths(self, a: Tensor, b: Tensor) -> list[float]:
        """The bandwidths used on these samples (empty for a kernel without one)."""
        return []


@dataclass(frozen=True)
class Gaussian(Kernel):
    """``Σ_h exp(−‖a−b‖²/(2h²))``: one bandwidth, several (summed, as in MMD-GAN, Li et al.
    2017), or ``None`` for the median heuristic times each of ``scales``."""

    bandwidth: float | tuple[float, ...] | None = None
    scales: tuple[float, ...] = (1.0,)

    def bandwidths(self, a: Tensor, b: Tensor) -> list[float]:
        from .mmd import median_bandwidth

        return _bandwidths(self.bandwidth, self.scales, lambda: median_bandwidth(a, b))

    def resolve(self, a: Tensor, b: Tensor) -> D2Fn:
        hs = self.bandwidths(a, b)
        return lambda d2: sum(torch.exp(-d2 / (2.0 * h * h)) for h in hs)


def multi_bandwidth(scales: Sequence[float] = (0.25, 0.5, 1.0, 2.0, 4.0)) -> Gaussian:
    """The multi-bandwidth Gaussian kernel: the sum over median-heuristic × ``scales``."""
    return Gaussian(None, tuple(float(s) for s in scales))


@dataclass(frozen=True)
class Laplacian(Kernel):
    """``Σ_h exp(−‖a−b‖/h)`` (``None``: median heuristic × ``scales``)."""

    bandwidth: float | tuple[float, ...] | None = None
    scales: tuple[float, ...] = (1.0,)

    def bandwidths(self, a: Tensor, b: Tensor) -> list[float]:
        from .mmd import median_bandwidth

        return _bandwidths(self.bandwidth, self.scales, lambda: median_bandwidth(a, b))

    def resolve(self, a: Tensor, b: Tensor) -> D2Fn:
        hs = self.bandwidths(a, b)
        return lambda d2: sum(torch.exp(-safe_sqrt(d2) / h) for h in hs)


@dataclass(frozen=True)
class InverseMultiquadric(Kernel):
    """``(c² + ‖a−b‖²)^β`` with ``β ∈ (−1, 0)``, default −½; ``c = None``: median heuristic.

    Characteristic, heavy-tailed (it still sees far-away modes where a Gaussian kernel is 0);
    Gorham & Mackey, "Measuring sample quality with kernels", ICML 2017.
    Note that ``k(a, a) = c^{2β}`` (not 1).
    """

    c: float | None = None
    beta: float = -0.5

    def bandwidths(self, a: Tensor, b: Tensor) -> list[float]:
        from .mmd import median_bandwidth

        return _bandwidths(self.c, (1.0,), lambda: median_bandwidth(a, b))

    def resolve(self, a: Tensor, b: Tensor) -> D2Fn:
        if not -1.0 < self.beta < 0.0:
            raise InputError(f"InverseMultiquadric: beta must be in (-1, 0), got {self.beta}")
        (c,) = self.bandwidths(a, b)
        beta = self.beta
        return lambda d2: (c * c + d2).pow(beta)


@dataclass(frozen=True)
class Energy(Kernel):
    """``−‖a−b‖``, the distance-induced (conditionally positive definite) kernel.

    MMD² with it is exactly :func:`~genmodels.divergences.energy_distance`
    ``2E‖X−Y‖ − E‖X−X'‖ − E‖Y−Y'‖`` (both estimators). The positive-definite form
    ``½(‖a‖ + ‖b‖ − ‖a−b‖)`` of Sejdinovic et al. (2013) gives **half** of it; the ``‖a‖``
    terms cancel in every estimator.
    """

    def resolve(self, a: Tensor, b: Tensor) -> D2Fn:
        return lambda d2: -safe_sqrt(d2)


KERNEL_NAMES = {
    "gaussian": Gaussian,
    "laplacian": Laplacian,
    "imq": InverseMultiquadric,
    "energy": Energy,
}


def as_kernel(
    kernel: str | Kernel, bandwidth: float | Sequence[float] | None, scales: Sequence[float]
) -> Kernel:
    """A kernel value from a name (``"gaussian"``, ``"laplacian"``, ``"imq"``, ``"energy"``)
    and the ``bandwidth``/``scales`` arguments of :func:`mmd2`, or the value itself."""
    if isinstance(kernel, Kernel):
        return kernel
    if kernel not in KERNEL_NAMES:
        raise InputError(
            f"kernel must be one of {tuple(KERNEL_NAMES)} or a Kernel, got {kernel!r}"
        )
    bw = bandwidth
    if bw is not None and not isinstance(bw, (int, float)) and not (
        isinstance(bw, Tensor) and bw.ndim == 0
    ):
        bw = tuple(float(h) for h in bw)
    elif isinstance(bw, Tensor):
        bw = float(bw)
    if kernel in ("gaussian", "laplacian"):
        return KERNEL_NAMES[kernel](bw, tuple(float(s) for s in scales))
    if kernel == "imq":
        if isinstance(bw, tuple):
            raise InputError("the inverse multiquadric kernel takes one c, not a list")
        return InverseMultiquadric(bw)
    return Energy()
