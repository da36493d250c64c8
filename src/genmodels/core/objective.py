"""Objectives: callables ``(model, batch) -> LossOutput``, with declared training phases."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from .batch import Batch


@dataclass
class LossOutput:
    """The loss to minimise and what to log.

    Attributes:
        loss: a scalar tensor; the trainer calls ``loss.backward()``.
        logs: scalars to log (tensors are detached and converted lazily, only on log steps);
            a value may also be a zero-argument callable returning one, evaluated only on log
            steps (a diagnostic that costs a few tensor operations every step otherwise).
    """

    loss: Tensor
    logs: dict[str, Tensor | float | Callable[[], Tensor | float]] = field(default_factory=dict)


@dataclass(frozen=True)
class Phase:
    """One phase of a training step: its own parameters, optimiser and step count.

    Attributes:
        name: the phase name (``"main"``, ``"critic"``, ``"generator"``).
        steps: how many optimiser steps of this phase one training step makes (the
            ``n_critic`` of a Wasserstein GAN is ``Phase("critic", steps=5)``).
        lr_scale: this phase's learning rate relative to the configured one.
    """

    name: str
    steps: int = 1
    lr_scale: float = 1.0


class Objective(ABC):
    """A training objective: the D of :math:`\\min_\\theta D(p_\\mathrm{data}, p_\\theta)`.

    An objective never owns the model. It declares ``phases``; for each phase it says which
    parameters the phase's optimiser updates and computes that phase's loss. Single-phase
    objectives (maximum likelihood, ELBO, score matching) keep the default one ``"main"``
    phase over all parameters.
    """

    phases: tuple[Phase, ...] = (Phase("main"),)

    def parameters(self, model: nn.Module, phase: str) -> Iterator[nn.Parameter]:
        """The parameters updated by ``phase``'s optimiser (all of them by default)."""
        return model.parameters()

    @abstractmethod
    def __call__(self, model: nn.Module, batch: Batch, phase: str = "main") -> LossOutput:
        """Returns the loss of ``phase`` on ``batch``."""

    def close(self) -> None:
        """Releases what the objective holds between calls (worker threads); the Trainer
        calls it when ``fit`` returns or raises. The default holds nothing."""
        return None

    def validation_loss(self, model: nn.Module, batch: Batch) -> Tensor | None:
        """The held-out loss used for validation, best checkpoints and early stopping.

        Lower is better. The default is the loss of the single phase, computed without
        gradients; multi-phase objectives (GANs) return ``None`` unless they define one.
        """
        if len(self.phases) != 1:
            return None
        with torch.no_grad():
            return self(model, batch, self.phases[0].name).loss
