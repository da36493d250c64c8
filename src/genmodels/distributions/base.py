"""The interface of module-valued distributions (base distributions of flows, priors)."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import Tensor, nn


class Distribution(nn.Module, ABC):
    """A distribution over points of shape ``event_shape``, as a module (it may learn).

    Subclasses implement :meth:`log_prob` and :meth:`rsample`; :meth:`sample` is
    :meth:`rsample` without gradients.
    """

    event_shape: tuple[int, ...]

    @abstractmethod
    def log_prob(self, x: Tensor) -> Tensor:
        """Returns :math:`\\log p(x)` in nats, shape ``(B,)`` for ``x`` of shape ``(B, *D)``."""

    @abstractmethod
    def rsample(self, n: int, *, generator: torch.Generator | None = None) -> Tensor:
        """Draws ``n`` reparameterised points ``(n, *D)`` (differentiable in the parameters)."""

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None) -> Tensor:
        """Draws ``n`` points ``(n, *D)`` without gradients."""
        return self.rsample(n, generator=generator)


def standard_normal(
    shape: tuple[int, ...],
    like: Tensor,
    generator: torch.Generator | None,
) -> Tensor:
    """Standard normal noise of ``shape`` on ``like``'s device and dtype.

    The noise is drawn on the generator's device (so a CPU generator seeds a CUDA model the
    same way on every machine) and then moved.
    """
    device = like.device if generator is None else generator.device
    eps = torch.randn(shape, generator=generator, device=device, dtype=like.dtype)
    return eps.to(like.device)
