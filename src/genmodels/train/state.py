"""Helpers of the trainer: per-phase state, gradient norms, RNG state, validation."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ..config import TrainConfig
from ..core import Batch, Objective, Phase
from ..data.loader import take
from . import distributed as D
from .ema import EMA
from .schedule import LRSchedule

__all__ = ["PhaseState", "guard_value", "restore_rng", "rng_state", "split_data", "validate"]

log = logging.getLogger("genmodels.train")

#: Offset of the seed that validation runs under (its own stream, so that validating never
#: moves the training RNG and every validation sees the same noise).
VAL_SEED_OFFSET = 7919


@dataclass
class PhaseState:
    """One phase of the objective with its optimiser, schedule and (DDP) step module.

    Attributes:
        call: what computes the phase's loss from a batch: the DDP wrapper under DDP, else
            the step module's ``forward`` (skipping ``nn.Module.__call__`` overhead).
        last_loss: the last training loss (a tensor; converted only on log steps).
        last_norm: the last gradient norm, or per-tensor norms (converted on log steps).
    """

    phase: Phase
    params: list[nn.Parameter]
    opt: torch.optim.Optimizer
    sched: LRSchedule
    step: D.PhaseStep
    wrapper: nn.Module
    call: Callable[[Batch], Tensor]
    found_inf: Tensor
    last_loss: Tensor | None = None
    last_norm: Tensor | None = None

    def grad_norm(self) -> float | None:
        """The global gradient norm of the last optimiser step (before clipping)."""
        if self.last_norm is not None:
            return float(self.last_norm)
        grads = [p.grad for p in self.params if p.grad is not None]
        if not grads:
            return None
        return float(torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))))


def guard_value(loss: Tensor, ph: PhaseState, clip: float) -> Tensor:
    """A scalar that is finite and zero-free of flags exactly when ``loss`` and the gradients
    of ``ph`` are finite: the step is good iff the returned value is finite and ``loss*0``-like
    (``0`` without clipping, a finite norm with clipping).

    Clips the gradients to global norm ``clip`` first when ``clip > 0``. A few kernels and no
    host synchronisation: the caller makes the one check per optimiser step.
    """
    if clip > 0:
        norm = torch.nn.utils.clip_grad_norm_(ph.params, clip, foreach=True)
        ph.last_norm = norm
        return loss * 0 + norm * 0
    grads = [p.grad for p in ph.params if p.grad is not None]
    if not grads:
        return loss * 0
    try:  # one fused kernel: sets found_inf to 1 if any gradient is inf or NaN
        torch._amp_foreach_non_finite_check_and_unscale_(grads, ph.found_inf, _one(ph))
    except (RuntimeError, AttributeError):  # an unsupported dtype or mixed devices
        norms = torch._foreach_norm(grads)
        return torch.stack([loss, *norms]).sum() * 0
    return loss * 0 + ph.found_inf


_ONES: dict[torch.device, Tensor] = {}


def _one(ph: PhaseState) -> Tensor:
    dev = ph.found_inf.device
    one = _ONES.get(dev)
    if one is None:
        one = _ONES[dev] = torch.ones(1, device=dev)
    return one


def split_data(data: Any) -> tuple[Any, Any, Any]:
    """``(x, cond, y)`` of a :class:`Batch`, or ``(data, None, None)``."""
    if isinstance(data, Batch):
        return data.x, data.cond, data.y
    return data, None, None


def rng_state(info: D.DistInfo, device: torch.device) -> dict[str, list[Tensor]]:
    """The global RNG state of every rank (gathered; a collective under DDP)."""
    out = {"torch": [t.cpu() for t in D.gather_rng_states(torch.get_rng_state(), info)]}
    if device.type == "cuda":
        cuda = torch.cuda.get_rng_state(device)
        gathered = D.gather_rng_states(cuda.to(device) if info.enabled else cuda, info)
        out["cuda"] = [t.cpu() for t in gathered]
    return out


def restore_rng(rng: dict[str, Any], info: D.DistInfo, device: torch.device,
                fallback_seed: int) -> None:
    """Restores this rank's RNG state (reseeds when the world size changed)."""
    states = rng.get("torch", [])
    if len(states) != info.world_size:
        log.warning("checkpoint from %d processes resumed on %d: RNG reseeded",
                    len(states), info.world_size)
        torch.manual_seed(fallback_seed)
        return
    torch.set_rng_state(states[info.rank].to(torch.uint8))
    if device.type == "cuda" and len(rng.get("cuda", [])) == info.world_size:
        torch.cuda.set_rng_state(rng["cuda"][info.rank].to(torch.uint8), device)


def validate(model: nn.Module, objective: Objective, val: Any, ema: EMA | None,
             config: TrainConfig, device: torch.device, world_size: int = 1) -> float | None:
    """The mean of ``objective.validation_loss`` over ``val`` (weighted by batch size).

    The model is in eval mode, with the EMA weights when EMA is on, and runs under its own
    seeded RNG stream (the training RNG is left untouched), in chunks of the global batch
    (``batch_size × world_size``), so a stochastic validation loss draws the same noise under
    DDP as in one process. ``None`` when the objective has no validation loss.
    """
    x, cond, y = split_data(val)
    n = len(x)
    if n == 0:
        return None
    was_training = model.training
    model.eval()
    devices = [device.index if device.index is not None else torch.cuda.current_device()] \
        if device.type == "cuda" else []
    total = torch.zeros((), dtype=torch.float64, device=device)
    try:
        with torch.random.fork_rng(devices=devices), (ema.applied() if ema else nullcontext()):
            torch.manual_seed(config.seed + VAL_SEED_OFFSET)
            chunk = config.batch_size * max(world_size, 1)
            for start in range(0, n, chunk):
                idx = torch.arange(start, min(start + chunk, n))
                batch = Batch(take(x, idx), None if cond is None else take(cond, idx),
                              None if y is None else take(y, idx)).to(device)
                v = objective.validation_loss(model, batch)
                if v is None:
                    return None
                total += v.detach().to(torch.float64) * len(idx)
    finally:
        model.train(was_training)
    return float(total / n)
