"""Multi-process training under ``torchrun``: process group, devices, per-phase DDP wrappers.

A plain ``DistributedDataParallel(model)`` synchronises gradients only through
``model.forward``, but objectives call model methods such as ``log_prob`` or ``sample``.
Here each phase gets a small :class:`PhaseStep` module whose ``forward(batch)`` *is* the
objective's loss for that phase; wrapping it in DDP makes every backward of that phase an
all-reduced (averaged) one, whatever model methods the objective calls. Parameters a phase
does not touch are handled by ``find_unused_parameters=True``; wrappers of other phases stay
idle during a phase's backward because a DDP reducer only reacts to backwards that follow its
own forward.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor, nn

from ..core import Batch, LossOutput, Objective

__all__ = [
    "DistInfo", "PhaseStep", "all_reduce_max", "barrier", "cleanup", "gather_rng_states",
    "init_distributed", "is_main_process", "launched_rank", "wrap_phase",
]


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands.

    Attributes:
        rank: global rank (0 without a process group).
        world_size: number of processes (1 without a process group).
        local_rank: rank on this machine (selects the CUDA device).
        owns_group: whether :func:`init_distributed` created the process group (and so
            :func:`cleanup` destroys it).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    owns_group: bool = False

    @property
    def enabled(self) -> bool:
        """Whether there is more than one process."""
        return self.world_size > 1


def launched_rank() -> int:
    """The global rank ``torchrun`` gave this process (``RANK``; 0 outside ``torchrun``),
    known before and after any process group exists."""
    return int(os.environ.get("RANK", "0"))


def is_main_process() -> bool:
    """Rank 0, or no process group at all."""
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def init_distributed(device_kind: str = "cpu", timeout_s: float = 120.0) -> DistInfo:
    """Joins the process group when ``WORLD_SIZE > 1`` (``torchrun`` sets it).

    Args:
        device_kind: ``"cuda"`` selects NCCL and the device of ``LOCAL_RANK``; else gloo.
        timeout_s: the collective timeout (short, so that a dead peer fails fast).
    """
    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(),
                        int(os.environ.get("LOCAL_RANK", dist.get_rank())), False)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    backend = "nccl" if device_kind == "cuda" else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    # A fresh key prefix per group: a process that trains several models in turn (``compare``)
    # creates and destroys one group per fit, and torch restarts its own key counter after
    # ``destroy_process_group``, so the second group would read the first one's stale
    # addresses from the shared rendezvous store.
    global _GROUPS
    _GROUPS += 1
    store, _, _ = next(dist.rendezvous("env://"))
    dist.init_process_group(backend, store=dist.PrefixStore(f"genmodels/{_GROUPS}", store),
                            rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=timeout_s))
    return DistInfo(rank, world, local_rank, True)


_GROUPS = 0


def cleanup(info: DistInfo) -> None:
    """Destroys the process group if :func:`init_distributed` created it."""
    if info.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    """Waits for every rank (a no-op in a single process)."""
    if info.enabled:
        dist.barrier()


def all_reduce_max(t: Tensor, info: DistInfo) -> Tensor:
    """The element-wise maximum over ranks (in place; a no-op in a single process)."""
    if info.enabled:
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return t


def gather_rng_states(state: Tensor, info: DistInfo) -> list[Tensor]:
    """Every rank's RNG state (a ``uint8`` tensor of the same length on all ranks)."""
    if not info.enabled:
        return [state]
    out = [torch.empty_like(state) for _ in range(info.world_size)]
    dist.all_gather(out, state)
    return out


class PhaseStep(nn.Module):
    """``forward(batch)`` = the objective's loss for one phase, so DDP sees every backward.

    Args:
        model: the model (registered as a submodule, so DDP finds its parameters).
        objective: the objective (not a module; kept as a plain attribute).
        phase: the phase name.
    """

    def __init__(self, model: nn.Module, objective: Objective, phase: str) -> None:
        super().__init__()
        self.model = model
        self._call: Callable[[nn.Module, Batch, str], LossOutput] = objective.__call__
        self.phase = phase
        self.last: LossOutput | None = None

    def forward(self, batch: Batch) -> Tensor:
        """Runs the objective; keeps the :class:`LossOutput` in :attr:`last` for logging."""
        out = self._call(self.model, batch, self.phase)
        self.last = out
        return out.loss


def wrap_phase(step: PhaseStep, info: DistInfo, device: torch.device) -> nn.Module:
    """Wraps a phase in DDP when running distributed (else returns it as is)."""
    if not info.enabled:
        return step
    from torch.nn.parallel import DistributedDataParallel as DDP

    ids = [device.index] if device.type == "cuda" else None
    return DDP(step, device_ids=ids, find_unused_parameters=True, broadcast_buffers=True)
