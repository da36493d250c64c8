"""Shared helpers: flattening, chunked pairwise distances and two-sample kernel sums.

Every two-sample statistic of the form

.. math::
    T = \\overline{k}_{XX} + \\overline{k}_{YY} - 2\\,\\overline{k}_{XY}

(MMD² with a kernel ``k``; the energy distance with ``k(a, b) = -‖a - b‖``) is computed by
:func:`kernel_two_sample`, which never holds more than one row block of a Gram matrix, so
10 000 × 10 000 samples fit in a few tens of megabytes.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ..errors import InputError

#: Entries per row block of a Gram matrix (float64: 64 MiB).
BLOCK_ENTRIES = 2**23

ESTIMATORS = ("unbiased", "biased")


def work_dtype(x: Tensor) -> torch.dtype:
    """float64 for the sums (float32 where the device has no float64, e.g. MPS)."""
    return torch.float32 if x.device.type == "mps" else torch.float64


def as_matrix(x: Tensor, name: str) -> Tensor:
    """Flattens a batch ``(B, *D)`` to ``(B, d)``; ``(B,)`` is read as ``B`` points in 1-D."""
    if not isinstance(x, Tensor):
        x = torch.as_tensor(x)
    if x.ndim == 0:
        raise InputError(f"{name}: expected a batch of shape (B, *D), got a scalar")
    if x.shape[0] == 0:
        raise InputError(f"{name}: empty sample")
    return x.reshape(x.shape[0], -1) if x.ndim > 1 else x.reshape(-1, 1)


def as_pair(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Both samples as ``(n, d)`` and ``(m, d)`` matrices of one float dtype and device."""
    a, b = as_matrix(x, "x"), as_matrix(y, "y")
    if a.shape[1] != b.shape[1]:
        raise InputError(
            f"x and y have different dimensions: {tuple(x.shape[1:])} vs {tuple(y.shape[1:])}"
        )
    dtype = work_dtype(a)
    return a.to(dtype), b.to(a.device, dtype)


def sq_dists(a: Tensor, b: Tensor) -> Tensor:
    """Squared Euclidean distances ``‖a_i - b_j‖²``, shape ``(n, m)``, clamped at 0."""
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return d2.clamp_min(0.0)


def safe_sqrt(d2: Tensor) -> Tensor:
    """``sqrt(d2)`` with value and gradient 0 where ``d2 == 0`` (no NaN gradients)."""
    pos = d2 > 0
    return torch.where(pos, torch.sqrt(torch.where(pos, d2, torch.ones_like(d2))), 0.0)


def pair_sum(
    a: Tensor,
    b: Tensor,
    fn: Callable[[Tensor], Tensor],
    *,
    same: bool,
    drop_diagonal: bool,
    block: int | None = None,
) -> Tensor:
    """``Σ_ij fn(‖a_i - b_j‖²)`` computed one row block at a time.

    Args:
        a: ``(n, d)``.
        b: ``(m, d)``.
        fn: the kernel as a function of squared distances, applied elementwise.
        same: ``a`` and ``b`` are the same sample; the diagonal distances are then set to
            exactly 0 (the expanded formula leaves rounding noise there).
        drop_diagonal: leave the ``i = j`` terms out of the sum (U-statistics); needs ``same``.
        block: rows per block (default: :data:`BLOCK_ENTRIES` entries per block).
    """
    n, m = a.shape[0], b.shape[0]
    rows = block or max(1, BLOCK_ENTRIES // max(m, 1))
    total = a.new_zeros(())
    for i in range(0, n, rows):
        d2 = sq_dists(a[i : i + rows], b)
        if same:
            r = torch.arange(d2.shape[0], device=a.device)
            diag = torch.zeros_like(d2, dtype=torch.bool)
            diag[r, r + i] = True
            k = fn(d2.masked_fill(diag, 0.0))
            if drop_diagonal:
                k = k.masked_fill(diag, 0.0)
        else:
            k = fn(d2)
        total = total + k.sum()
    return total


def kernel_two_sample(
    x: Tensor,
    y: Tensor,
    fn: Callable[[Tensor], Tensor],
    estimator: str,
    block: int | None = None,
) -> Tensor:
    """:math:`\\overline{k}_{XX} + \\overline{k}_{YY} - 2\\overline{k}_{XY}` for a kernel of d².

    ``"biased"`` (V-statistic): every mean over all pairs, diagonals included.
    ``"unbiased"`` (Gretton et al. 2012, eq. 3): the within-sample means leave ``i = j`` out
    and divide by ``n(n-1)``; the cross mean keeps all ``n·m`` pairs.
    """
    if estimator not in ESTIMATORS:
        raise InputError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    n, m = x.shape[0], y.shape[0]
    unbiased = estimator == "unbiased"
    if unbiased and min(n, m) < 2:
        raise InputError(f"the unbiased estimator needs 2 points per sample or more, got {n}, {m}")
    kxx = pair_sum(x, x, fn, same=True, drop_diagonal=unbiased, block=block)
    kyy = pair_sum(y, y, fn, same=True, drop_diagonal=unbiased, block=block)
    kxy = pair_sum(x, y, fn, same=False, drop_diagonal=False, block=block)
    if unbiased:
        return kxx / (n * (n - 1)) + kyy / (m * (m - 1)) - 2.0 * kxy / (n * m)
    return kxx / (n * n) + kyy / (m * m) - 2.0 * kxy / (n * m)
