"""The interface of module-valued distributions (base distributions of flows, priors)."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import Tensor, nn

from ..core import noise


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
    batch_dim: int = 0,
) -> Tensor:
    """Standard normal noise of ``shape`` on ``like``'s device and dtype.

    The noise is drawn on the generator's device (so a CPU generator seeds a CUDA model the
    same way on every machine) and then moved. Without a generator, inside the Trainer's
    :func:`~genmodels.core.noise.sharded_noise` it is the global batch's noise along
    ``batch_dim`` (the same per data point under DDP as in one process).
    """
    device = like.device if generator is None else generator.device
    eps = noise.randn(shape, batch_dim=batch_dim, generator=generator, device=device,
                      dtype=like.dtype)
    return eps.to(like.device)
