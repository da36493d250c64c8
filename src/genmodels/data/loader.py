"""An infinite, resumable batch sampler over in-memory or memory-mapped data.

Each epoch is a random permutation drawn from a :class:`torch.Generator` seeded with
``(seed, epoch)``, so the state ``(epoch, position, seed)`` is all that a checkpoint needs: on
resume the permutation is regenerated, not stored. Under :mod:`torch.distributed` every rank
draws the same permutation and takes its ``rank::world_size`` slice (the permutation padded by
wrapping around to a multiple of ``world_size``, as ``DistributedSampler`` does), so shards are
disjoint up to that padding and every rank makes the same number of batches per epoch.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..core import Batch, noise
from .preprocess import Prepared

__all__ = ["BatchLoader", "Rows", "take"]

# A large odd constant mixes the epoch into the seed of that epoch's permutation.
_EPOCH_MIX = 0x9E3779B97F4A7C15 % (1 << 62)


class Rows:
    """A lazy row subset ``data[index]`` of a (memory-mapped) array: nothing is copied until a
    batch is taken, so a training split of a file larger than memory stays on disk.

    Args:
        data: a numpy array or memory map ``(N, *D)``.
        index: the row numbers ``(M,)`` of the subset (any order).
    """

    def __init__(self, data: np.ndarray, index: np.ndarray) -> None:
        self.data, self.index = data, np.asarray(index, dtype=np.int64)
        self.shape = (len(self.index), *data.shape[1:])
        self.dtype = data.dtype

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, key: Any) -> np.ndarray:
        rows = self.index[key]
        order = np.argsort(rows, kind="stable")  # sorted reads are sequential on disk
        out = np.empty((len(rows), *self.data.shape[1:]), dtype=self.data.dtype)
        out[order] = self.data[rows[order]]
        return out


def take(data: Any, index: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Rows ``index`` of ``data`` as a tensor.

    Args:
        data: a tensor, a numpy array (memory-mapped too), a
            :class:`~genmodels.data.preprocess.Prepared` view (transformed, dequantised with
            ``generator`` noise) or any sequence of rows.
        index: a 1-D ``int64`` tensor of row numbers.
        generator: the noise of a :class:`Prepared` view of discrete data.
    """
    if isinstance(data, Prepared):
        return data.take(index, generator)
    if isinstance(data, Tensor):
        if data.device.type != "cpu":
            index = index.to(data.device)
        return data.index_select(0, index)
    if isinstance(data, (np.ndarray, Rows)):
        return torch.as_tensor(np.asarray(data[index.numpy()]))
    rows = [torch.as_tensor(np.asarray(data[int(i)])) for i in index]
    return torch.stack(rows)


def _dist_info() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class BatchLoader:
    """Yields :class:`~genmodels.core.Batch` objects forever, in a resumable order.

    Args:
        data: training points ``(N, *D)``: a tensor, a numpy array or memmap, or any indexable.
        batch_size: points per batch (per rank); a shard smaller than this gives whole-shard
            batches.
        seed: the seed of the data order (independent of the global RNG).
        cond: optional per-point context ``(N, C)``, indexed like ``data``.
        y: optional per-point labels ``(N,)``, indexed like ``data``.
        rank: this process's rank (default: from :mod:`torch.distributed`, else 0).
        world_size: the number of processes (default: from :mod:`torch.distributed`, else 1).
        device: where batches go (default: where ``data`` is). Data already there is only
            indexed; host data bound for CUDA is copied through pinned memory
            (``non_blocking``), e.g. the dequantised images of a
            :class:`~genmodels.data.preprocess.Prepared` view.
    """

    def __init__(
        self,
        data: Any,
        batch_size: int,
        *,
        seed: int = 0,
        cond: Any = None,
        y: Any = None,
        rank: int | None = None,
        world_size: int | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        n = len(data)
        if n == 0:
            raise ValueError("the training data is empty")
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        d_rank, d_world = _dist_info()
        self.rank = d_rank if rank is None else rank
        self.world_size = d_world if world_size is None else world_size
        self.data, self.cond, self.y = data, cond, y
        self.n = n
        self.seed = int(seed)
        self.device = None if device is None else torch.device(device)
        self.shard_size = -(-n // self.world_size)
        self.batch_size = min(batch_size, self.shard_size)
        self.batches_per_epoch = self.shard_size // self.batch_size
        self.epoch = 0
        self.position = 0
        self._shard: Tensor | None = None
        self._move = self.device is not None and not (
            isinstance(data, Tensor) and data.device == self.device
            and (cond is None or isinstance(cond, Tensor) and cond.device == self.device)
            and (y is None or isinstance(y, Tensor) and y.device == self.device))

    def __len__(self) -> int:
        """Batches per epoch on this rank."""
        return self.batches_per_epoch

    def permutation(self, epoch: int) -> Tensor:
        """The permutation of epoch ``epoch`` (the same on every rank)."""
        g = torch.Generator().manual_seed((self.seed * _EPOCH_MIX + epoch) % (1 << 63))
        return torch.randperm(self.n, generator=g)

    def _make_shard(self) -> Tensor:
        perm = self.permutation(self.epoch)
        total = self.shard_size * self.world_size
        if total > self.n:
            perm = torch.cat([perm, perm[: total - self.n]])
        return perm[self.rank :: self.world_size]

    def next_index(self) -> Tensor:
        """The row numbers of the next batch; advances the state."""
        if self.position >= self.batches_per_epoch:
            self.epoch += 1
            self.position = 0
            self._shard = None
        if self._shard is None:
            self._shard = self._make_shard()
        start = self.position * self.batch_size
        self.position += 1
        return self._shard[start : start + self.batch_size]

    def __next__(self) -> Batch:
        epoch, position = self.epoch, self.position
        index = self.next_index()
        if isinstance(self.data, Prepared) and self.data.levels is not None:
            # Per-batch dequantisation noise: a function of the loader state only, so that a
            # resumed run draws the same noise; drawn for the global batch and sharded like
            # the rows (rank::world), so a data point's noise does not depend on the number
            # of processes.
            if position >= self.batches_per_epoch:
                epoch, position = epoch + 1, 0
            key = ((self.seed * _EPOCH_MIX + epoch) * 1_000_003 + position) % (1 << 63)
            with noise.sharded_noise(key, self.rank, self.world_size):
                x = take(self.data, index)
        else:
            x = take(self.data, index)
        cond = None if self.cond is None else take(self.cond, index)
        y = None if self.y is None else take(self.y, index)
        batch = Batch(x, cond, y)
        if not self._move:
            return batch
        if self.device.type == "cuda":  # page-locked host memory: an asynchronous copy
            batch = Batch(*(None if t is None or t.device.type != "cpu" else t.pin_memory()
                            for t in (batch.x, batch.cond, batch.y)))
        return batch.to(self.device)

    def __iter__(self) -> Iterator[Batch]:
        return self

    def state_dict(self) -> dict[str, int]:
        """The loader's position: ``{"epoch", "position", "seed"}`` (plain ints)."""
        return {"epoch": self.epoch, "position": self.position, "seed": self.seed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores a position saved by :meth:`state_dict`; the permutation is regenerated."""
        self.epoch = int(state["epoch"])
        self.position = int(state["position"])
        self.seed = int(state["seed"])
        self._shard = None
