"""Learning-rate schedules: linear warm-up, then cosine decay or a constant rate."""

from __future__ import annotations

import math
from typing import Any

from torch.optim import Optimizer

__all__ = ["LRSchedule", "lr_factor"]


def lr_factor(
    step: int, total: int, *, warmup: int = 0, kind: str = "cosine", min_ratio: float = 0.0
) -> float:
    """The learning rate of training step ``step`` (0-based) relative to the peak rate.

    Warm-up rises linearly to 1 over the first ``warmup`` steps (``(step + 1) / warmup``);
    ``"cosine"`` then decays to ``min_ratio`` at the last step ``total - 1``; ``"constant"``
    stays at 1.
    """
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if kind == "constant":
        return 1.0
    if kind != "cosine":
        raise ValueError(f"unknown schedule {kind!r} (cosine, constant)")
    span = max(1, total - 1 - warmup)
    progress = min(1.0, max(0.0, (step - warmup) / span))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


class LRSchedule:
    """Sets an optimiser's learning rate from the training step.

    Args:
        optimizer: the optimiser whose parameter groups it drives.
        base_lr: the peak learning rate of this optimiser.
        total: the number of training steps.
        warmup: warm-up steps.
        kind: ``"cosine"`` or ``"constant"``.
        min_ratio: the final rate of the cosine schedule relative to ``base_lr``.
    """

    def __init__(
        self, optimizer: Optimizer, base_lr: float, total: int, *, warmup: int = 0,
        kind: str = "cosine", min_ratio: float = 0.0,
    ) -> None:
        self.optimizer = optimizer
        self.base_lr = float(base_lr)
        self.total = int(total)
        self.warmup = int(warmup)
        self.kind = kind
        self.min_ratio = float(min_ratio)
        self.step_index = -1
        self.lr = 0.0
        self.set_step(0)

    def set_step(self, step: int) -> None:
        """Sets the rate for training step ``step`` (a no-op when it is already set)."""
        if step == self.step_index:
            return
        self.step_index = step
        self.lr = self.base_lr * lr_factor(
            step, self.total, warmup=self.warmup, kind=self.kind, min_ratio=self.min_ratio
        )
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr

    def state_dict(self) -> dict[str, Any]:
        """Plain values: the step, base rate and shape of the schedule."""
        return {"step": self.step_index, "base_lr": self.base_lr, "total": self.total,
                "warmup": self.warmup, "kind": self.kind, "min_ratio": self.min_ratio}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores the step (the shape comes from the config of the resumed run)."""
        self.step_index = -1
        self.set_step(int(state["step"]))
