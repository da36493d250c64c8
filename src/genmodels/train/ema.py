"""An exponential moving average of a model's weights, kept outside any DDP wrapper."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

__all__ = ["EMA"]


class EMA:
    """Shadow weights :math:`\\bar\\theta \\leftarrow d\\,\\bar\\theta + (1 - d)\\,\\theta`.

    The decay warms up as :math:`d_n = \\min(d, (1 + n) / (10 + n))` after ``n`` updates, so
    that early averages are not dominated by the initial weights. Floating-point parameters
    are averaged; persistent buffers (and integer tensors) are copied;
    non-persistent buffers (masks, permutations) are left alone.

    Args:
        model: the model (not a DDP wrapper) whose weights are averaged.
        decay: the target decay ``d`` in ``(0, 1)``.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"ema_decay must be in (0, 1), got {decay}")
        self.decay = float(decay)
        self.updates = 0
        self.names: list[str] = []
        self.params: list[Tensor] = []
        self.shadow: list[Tensor] = []
        for name, p in model.named_parameters():
            if p.is_floating_point():
                self.names.append(name)
                self.params.append(p)
                self.shadow.append(p.detach().clone())
        self._sources = [p.detach() for p in self.params]  # views: no per-step allocation
        self.buffer_names: list[str] = []
        self.buffers: list[Tensor] = []
        self.shadow_buffers: list[Tensor] = []
        persistent = set(model.state_dict(keep_vars=True))
        for name, b in model.named_buffers():
            if name not in persistent:  # non-persistent buffers are rebuilt, never saved
                continue
            self.buffer_names.append(name)
            self.buffers.append(b)
            self.shadow_buffers.append(b.detach().clone())

    @torch.no_grad()
    def update(self) -> None:
        """Moves the average towards the current weights (no host synchronisation)."""
        self.updates += 1
        d = min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))
        torch._foreach_lerp_(self.shadow, self._sources, 1.0 - d)
        for s, b in zip(self.shadow_buffers, self.buffers):
            s.copy_(b)

    def state_dict(self) -> dict[str, Tensor]:
        """The averaged weights under the model's own state-dict names."""
        out = dict(zip(self.names, self.shadow))
        out.update(zip(self.buffer_names, self.shadow_buffers))
        return out

    @torch.no_grad()
    def load_state_dict(self, state: dict[str, Tensor], updates: int = 0) -> None:
        """Restores the averaged weights (and the update count) saved by :meth:`state_dict`."""
        missing = [k for k in (*self.names, *self.buffer_names) if k not in state]
        if missing:
            raise KeyError(f"EMA state lacks {missing[0]!r}")
        for name, s in zip(self.names, self.shadow):
            s.copy_(state[name])
        for name, s in zip(self.buffer_names, self.shadow_buffers):
            s.copy_(state[name])
        self.updates = int(updates)

    @contextmanager
    def applied(self) -> Iterator[None]:
        """Temporarily puts the averaged weights into the model (for validation, sampling)."""
        with torch.no_grad():
            saved = [p.detach().clone() for p in self.params]
            saved_b = [b.detach().clone() for b in self.buffers]
            torch._foreach_copy_(self.params, self.shadow)
            for b, s in zip(self.buffers, self.shadow_buffers):
                b.copy_(s)
        try:
            yield
        finally:
            with torch.no_grad():
                torch._foreach_copy_(self.params, saved)
                for b, s in zip(self.buffers, saved_b):
                    b.copy_(s)
