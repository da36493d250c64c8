"""Accumulating metrics: ``update`` batch by batch, ``compute`` once, reduced across processes.

A :class:`Metric` declares its state tensors with :meth:`Metric.add_state` and how two
shards of a state combine: ``"sum"``, ``"max"``, ``"min"`` (reduced with
``torch.distributed.all_reduce``) or ``"cat"`` (rows gathered from every process with
``all_gather``, padded to the largest shard and trimmed). :meth:`Metric.compute` reduces a copy
of the states over the default process group when ``torch.distributed`` is initialised and
then calls :meth:`Metric.compute_from`; the local states are left as they were, so
``update`` may continue. :meth:`Metric.merge` applies the same reductions to the states of
another instance (shards in one process: what the tests use to pin the reduction).

Sum-reducible statistics (counts, sums, ``Σx``, ``Σxxᵀ``) in float64 make a distributed result
equal to the single-process one up to summation order. Sample-based metrics (MMD) keep their
samples (``"cat"``): memory grows with the data; subsample first.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import Tensor

from ..errors import InputError

REDUCTIONS = ("sum", "max", "min", "cat")


def _combine(reduce: str, a: Tensor, b: Tensor) -> Tensor:
    if reduce == "sum":
        return a + b
    if reduce == "max":
        return torch.maximum(a, b)
    if reduce == "min":
        return torch.minimum(a, b)
    return torch.cat([a, b])


def _all_reduce(reduce: str, t: Tensor) -> Tensor:
    import torch.distributed as dist

    if reduce != "cat":
        op = {"sum": dist.ReduceOp.SUM, "max": dist.ReduceOp.MAX, "min": dist.ReduceOp.MIN}
        out = t.clone()
        dist.all_reduce(out, op=op[reduce])
        return out
    world = dist.get_world_size()
    size = torch.tensor([t.shape[0]], device=t.device)
    sizes = [torch.zeros_like(size) for _ in range(world)]
    dist.all_gather(sizes, size)
    longest = int(max(int(s) for s in sizes))
    pad = t.new_zeros((longest - t.shape[0], *t.shape[1:]))
    padded = torch.cat([t, pad])
    parts = [torch.zeros_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded)
    return torch.cat([p[: int(s)] for p, s in zip(parts, sizes, strict=True)])


def distributed_ready() -> bool:
    """Whether ``torch.distributed`` is available, initialised and has more than one rank."""
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


class Metric(ABC):
    """A metric with declared, reducible state tensors (update / compute / reset)."""

    def __init__(self) -> None:
        self._defaults: dict[str, Tensor] = {}
        self._reductions: dict[str, str] = {}

    def add_state(self, name: str, default: Tensor, reduce: str) -> None:
        """Declares a state: its initial value and its cross-shard reduction."""
        if reduce not in REDUCTIONS:
            raise InputError(f"reduce must be one of {REDUCTIONS}, got {reduce!r}")
        self._defaults[name] = default.detach().clone()
        self._reductions[name] = reduce
        setattr(self, name, default.detach().clone())

    def states(self) -> dict[str, Tensor]:
        """The current local states."""
        return {k: getattr(self, k) for k in self._defaults}

    def reset(self) -> None:
        """Back to the initial states."""
        for k, v in self._defaults.items():
            setattr(self, k, v.clone())

    def merge(self, other: Metric) -> Metric:
        """Folds ``other``'s states (a shard of the same metric) into this one; returns self."""
        if type(other) is not type(self) or other._reductions != self._reductions:
            raise InputError("merge: the two metrics are not of the same kind")
        for k, r in self._reductions.items():
            setattr(self, k, _combine(r, getattr(self, k), getattr(other, k)))
        return self

    def reduced_states(self) -> dict[str, Tensor]:
        """The states reduced over all processes (the local ones without distribution)."""
        s = self.states()
        if not distributed_ready():
            return s
        return {k: _all_reduce(self._reductions[k], v) for k, v in s.items()}

    @abstractmethod
    def update(self, *args: Tensor) -> None:
        """Adds a batch to the states."""

    @abstractmethod
    def compute_from(self, states: dict[str, Tensor]) -> dict[str, float]:
        """The metric's values from (reduced) states."""

    def compute(self) -> dict[str, float]:
        """The metric over everything seen by every process."""
        return self.compute_from(self.reduced_states())
