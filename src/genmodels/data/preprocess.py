r"""Dequantisation, the logit transform, and the lazy per-batch view the trainer reads.

**Units.** Discrete data with :math:`K` levels (``Dataset.levels``) take values
:math:`x \in \{0, \dots, K-1\}^D`. Their *data units* are the integer lattice scale: a
dequantised point is :math:`z = x + u`, :math:`u \sim \mathcal U[0, 1)^D`, so each discrete
value owns a unit cube and a density :math:`p_Z` on :math:`[0, K)^D` gives (Theis et al. 2016;
Ho et al. 2019)

.. math:: P(x) = \int_{[0,1)^D} p_Z(x + u)\,du \ \ge\ \exp \mathbb E_u[\log p_Z(x + u)],

so :math:`-\log p_Z(z)` averaged over dequantised test points is an upper bound on the discrete
NLL with **no offset** on this scale, and ``bpd = nll / (D ln 2)``. On the unit scale
:math:`y = z/K` the same bound reads :math:`-\log p_Y(y) + D \log K` (the offset is
:math:`D \log K`, e.g. :math:`\log_2 17 = 4.09` bits/dim for the digits, never a hard-coded 256).

**Model units.** The model sees :math:`m = T(z)`: optionally the logit transform of
RealNVP (Dinh et al. 2017), :math:`p = \alpha + (1 - 2\alpha) z / K`,
:math:`s = \log p - \log(1 - p)`, then the standardisation :math:`m = (s - \mu)/\sigma`.
Its exact log-determinant per point is

.. math:: \log\left|\det \frac{\partial m}{\partial z}\right|
          = \sum_i \Big[\log\frac{1 - 2\alpha}{K} - \log p_i - \log(1 - p_i)\Big]
            - \sum_i \log \sigma_i,

and :math:`\log p_Z(z) = \log p_M(T(z)) + \log|\det \partial m / \partial z|`, which is what
:mod:`genmodels.run` reports (see :class:`~genmodels.data.base.Standardize`).

**Per-batch noise.** :class:`Prepared` holds the raw training points (tensor, array or
memory map) and applies dequantisation and :math:`T` to each batch as the loader takes it, with
noise from a :class:`torch.Generator` the loader seeds from its own ``(seed, epoch, position,
rank)``: fresh noise every batch, identical on resume, no global RNG.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from ..core import noise

__all__ = ["Prepared", "dequantize", "logit", "logit_inverse", "logit_log_det", "prepare",
           "training_data"]


def dequantize(x: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
    """Uniform dequantisation :math:`z = x + u`, :math:`u \\sim \\mathcal U[0,1)^D` (float32)."""
    x = x.to(torch.float32)
    return x + noise.rand(tuple(x.shape), generator=generator, device=x.device, dtype=x.dtype)


def _p(z: Tensor, levels: float, alpha: float) -> Tensor:
    return alpha + (1.0 - 2.0 * alpha) * z / levels


def logit(z: Tensor, levels: float, alpha: float) -> Tensor:
    """:math:`s = \\operatorname{logit}(\\alpha + (1 - 2\\alpha) z / K)`, elementwise."""
    p = _p(z, levels, alpha)
    return torch.log(p) - torch.log1p(-p)


def logit_inverse(s: Tensor, levels: float, alpha: float) -> Tensor:
    """The inverse of :func:`logit`: :math:`z = K(\\sigma(s) - \\alpha)/(1 - 2\\alpha)`."""
    return levels * (torch.sigmoid(s) - alpha) / (1.0 - 2.0 * alpha)


def logit_log_det(z: Tensor, levels: float, alpha: float) -> Tensor:
    """Per-point :math:`\\sum_i \\log|ds_i/dz_i|` of :func:`logit`, shape ``(B,)``."""
    p = _p(z.to(torch.float64), levels, alpha)
    per = math.log((1.0 - 2.0 * alpha) / levels) - torch.log(p) - torch.log1p(-p)
    return per.reshape(per.shape[0], -1).sum(1).to(z.dtype)


class Prepared:
    """Training points in data units, turned into model units batch by batch.

    Args:
        data: raw points ``(N, *D)``: a tensor, a numpy array or a memory map (never copied
            whole).
        transform: the :class:`~genmodels.data.base.Standardize` map to model units.
        levels: discrete levels; when set, each batch is dequantised first.
    """

    def __init__(self, data: Any, transform: Any, levels: int | None = None) -> None:
        self.data, self.transform, self.levels = data, transform, levels
        self.shape = (len(data), *tuple(data.shape[1:]))

    def __len__(self) -> int:
        return len(self.data)

    def take(self, index: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Rows ``index`` in model units (dequantised with ``generator`` noise when discrete)."""
        from .loader import take

        x = take(self.data, index).to(torch.float32)
        if self.levels is not None:
            x = dequantize(x, generator=generator)
        return self.transform.forward(x)


def prepare(data: Any, transform: Any, levels: int | None = None,
            chunk: int = 1 << 16) -> Any:
    """What the trainer should read: ``transform(data)`` at once for small continuous tensors,
    else a lazy :class:`Prepared` view (discrete data or arrays / memory maps)."""
    if levels is None and isinstance(data, Tensor):
        return transform.forward(data)
    return Prepared(data, transform, levels)


def training_data(data: Any, transform: Any) -> tuple[Any, Any]:
    """``(train, val)`` for :meth:`genmodels.train.Trainer.fit` in model units.

    ``train`` is :func:`prepare`'s result (a lazy, per-batch dequantised view for discrete or
    memory-mapped data); ``val`` (already dequantised once, in memory) is transformed at
    once. Labels ride along in a :class:`~genmodels.core.Batch` when the data has them.
    """
    from ..core import Batch

    train = prepare(data.train, transform, data.levels)
    if data.train_labels is not None:
        train = Batch(train, y=data.train_labels)
    val = None
    if data.val is not None:
        val = transform.forward(data.val)
        if data.val_labels is not None:
            val = Batch(val, y=data.val_labels)
    return train, val
