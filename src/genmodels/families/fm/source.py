"""The source end of a flow-matching model: a standard normal, or the points of a data set.

A Gaussian source has a density, so the model has one too (by the instantaneous change of
variables); a data set as the source (data-to-data transport, e.g. 8gaussians → moons) has
none, and the model then only samples.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ...errors import InputError


class EmpiricalSource(nn.Module):
    """Uniform draws, with replacement, from a fixed set of points ``(N, *D)``.

    The points are a non-persistent buffer: they are rebuilt from the config (data set name
    and seed) when a run is loaded, not stored in checkpoints.

    Args:
        points: the source's points ``(N, *D)``.
        name: the data set they came from (for messages).
    """

    def __init__(self, points: Tensor, name: str = "points") -> None:
        super().__init__()
        if points.dim() < 2 or points.shape[0] < 1:
            raise InputError(f"source {name!r}: needs at least one point of shape (N, *D)")
        self.register_buffer("points", points.detach().float().clone(), persistent=False)
        self.event_shape = tuple(points.shape[1:])
        self.name = name

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None) -> Tensor:
        """``n`` points ``(n, *D)`` drawn uniformly (indices drawn on the generator's device)."""
        device = self.points.device if generator is None else generator.device
        i = torch.randint(0, self.points.shape[0], (n,), generator=generator, device=device)
        return self.points[i.to(self.points.device)]
