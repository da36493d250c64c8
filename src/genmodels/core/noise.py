r"""Batch-sharded noise: a DDP run draws the same noise per data point as one process.

Under data parallelism each rank holds rows ``rank::world`` of the global batch (the
loader's interleaved shards, :mod:`genmodels.data.loader`). A stochastic objective (diffusion's
:math:`(t, \varepsilon)`, a GAN's latents, a VAE's reparameterisation noise, Hutchinson
probes) would draw per-rank noise, so a 2-process run would differ from a 1-process run with
the same global batch. Inside :func:`sharded_noise` (which the Trainer opens around every
objective call) every draw made through :func:`randn`, :func:`rand` or :func:`randint` is
taken for the **whole global batch** from a generator seeded by a key that every rank shares
(seed, step, phase, micro-batch, and the draw's index in the call), and each rank keeps its
rows. Data point :math:`i` of the global batch then sees the same noise whatever the number
of processes, and the averaged DDP gradient equals the one-process gradient up to float
summation order. The cost is the noise of the global batch on each rank, small next to the
networks.

Outside the context (sampling, evaluation, user code) the functions draw from ``generator``
or the global RNG as :func:`torch.randn` does.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import torch
from torch import Tensor

_MIX = 0x9E3779B97F4A7C15


@dataclass
class _Sharding:
    key: int
    rank: int
    world: int
    draws: int = 0


_ACTIVE: ContextVar[_Sharding | None] = ContextVar("genmodels_sharded_noise", default=None)


def shard_key(*parts: int) -> int:
    """A 63-bit seed mixing integer ``parts`` (seed, step, phase, micro-batch…)."""
    h = 0
    for p in parts:
        h = ((h ^ (int(p) & 0xFFFFFFFFFFFFFFFF)) * _MIX + 0x632BE59BD9B4E019) & 0xFFFFFFFFFFFFFFFF
    return h >> 1


@contextmanager
def sharded_noise(key: int, rank: int = 0, world: int = 1) -> Iterator[None]:
    """Draws inside take the global batch's noise from ``key`` and keep rows ``rank::world``.

    Args:
        key: the seed shared by every rank for this objective call (see :func:`shard_key`).
        rank: this process's rank.
        world: the number of processes.
    """
    token = _ACTIVE.set(_Sharding(key, rank, world))
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def _draw(fill, shape: tuple[int, ...], batch_dim: int, generator: torch.Generator | None,
          device: torch.device | str | None) -> Tensor:
    s = _ACTIVE.get()
    if s is None or generator is not None or not shape:
        return fill(shape, generator, device)
    g = torch.Generator(device=device if device is not None else "cpu")
    g.manual_seed(shard_key(s.key, s.draws))
    s.draws += 1
    if s.world == 1:
        return fill(shape, g, device)
    full = list(shape)
    full[batch_dim] *= s.world
    out = fill(tuple(full), g, device)
    index = torch.arange(s.rank, full[batch_dim], s.world, device=out.device)
    return out.index_select(batch_dim, index)


def randn(shape: tuple[int, ...], *, batch_dim: int = 0,
          generator: torch.Generator | None = None, device: torch.device | str | None = None,
          dtype: torch.dtype | None = None) -> Tensor:
    """Standard normal noise of ``shape``, sharded along ``batch_dim`` inside the context."""
    return _draw(lambda sh, g, d: torch.randn(sh, generator=g, device=d, dtype=dtype),
                 tuple(shape), batch_dim, generator, device)


def rand(shape: tuple[int, ...], *, batch_dim: int = 0,
         generator: torch.Generator | None = None, device: torch.device | str | None = None,
         dtype: torch.dtype | None = None) -> Tensor:
    """Uniform :math:`[0, 1)` noise of ``shape``, sharded along ``batch_dim`` in the context."""
    return _draw(lambda sh, g, d: torch.rand(sh, generator=g, device=d, dtype=dtype),
                 tuple(shape), batch_dim, generator, device)


def randint(low: int, high: int, shape: tuple[int, ...], *, batch_dim: int = 0,
            generator: torch.Generator | None = None,
            device: torch.device | str | None = None) -> Tensor:
    """Integers uniform in ``[low, high)``, sharded along ``batch_dim`` in the context."""
    return _draw(lambda sh, g, d: torch.randint(low, high, sh, generator=g, device=d),
                 tuple(shape), batch_dim, generator, device)


def randn_like(x: Tensor, *, batch_dim: int = 0) -> Tensor:
    """:func:`randn` with ``x``'s shape, dtype and device."""
    return randn(tuple(x.shape), batch_dim=batch_dim, device=x.device, dtype=x.dtype)
