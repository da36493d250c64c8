"""Tiny models and objectives for the trainer, checkpoint, loader and DDP tests."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import torch
from torch import Tensor, nn

from genmodels.core import Batch, DensityModel, LossOutput, Objective, Phase


class DiagGaussian(DensityModel):
    """A learnable diagonal Gaussian with a tiny MLP shift (so there are several tensors)."""

    log_prob_kind = "exact"

    def __init__(self, dim: int = 2, hidden: int = 8) -> None:
        super().__init__()
        self.event_shape = (dim,)
        self.mu = nn.Parameter(torch.randn(dim) * 0.1)
        self.log_sigma = nn.Parameter(torch.zeros(dim))
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.Tanh(), nn.Linear(hidden, dim))
        self.register_buffer("calls", torch.zeros((), dtype=torch.int64))

    def log_prob(self, x: Tensor, *, cond: Tensor | None = None) -> Tensor:
        shift = self.net(torch.zeros_like(x)) * 0.1
        z = (x - self.mu - shift) * torch.exp(-self.log_sigma)
        return (-0.5 * z.pow(2) - self.log_sigma - 0.5 * math.log(2 * math.pi)).sum(-1)

    def sample(self, n: int, *, cond: Tensor | None = None,
               generator: torch.Generator | None = None) -> Tensor:
        eps = torch.randn(n, *self.event_shape, generator=generator)
        return self.mu + eps * torch.exp(self.log_sigma)


class MLE(Objective):
    """Maximum likelihood, optionally with global-RNG noise (tests RNG checkpointing).

    Args:
        noise: standard deviation of Gaussian noise added to each batch (0: none).
        nan_at: training calls (0-based) whose loss is NaN.
        grad_nan_at: training calls whose loss is finite but whose gradient is NaN.
        interrupt_at: the training call that raises ``KeyboardInterrupt`` (simulates a crash).
        sleep: seconds to sleep per call (slows a subprocess down so it can be killed).
    """

    def __init__(self, noise: float = 0.0, nan_at: set[int] | None = None,
                 grad_nan_at: set[int] | None = None, interrupt_at: int | None = None,
                 sleep: float = 0.0) -> None:
        self.noise = noise
        self.nan_at = nan_at or set()
        self.grad_nan_at = grad_nan_at or set()
        self.interrupt_at = interrupt_at
        self.sleep = sleep
        self.calls = 0
        self.val_records: list[tuple[bool, Tensor]] = []

    def __call__(self, model: nn.Module, batch: Batch, phase: str = "main") -> LossOutput:
        i = self.calls
        self.calls += 1
        if i == self.interrupt_at:
            raise KeyboardInterrupt
        if self.sleep:
            time.sleep(self.sleep)
        x = batch.x
        if self.noise:
            x = x + self.noise * torch.randn_like(x)
        loss = -model.log_prob(x).mean()
        if i in self.nan_at:
            loss = loss * float("nan")
        if i in self.grad_nan_at:
            loss = loss + torch.sqrt(model.mu - model.mu).sum()  # value 0, gradient NaN
        return LossOutput(loss, {"mu0": model.mu[0].detach()})

    def validation_loss(self, model: nn.Module, batch: Batch) -> Tensor:
        self.val_records.append((model.training, model.mu.detach().clone()))
        with torch.no_grad():
            return -model.log_prob(batch.x).mean()


class TwoPhase(Objective):
    """Two phases over disjoint parameters; records which phase ran on which rows.

    ``batch.x[:, -1]`` holds each row's index in the data (see :func:`indexed_data`).
    """

    phases = (Phase("mean", steps=2, lr_scale=0.5), Phase("scale", steps=1, lr_scale=2.0))

    def __init__(self) -> None:
        self.log: list[tuple[str, Tensor]] = []

    def parameters(self, model: nn.Module, phase: str) -> Iterator[nn.Parameter]:
        if phase == "mean":
            yield model.mu
            yield from model.net.parameters()
        else:
            yield model.log_sigma

    def __call__(self, model: nn.Module, batch: Batch, phase: str = "main") -> LossOutput:
        self.log.append((phase, batch.x[:, -1].long().clone()))
        return LossOutput(-model.log_prob(batch.x).mean())

    def validation_loss(self, model: nn.Module, batch: Batch) -> Tensor:
        with torch.no_grad():
            return -model.log_prob(batch.x).mean()


class ScriptedVal(MLE):
    """MLE whose validation loss follows a given list (for best/early-stopping tests)."""

    def __init__(self, values: list[float]) -> None:
        super().__init__()
        self.values = values
        self.n_val = 0

    def validation_loss(self, model: nn.Module, batch: Batch) -> Tensor:
        v = self.values[min(self.n_val, len(self.values) - 1)]
        self.n_val += 1
        return torch.tensor(v)


def indexed_data(n: int, dim: int = 2, seed: int = 0) -> Tensor:
    """``(n, dim + 1)`` Gaussian points whose last column is the row index."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, dim, generator=g) * 0.5 + 1.0
    return torch.cat([x, torch.arange(n, dtype=torch.float32)[:, None]], 1)


def data(n: int = 256, dim: int = 2, seed: int = 0) -> Tensor:
    """Gaussian points with mean 1 and standard deviation 0.5."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, dim, generator=g) * 0.5 + 1.0
