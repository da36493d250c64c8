"""The batch passed from a loader to an objective."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class Batch:
    """A batch of data points of shape ``(B, *D)``.

    Attributes:
        x: the data, shape ``(B, *D)``.
        cond: an optional context vector per point, shape ``(B, C)``, for conditional models.
        y: optional integer labels, shape ``(B,)``, kept for metrics and conditional models.
    """

    x: Tensor
    cond: Tensor | None = None
    y: Tensor | None = None

    def __len__(self) -> int:
        return self.x.shape[0]

    def to(self, device: torch.device | str) -> Batch:
        """Returns the batch on ``device``."""
        def move(t: Tensor | None) -> Tensor | None:
            return None if t is None else t.to(device, non_blocking=True)

        return Batch(self.x.to(device, non_blocking=True), move(self.cond), move(self.y))
