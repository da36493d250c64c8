"""The data set contract shared by loaders, the trainer, the CLI and the metrics."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..errors import InputError
from ..registry import DataInfo


@dataclass
class Dataset:
    """Train, validation and test splits of one data set, in data units.

    Attributes:
        name: the registered name or the file path it came from.
        train: training points, shape ``(N, *D)``, float32 (or a lazy
            :class:`~genmodels.data.loader.Rows` view of a memory-mapped ``.npy`` for data
            sets larger than memory). For discrete data (``levels`` set) these are the raw
            integer values; the trainer dequantises them batch by batch
            (:mod:`genmodels.data.preprocess`).
        val: validation points or ``None`` (discrete data: one fixed seeded dequantisation).
        test: test points (discrete data: one fixed seeded dequantisation ``x + u``, so the
            test NLL of a density on the level scale is the dequantised bound, no offset).
        train_labels, val_labels, test_labels: integer labels ``(N,)`` when the data has them.
        levels: the number of discrete levels per coordinate for discrete data (bits/dim
            uses it), ``None`` for continuous data.
        n_classes: the number of label classes, when there are labels.
        log_prob: the exact log-density of the data's generating distribution, when known
            in closed form (a floor for test NLL: E[-log p] = entropy).
        entropy: the entropy of the generating distribution in nats, exact or Monte Carlo.
        entropy_se: the standard error of ``entropy`` when it is a Monte-Carlo estimate
            (0 when exact).
        standardize: whether ``DataConfig.standardize = "auto"`` standardises this data.
    """

    name: str
    train: Tensor
    test: Tensor
    val: Tensor | None = None
    train_labels: Tensor | None = None
    val_labels: Tensor | None = None
    test_labels: Tensor | None = None
    levels: int | None = None
    n_classes: int | None = None
    log_prob: Callable[[Tensor], Tensor] | None = None
    entropy: float | None = None
    entropy_se: float | None = None
    standardize: bool = False

    @property
    def event_shape(self) -> tuple[int, ...]:
        """The shape ``D`` of one point."""
        return tuple(self.train.shape[1:])

    @property
    def info(self) -> DataInfo:
        """What a family needs to build a model for this data."""
        return DataInfo(self.event_shape, levels=self.levels, n_classes=self.n_classes)


@dataclass
class Standardize:
    """The map from data units to model units: an optional logit, then :math:`(s - \\mu)/\\sigma`.

    Without logit (``levels == 0``) it is the elementwise affine map :math:`u = (x - \\mu)/s`
    with the constant :math:`\\log|\\det \\partial u / \\partial x| = -\\sum_i \\log s_i`.
    With ``levels = K > 0`` the logit transform of :mod:`genmodels.data.preprocess` comes
    first, :math:`s = \\operatorname{logit}(\\alpha + (1 - 2\\alpha) x / K)`, and the
    log-determinant depends on the point (:meth:`log_det` with ``x``). The statistics come from
    the training split and are stored with the run (:meth:`to_tensors`), so that samples come
    back in data units and scores include the Jacobian.

    Attributes:
        mean: :math:`\\mu`, shape ``D``.
        std: :math:`\\sigma`, shape ``D`` (coordinates with zero spread get 1).
        levels: :math:`K` of the logit step, 0 for none.
        alpha: :math:`\\alpha` of the logit step.
    """

    mean: Tensor
    std: Tensor
    levels: float = 0.0
    alpha: float = 0.0

    @classmethod
    def fit(cls, x: Any, *, levels: int | None = None, logit_alpha: float | None = None,
            standardize: bool = True, seed: int = 0, chunk: int = 1 << 16) -> Standardize:
        """Statistics of ``x`` (``(N, *D)``: a tensor, array or memory map), in float64.

        The rows are read ``chunk`` at a time, so a memory-mapped file is never loaded whole.
        With ``levels`` the rows are dequantised first (noise seeded by ``seed``); with
        ``logit_alpha`` the logit step (``K = levels``, or 1 for continuous data in [0, 1])
        is applied before the statistics are taken. ``standardize=False`` keeps the affine
        part the identity.
        """
        from .preprocess import dequantize, logit

        k = float(levels) if levels else 1.0
        lg = logit_alpha is not None
        if lg and not 0.0 < float(logit_alpha) < 0.5:
            raise InputError(f"data.logit: {logit_alpha} must be in (0, 0.5) (0 turns it off)")
        shape = tuple(x.shape[1:])
        if not standardize:
            return cls(torch.zeros(shape), torch.ones(shape), k if lg else 0.0,
                       float(logit_alpha or 0.0))
        g = torch.Generator().manual_seed(seed)
        n = 0
        mean = torch.zeros(shape, dtype=torch.float64)
        m2 = torch.zeros(shape, dtype=torch.float64)
        for start in range(0, len(x), chunk):
            part = x[start:start + chunk]
            t = part if isinstance(part, Tensor) else torch.as_tensor(np.asarray(part))
            t = t.to(torch.float32)
            if levels:
                t = dequantize(t, generator=g)
            if lg:
                if not levels and (t.min() < 0 or t.max() > 1):
                    raise InputError(f"data.logit: continuous data must lie in [0, 1] for the "
                                     f"logit transform (rows {start}..: range "
                                     f"[{float(t.min()):g}, {float(t.max()):g}])")
                t = logit(t, k, float(logit_alpha))
            t = t.to(torch.float64)
            # Chan et al.'s pairwise merge of (count, mean, M2): no cancellation for large means
            nb = t.shape[0]
            mb = t.mean(0)
            delta = mb - mean
            m2 = m2 + (t - mb).square().sum(0) + delta.square() * n * nb / (n + nb)
            mean = mean + delta * nb / (n + nb)
            n += nb
        std = (m2 / max(n - 1, 1)).sqrt()
        std = torch.where(std > 1e-12, std, torch.ones_like(std))
        return cls(mean.to(torch.float32), std.to(torch.float32), k if lg else 0.0,
                   float(logit_alpha or 0.0))

    @classmethod
    def identity(cls, event_shape: tuple[int, ...]) -> Standardize:
        """The identity map (``mean = 0``, ``std = 1``, no logit)."""
        return cls(torch.zeros(event_shape), torch.ones(event_shape))

    def forward(self, x: Tensor) -> Tensor:
        """Data units → model units."""
        if self.levels:
            from .preprocess import logit

            x = logit(x, self.levels, self.alpha)
        return (x - self.mean.to(x)) / self.std.to(x)

    def inverse(self, u: Tensor) -> Tensor:
        """Model units → data units."""
        s = u * self.std.to(u) + self.mean.to(u)
        if self.levels:
            from .preprocess import logit_inverse

            s = logit_inverse(s, self.levels, self.alpha)
        return s

    def log_det(self, x: Tensor | None = None) -> Any:
        """:math:`\\log|\\det \\partial u/\\partial x|` per point.

        A float (``-sum log std``) without logit; with logit the ``(B,)`` tensor at ``x``
        (required then).
        """
        const = -float(torch.log(self.std.to(torch.float64)).sum())
        if not self.levels:
            return const
        if x is None:
            raise ValueError("the logit step's log-determinant depends on x; pass the points")
        from .preprocess import logit_log_det

        return logit_log_det(x, self.levels, self.alpha) + const

    def to_tensors(self) -> dict[str, Tensor]:
        """The state to store with a run (safetensors-ready)."""
        return {"mean": self.mean.contiguous(), "std": self.std.contiguous(),
                "logit": torch.tensor([self.levels, self.alpha], dtype=torch.float64)}

    @classmethod
    def from_tensors(cls, t: dict[str, Tensor]) -> Standardize:
        """The inverse of :meth:`to_tensors` (runs without ``logit`` have none)."""
        levels, alpha = t["logit"].tolist() if "logit" in t else (0.0, 0.0)
        return cls(t["mean"], t["std"], float(levels), float(alpha))

    @property
    def is_identity(self) -> bool:
        """Whether the map does nothing."""
        return bool(not self.levels and (self.mean == 0).all() and (self.std == 1).all())


def bits_per_dim(nll_nats: float, event_shape: tuple[int, ...]) -> float:
    """Converts a per-example NLL in nats to bits per dimension."""
    return nll_nats / (math.log(2.0) * math.prod(event_shape))
