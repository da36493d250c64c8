"""The data set contract shared by loaders, the trainer, the CLI and the metrics."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ..registry import DataInfo


@dataclass
class Dataset:
    """Train, validation and test splits of one data set, in data units.

    Attributes:
        name: the registered name or the file path it came from.
        train: training points, shape ``(N, *D)``, float32 (or a memory-mapped array
            wrapped by :mod:`genmodels.data` for data sets larger than memory).
        val: validation points or ``None``.
        test: test points.
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
    """The elementwise affine map :math:`u = (x - \\mu) / s` and its inverse.

    The statistics come from the training split and are stored with the run, so that samples
    come back in data units and scores include the Jacobian
    :math:`\\log|\\det \\partial u / \\partial x| = -\\sum_i \\log s_i`.

    Attributes:
        mean: :math:`\\mu`, shape ``D``.
        std: :math:`s`, shape ``D`` (coordinates with zero spread get 1).
    """

    mean: Tensor
    std: Tensor

    @classmethod
    def fit(cls, x: Tensor) -> Standardize:
        """Statistics of ``x`` (shape ``(N, *D)``), computed in float64."""
        x64 = x.to(torch.float64)
        mean = x64.mean(0)
        std = x64.std(0)
        std = torch.where(std > 0, std, torch.ones_like(std))
        return cls(mean.to(torch.float32), std.to(torch.float32))

    @classmethod
    def identity(cls, event_shape: tuple[int, ...]) -> Standardize:
        """The identity map (``mean = 0``, ``std = 1``)."""
        return cls(torch.zeros(event_shape), torch.ones(event_shape))

    def forward(self, x: Tensor) -> Tensor:
        """Data units → model units."""
        return (x - self.mean.to(x)) / self.std.to(x)

    def inverse(self, u: Tensor) -> Tensor:
        """Model units → data units."""
        return u * self.std.to(u) + self.mean.to(u)

    def log_det(self) -> float:
        """:math:`\\log|\\det \\partial u/\\partial x| = -\\sum \\log s` (per point)."""
        return -float(torch.log(self.std.to(torch.float64)).sum())

    @property
    def is_identity(self) -> bool:
        """Whether the map does nothing."""
        return bool((self.mean == 0).all() and (self.std == 1).all())


def bits_per_dim(nll_nats: float, event_shape: tuple[int, ...]) -> float:
    """Converts a per-example NLL in nats to bits per dimension."""
    return nll_nats / (math.log(2.0) * math.prod(event_shape))
