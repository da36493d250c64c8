r"""Mixed precision and compilation for the trainer: ``train.precision`` and ``train.compile``.

``fp32`` runs as is. ``bf16`` runs every objective's forward under
:func:`torch.autocast` with ``torch.bfloat16`` (CPU and CUDA): matrix products and
convolutions in bfloat16, reductions and the loss in float32; parameters, gradients and the
optimiser state stay float32, so no loss scaling is needed (bfloat16 has float32's exponent
range). ``fp16`` autocasts to ``torch.float16`` and scales the loss by a dynamic factor
:math:`s` (a :class:`torch.amp.GradScaler`): the backward pass computes
:math:`\nabla(sL)` so that small gradients do not underflow float16, the gradients are divided
by :math:`s` before the finiteness check and clipping, and a step whose scaled gradients
overflowed is skipped while :math:`s` is halved (doubled again after 2000 good steps).

Reference: Micikevicius et al., "Mixed Precision Training", ICLR 2018,
https://arxiv.org/abs/1710.03740

``fp16`` on the CPU is refused by the trainer (one line naming ``train.precision``): CPU
float16 kernels are slow or missing, and bfloat16 is the CPU's reduced precision.
:class:`Precision` itself is device-generic (``allow_cpu_fp16=True`` lets the tests exercise
the scaler on the CPU).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import InputError

__all__ = ["PRECISIONS", "Precision", "maybe_compile"]

#: The accepted values of ``train.precision`` and their autocast dtypes.
PRECISIONS: dict[str, torch.dtype | None] = {
    "fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16,
}


class Precision:
    """Autocast and (for fp16) loss scaling around one trainer's optimiser steps.

    Args:
        name: ``"fp32"``, ``"bf16"`` or ``"fp16"``.
        device: where training runs.
        allow_cpu_fp16: accept ``fp16`` on the CPU (tests only).

    Raises:
        InputError: for an unknown name, or ``fp16`` on the CPU.
    """

    def __init__(self, name: str, device: torch.device, *, allow_cpu_fp16: bool = False) -> None:
        if name not in PRECISIONS:
            raise InputError(f"train.precision: {name!r} is not one of {', '.join(PRECISIONS)}")
        if name == "fp16" and device.type == "cpu" and not allow_cpu_fp16:
            raise InputError("train.precision = 'fp16' needs a CUDA device; use 'bf16' on the "
                             "CPU")
        self.name = name
        self.device = device
        self.dtype = PRECISIONS[name]
        self.scaler = (torch.amp.GradScaler(device.type) if name == "fp16" else None)

    def autocast(self) -> AbstractContextManager[Any]:
        """The autocast context of the forward pass (a no-op for fp32)."""
        if self.dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def wrap(self, call: Callable[[Any], Tensor]) -> Callable[[Any], Tensor]:
        """``call`` run under :meth:`autocast`; the loss comes back as float32."""
        if self.dtype is None:
            return call

        def run(batch: Any) -> Tensor:
            with self.autocast():
                loss = call(batch)
            return loss.float()

        return run

    def backward(self, loss: Tensor) -> None:
        """``loss.backward()``, of the scaled loss under fp16."""
        (loss if self.scaler is None else self.scaler.scale(loss)).backward()

    def unscale(self, opt: torch.optim.Optimizer) -> None:
        """Divides ``opt``'s gradients by the loss scale (fp16; before checks and clipping)."""
        if self.scaler is not None:
            self.scaler.unscale_(opt)

    def step(self, opt: torch.optim.Optimizer) -> None:
        """The optimiser step (and the scale update under fp16)."""
        if self.scaler is None:
            opt.step()
            return
        self.scaler.step(opt)
        self.scaler.update()

    def absorbed(self, loss: Tensor) -> bool:
        """Whether a bad step is the scaler's overflow (finite loss, fp16): the scale is then
        lowered and the step is not counted as non-finite. ``False`` otherwise."""
        if self.scaler is None:
            return False
        self.scaler.update()  # after unscale_, whatever happens next
        return bool(torch.isfinite(loss).all())

    def state_dict(self) -> dict[str, Any]:
        """The scaler's state (empty without one)."""
        return {} if self.scaler is None else self.scaler.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores :meth:`state_dict` (ignored without a scaler)."""
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)


def maybe_compile(module: nn.Module, enabled: bool, *, hooks: bool) -> Callable[[Any], Tensor]:
    """``torch.compile(module)`` when ``enabled`` (the first call compiles); else ``module``
    itself when its ``__call__`` matters (``hooks``: a DDP wrapper), or ``module.forward``
    (skipping ``nn.Module.__call__`` overhead)."""
    if enabled:
        return torch.compile(module)
    return module if hooks else module.forward
