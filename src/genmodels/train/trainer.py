"""The one trainer for every family: phases, schedules, EMA, validation, checkpoints, DDP.

Faults: SIGINT/SIGTERM stop after the current step with a checkpoint
(:mod:`.signals`); a non-finite loss or gradient skips the step or stops training
(``train.on_nan``); a checkpoint holding a NaN or inf is never written (training stops, the
last good checkpoint stays); a failed write raises :class:`~genmodels.errors.StorageError`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ..config import TrainConfig
from ..core import Objective, noise
from ..core.model import with_label_counts
from ..data.loader import BatchLoader
from ..errors import InputError, NonFiniteLossError, TrainingInterrupted
from . import distributed as D
from .ema import EMA
from .loggers import JsonlLogger, Logger
from .precision import Precision, maybe_compile
from .progress import ProgressBar
from .schedule import LRSchedule
from .signals import StopRequest
from .state import PhaseState, guard_value, restore_rng, rng_state, split_data, validate
from .store import RunStore

__all__ = ["FitResult", "Trainer"]

log = logging.getLogger("genmodels.train")


@dataclass
class FitResult:
    """What :meth:`Trainer.fit` did.

    Attributes:
        steps: the training steps done in total (a resumed run counts its earlier ones).
        stopped: ``"steps"``, ``"budget"`` or ``"early-stopping"``.
        best_val: the best validation loss, or ``None`` without validation.
        nonfinite_skipped: optimiser steps skipped because of a non-finite loss or gradient.
        wall_time: seconds spent in this call.
        last_val: the last validation loss, or ``None``.
        final_loss: the last training loss of the first phase, or ``None``.
        resumed_from: the step the run resumed from, or ``None``.
    """

    steps: int
    stopped: str
    best_val: float | None
    nonfinite_skipped: int
    wall_time: float
    last_val: float | None = None
    final_loss: float | None = None
    resumed_from: int | None = None


def _check_config(c: TrainConfig) -> None:
    for name in ("steps", "warmup_steps", "val_every", "patience", "checkpoint_every",
                 "max_nonfinite", "threads"):
        if getattr(c, name) < 0:
            raise InputError(f"train.{name}: must be >= 0, got {getattr(c, name)}")
    for name in ("batch_size", "accumulate", "log_every"):
        if getattr(c, name) < 1:
            raise InputError(f"train.{name}: must be >= 1, got {getattr(c, name)}")
    if not c.lr > 0:
        raise InputError(f"train.lr: must be > 0, got {c.lr}")
    if not 0.0 <= c.ema_decay < 1.0:
        raise InputError(f"train.ema_decay: must be in [0, 1), got {c.ema_decay}")
    if c.optimizer not in ("adam", "adamw"):
        raise InputError(f"train.optimizer: {c.optimizer!r} is not one of adam, adamw")
    if c.schedule not in ("cosine", "constant"):
        raise InputError(f"train.schedule: {c.schedule!r} is not one of cosine, constant")
    if c.on_nan not in ("skip", "stop"):
        raise InputError(f"train.on_nan: {c.on_nan!r} is not one of skip, stop")


class Trainer:
    """Trains any model with any objective, the same way.

    Args:
        config: the training config (every field is honoured).
        store: the run store for checkpoints and metrics; ``None`` writes no files.
        progress: ``None`` shows a progress bar only when stderr is a terminal; ``True`` or
            ``False`` force it.
        loggers: extra loggers (TensorBoard, MLflow), called on log steps on rank 0.
        metadata: string metadata stored in every checkpoint's safetensors header.
    """

    def __init__(
        self,
        config: TrainConfig,
        *,
        store: RunStore | None = None,
        progress: bool | None = None,
        loggers: Sequence[Logger] = (),
        metadata: dict[str, str] | None = None,
    ) -> None:
        _check_config(config)
        self.config = config
        self.store = store
        self.progress = progress
        self.loggers: list[Logger] = list(loggers)
        self.metadata = {str(k): str(v) for k, v in (metadata or {}).items()}
        #: the weight average of the last :meth:`fit` (``None`` without ``ema_decay``): what
        #: a run without a store samples with, since no checkpoint holds it.
        self.ema: EMA | None = None

    # -- set-up --------------------------------------------------------------------------------

    def _device(self, info: D.DistInfo) -> torch.device:
        want = self.config.device
        if want == "auto":
            want = "cuda" if torch.cuda.is_available() else "cpu"
        if want == "cuda":
            if not torch.cuda.is_available():
                raise InputError("train.device = 'cuda' but no CUDA device is available")
            return torch.device("cuda", info.local_rank if info.enabled else
                                torch.cuda.current_device())
        return torch.device("cpu")

    def _phases(self, model: nn.Module, objective: Objective, info: D.DistInfo,
                device: torch.device) -> list[PhaseState]:
        c = self.config
        out = []
        for phase in objective.phases:
            seen: set[int] = set()
            params = []
            for p in objective.parameters(model, phase.name):
                if p.requires_grad and id(p) not in seen:
                    seen.add(id(p))
                    params.append(p)
            if not params:
                raise ValueError(f"phase {phase.name!r} has no trainable parameters")
            lr = c.lr * phase.lr_scale
            opt_cls = torch.optim.AdamW if c.optimizer == "adamw" else torch.optim.Adam
            # The fused kernel (CPU and CUDA) is several times faster than the per-tensor
            # loop for the many small tensors of typical models; same update rule.
            fused = device.type in ("cpu", "cuda") and all(p.is_floating_point() for p in params)
            opt = opt_cls(params, lr=lr, betas=tuple(c.betas), weight_decay=c.weight_decay,
                          fused=fused or None)
            sched = LRSchedule(opt, lr, c.steps, warmup=c.warmup_steps, kind=c.schedule,
                               min_ratio=c.min_lr_ratio)
            step = D.PhaseStep(model, objective, phase.name)
            wrapper = D.wrap_phase(step, info, device)
            call = self._amp.wrap(maybe_compile(wrapper, c.compile, hooks=info.enabled))
            found_inf = torch.zeros(1, device=device)
            out.append(PhaseState(phase, params, opt, sched, step, wrapper, call, found_inf))
        return out

    # -- the public entry point ----------------------------------------------------------------

    def fit(
        self,
        model: nn.Module,
        objective: Objective,
        train: Any,
        val: Any = None,
        resume: bool = False,
    ) -> FitResult:
        """Trains ``model`` on ``train`` and returns a :class:`FitResult`.

        Args:
            model: the model (moved to the configured device in place).
            objective: the objective with its phases.
            train: training points ``(N, *D)`` (tensor, numpy array or memmap), or a
                :class:`~genmodels.core.Batch` carrying ``cond``/``y`` too.
            val: validation points (same forms), or ``None``.
            resume: continue from the store's ``last`` checkpoint (a fresh start when there
                is none yet).

        Raises:
            NonFiniteLossError: at a non-finite loss or gradient (``on_nan = "stop"``), after
                ``max_nonfinite`` of them in a row (``"skip"``), or when the weights, EMA
                weights or optimiser state to be checkpointed are not finite.
            TrainingInterrupted: after SIGINT or SIGTERM, once the ``last`` checkpoint of the
                step reached is written.
            StorageError: when a checkpoint or the metrics cannot be written.
            InputError: for a bad config or an unreadable checkpoint.
        """
        if resume and self.store is None:
            raise InputError("resume needs a run store (a run directory)")
        device_kind = self._device(D.DistInfo()).type
        info = D.init_distributed(device_kind)
        bar = None
        try:
            device = self._device(info)
            bar = ProgressBar(self.config.steps, enabled=(self.progress if info.rank == 0
                                                          else False))
            with StopRequest() as stop:
                self._stop = stop
                return self._fit(model, objective, train, val, resume, info, device, bar)
        finally:
            close = getattr(objective, "close", None)
            if close is not None:  # worker threads (flow matching's coupling pipeline)
                close()
            if bar is not None:
                bar.close()
            if info.rank == 0:
                for lg in self.loggers:
                    lg.close()
            D.cleanup(info)

    # -- the loop --------------------------------------------------------------------------------

    def _fit(self, model: nn.Module, objective: Objective, train: Any, val: Any, resume: bool,
             info: D.DistInfo, device: torch.device, bar: ProgressBar) -> FitResult:
        c = self.config
        t_start = time.perf_counter()
        self._clock = (t_start, 0.0)
        if c.threads:
            torch.set_num_threads(c.threads)
        model.to(device)
        model.train()
        torch.manual_seed(c.seed + info.rank)
        self._amp = Precision(c.precision, device)
        phases = self._phases(model, objective, info, device)
        ema = EMA(model, c.ema_decay) if c.ema_decay > 0 else None
        self.ema = ema
        x, cond, y = split_data(train)
        # tensors go to the device once (no per-step host copies); the rest is pinned
        x, cond, y = (t.to(device) if isinstance(t, Tensor) else t for t in (x, cond, y))
        loader = BatchLoader(x, c.batch_size, seed=c.seed, cond=cond, y=y,
                             rank=info.rank, world_size=info.world_size, device=device)
        self._loggers = ([JsonlLogger(self.store)] if self.store is not None else [])
        self._loggers += self.loggers if info.rank == 0 else []

        s = {"step": 0, "nonfinite_total": 0, "nonfinite_in_a_row": 0, "best_val": None,
             "bad_validations": 0, "elapsed": 0.0}
        resumed_from = None
        if resume and self.store.has_checkpoint("last"):
            resumed_from = self._restore(model, phases, ema, loader, s, info, device)
        elif resume:
            log.warning("%s: no checkpoint yet; starting from step 0", self.store.path)
            self.store.truncate_metrics(0)  # what a run killed before its first checkpoint logged

        step = s["step"]
        bar.reset(step)
        stopped = "steps"
        last_val: float | None = None
        val_step = ckpt_step = -1
        log_t, log_step = time.perf_counter(), step
        elapsed0 = s["elapsed"]
        self._clock = (t_start, elapsed0)
        acc = c.accumulate
        ddp = info.enabled
        while step < c.steps:
            if c.budget and elapsed0 + time.perf_counter() - t_start >= c.budget:
                stopped = "budget"
                break
            updated = False
            for k, ph in enumerate(phases):
                ph.sched.set_step(step)
                for j in range(ph.phase.steps):
                    key = noise.shard_key(c.seed, step, k, j)
                    if self._phase_step(ph, loader, step, s, acc, ddp, info, key):
                        updated = True
            if ema is not None and updated:
                ema.update()
            step += 1
            s["step"] = step
            if bar.due():
                bar.update(step, float(phases[0].last_loss))
            if step % c.log_every == 0 or step == c.steps:
                now = time.perf_counter()
                rate = (step - log_step) / max(now - log_t, 1e-9)
                self._log(step, phases, s, loader, rate)
                log_t, log_step = now, step
            if c.val_every and step % c.val_every == 0 and val is not None:
                last_val = self._validation(model, objective, val, ema, phases, loader, s,
                                            info, device, step)
                val_step = step
                if c.patience and s["bad_validations"] >= c.patience:
                    stopped = "early-stopping"
                    break
            if c.checkpoint_every and step % c.checkpoint_every == 0:
                self._save(model, phases, ema, loader, s, info, device, ("last",))
                ckpt_step = step
            if step < c.steps and self._stop_requested(info, device):
                signum = int(self._stop.signum or 0)
                if ckpt_step != step:
                    self._save(model, phases, ema, loader, s, info, device, ("last",))
                where = None if self.store is None else self.store.checkpoint_dir("last")
                raise TrainingInterrupted(signum, step, where)
        if val is not None and val_step != step:
            last_val = self._validation(model, objective, val, ema, phases, loader, s, info,
                                        device, step)
        if ckpt_step != step:
            self._save(model, phases, ema, loader, s, info, device, ("last",))
        bar.update(step, float(phases[0].last_loss) if phases[0].last_loss is not None
                   else None, force=True)
        final = phases[0].last_loss
        return FitResult(
            steps=step, stopped=stopped, best_val=s["best_val"],
            nonfinite_skipped=s["nonfinite_total"], wall_time=time.perf_counter() - t_start,
            last_val=last_val, final_loss=None if final is None else float(final),
            resumed_from=resumed_from,
        )

    # -- pieces --------------------------------------------------------------------------------

    def _stop_requested(self, info: D.DistInfo, device: torch.device) -> bool:
        """Whether a stop signal came (on any rank: all ranks stop at the same step)."""
        signum = self._stop.signum or 0
        if info.enabled:
            t = D.all_reduce_max(torch.tensor([signum], dtype=torch.int64, device=device), info)
            signum = int(t.item())
            if signum and self._stop.signum is None:
                self._stop.signum = signum
        return bool(signum)

    def _phase_step(self, ph: PhaseState, loader: BatchLoader, step: int, s: dict[str, Any],
                    acc: int, ddp: bool, info: D.DistInfo, key: int) -> bool:
        """One optimiser step of one phase over ``acc`` micro-batches; whether it updated.

        Each objective call draws its noise inside :func:`~genmodels.core.noise.sharded_noise`
        keyed by (seed, step, phase, inner step, micro-batch): per data point the same under
        DDP as in one process, and the same after a resume.
        """
        ph.opt.zero_grad(set_to_none=True)
        if acc == 1:
            with noise.sharded_noise(key, info.rank, info.world_size):
                loss = ph.call(next(loader))
            if loss.requires_grad:
                self._amp.backward(loss)
            total = loss.detach()
        else:
            total = None
            for i in range(acc):
                with ph.wrapper.no_sync() if ddp and i < acc - 1 else nullcontext():
                    with noise.sharded_noise(noise.shard_key(key, i), info.rank,
                                             info.world_size):
                        loss = ph.call(next(loader))
                    if loss.requires_grad:
                        self._amp.backward(loss / acc)
                total = loss.detach() if total is None else total + loss.detach()
            total = total / acc
        ph.last_loss = total
        self._amp.unscale(ph.opt)
        check = guard_value(total, ph, self.config.grad_clip)
        if ddp:  # every rank must take the same decision
            flag = (check != 0).to(torch.uint8)  # NaN != 0 too
            bad = bool(D.all_reduce_max(flag, info))
        else:
            bad = float(check) != 0.0  # NaN != 0 too
        if bad:
            if self._amp.absorbed(total):  # fp16 scale overflow: lower the scale, not counted
                ph.opt.zero_grad(set_to_none=True)
                ph.found_inf.zero_()
                return False
            self._skip(ph, step, s)
            return False
        self._amp.step(ph.opt)
        s["nonfinite_in_a_row"] = 0
        return True

    def _skip(self, ph: PhaseState, step: int, s: dict[str, Any]) -> None:
        ph.opt.zero_grad(set_to_none=True)
        ph.found_inf.zero_()
        s["nonfinite_total"] += 1
        s["nonfinite_in_a_row"] += 1
        n = s["nonfinite_in_a_row"]
        if self.config.on_nan == "stop":
            raise NonFiniteLossError(
                f"training stopped at step {step + 1} (phase {ph.phase.name!r}): the loss or its "
                f"gradient was not finite (train.on_nan = 'stop'); {self._kept()}"
            )
        log.warning("step %d, phase %r: non-finite loss or gradient, step skipped (%d in a row)",
                    step + 1, ph.phase.name, n)
        if self.config.max_nonfinite and n >= self.config.max_nonfinite:
            raise NonFiniteLossError(
                f"training stopped at step {step + 1} (phase {ph.phase.name!r}): the loss or its "
                f"gradient was not finite {n} times in a row (train.max_nonfinite = "
                f"{self.config.max_nonfinite}); try a lower train.lr or set train.grad_clip; "
                f"{self._kept()}"
            )

    def _kept(self) -> str:
        """Which checkpoint is left, for the messages of a stopped run."""
        if self.store is None:
            return "no run directory"
        try:
            step = self.store.checkpoint_step("last") if self.store.writes else None
        except InputError:
            step = None
        return ("no checkpoint was written yet" if step is None
                else f"the last good checkpoint (step {step}) is kept")

    def _log(self, step: int, phases: list[PhaseState], s: dict[str, Any],
             loader: BatchLoader, rate: float) -> None:
        if not self._loggers:
            return
        one = len(phases) == 1
        rec: dict[str, Any] = {}
        for ph in phases:
            pre = "" if one else f"{ph.phase.name}_"
            if ph.last_loss is not None:
                rec[f"{pre}loss"] = float(ph.last_loss)
            out = ph.step.last
            if out is not None:
                for k, v in out.logs.items():
                    if callable(v):  # a diagnostic computed only when logged
                        v = v()
                    if isinstance(v, Tensor):
                        if v.numel() == 1:
                            rec[f"{pre}{k}"] = float(v.detach())
                    elif isinstance(v, (int, float)):
                        rec[f"{pre}{k}"] = float(v)
            rec[f"{pre}lr"] = ph.sched.lr
            norm = ph.grad_norm()
            if norm is not None:
                rec[f"{pre}grad_norm"] = norm
        rec.update(steps_per_s=rate, epoch=loader.epoch,
                   nonfinite_skipped=s["nonfinite_total"],
                   nonfinite_in_a_row=s["nonfinite_in_a_row"])
        for lg in self._loggers:
            lg.log(step, rec)

    def _validation(self, model: nn.Module, objective: Objective, val: Any, ema: EMA | None,
                    phases: list[PhaseState], loader: BatchLoader, s: dict[str, Any],
                    info: D.DistInfo, device: torch.device, step: int) -> float | None:
        v = validate(model, objective, val, ema, self.config, device, info.world_size)
        if v is None:
            return None
        if info.enabled:  # every rank takes rank 0's decision
            t = torch.tensor([v], dtype=torch.float64, device=device)
            torch.distributed.broadcast(t, 0)
            v = float(t.item())
        improved = math.isfinite(v) and (s["best_val"] is None or v < s["best_val"])
        if improved:
            s["best_val"] = v
            s["bad_validations"] = 0
        else:
            s["bad_validations"] += 1
        for lg in self._loggers:
            lg.log(step, {"val_loss": v, "best_val_loss": s["best_val"]})
        if improved:
            self._save(model, phases, ema, loader, s, info, device, ("best",))
        return v

    def _train_state(self, phases: list[PhaseState], ema: EMA | None, loader: BatchLoader,
                     s: dict[str, Any], info: D.DistInfo, device: torch.device) -> dict:
        from .. import __version__

        return {
            "format": 1,
            "library_version": __version__,
            "step": s["step"],
            "world_size": info.world_size,
            "optimizers": {ph.phase.name: ph.opt.state_dict() for ph in phases},
            "schedulers": {ph.phase.name: ph.sched.state_dict() for ph in phases},
            "rng": rng_state(info, device),
            "loader": loader.state_dict(),
            "counters": {"nonfinite_total": s["nonfinite_total"],
                         "nonfinite_in_a_row": s["nonfinite_in_a_row"],
                         "bad_validations": s["bad_validations"],
                         "ema_updates": 0 if ema is None else ema.updates},
            "best_val": s["best_val"],
            "elapsed": self._clock[1] + time.perf_counter() - self._clock[0],
            "scaler": self._amp.state_dict(),
        }

    def _save(self, model: nn.Module, phases: list[PhaseState], ema: EMA | None,
              loader: BatchLoader, s: dict[str, Any], info: D.DistInfo, device: torch.device,
              which: tuple[str, ...]) -> None:
        if self.store is None:
            return
        bad = _nonfinite(model, ema, phases)
        if bad is not None:
            raise NonFiniteLossError(
                f"training stopped at step {s['step']}: {bad} not finite, so no checkpoint was "
                f"written; {self._kept()}"
            )
        state = self._train_state(phases, ema, loader, s, info, device)  # collective under DDP
        if info.rank == 0:
            meta = {**self.metadata, "library_version": state["library_version"],
                    "step": str(s["step"])}
            self.store.save_checkpoint(s["step"], model.state_dict(), state, meta,
                                       ema_state=None if ema is None else ema.state_dict(),
                                       which=which)
        D.barrier(info)

    def _restore(self, model: nn.Module, phases: list[PhaseState], ema: EMA | None,
                 loader: BatchLoader, s: dict[str, Any], info: D.DistInfo,
                 device: torch.device) -> int:
        assert self.store is not None
        ck = self.store.load_checkpoint("last")
        st = ck.state
        where = ck.path / "state.pt"
        try:
            model.load_state_dict(with_label_counts(model, ck.model))
            if ema is not None:
                ema.load_state_dict(with_label_counts(model, ck.ema if ck.ema is not None
                                                      else ck.model),
                                    st["counters"]["ema_updates"])
            for ph in phases:
                ph.opt.load_state_dict(st["optimizers"][ph.phase.name])
                ph.sched.load_state_dict(st["schedulers"][ph.phase.name])
            loader.load_state_dict(st["loader"])
            self._amp.load_state_dict(st.get("scaler", {}))
            restore_rng(st["rng"], info, device, self.config.seed + info.rank)
            s["step"] = int(st["step"])
            for k in ("nonfinite_total", "nonfinite_in_a_row", "bad_validations"):
                s[k] = int(st["counters"][k])
            s["best_val"] = None if st["best_val"] is None else float(st["best_val"])
            s["elapsed"] = float(st["elapsed"])
        except (KeyError, TypeError, ValueError, RuntimeError) as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise InputError(f"{where}: checkpoint does not fit this run ({first})") from None
        self.store.truncate_metrics(s["step"])
        return s["step"]


def _nonfinite(model: nn.Module, ema: EMA | None, phases: list[PhaseState]) -> str | None:
    """What would put a NaN or inf into a checkpoint (``None``: nothing): the weights and
    buffers, the EMA weights, the optimiser state. One host synchronisation."""
    groups: list[tuple[str, list[Tensor]]] = [
        ("the weights are", [t for t in model.state_dict().values() if t.is_floating_point()])]
    if ema is not None:
        groups.append(("the EMA weights are", [t for t in ema.state_dict().values()
                                           if t.is_floating_point()]))
    for ph in phases:
        groups.append((f"the optimiser state of phase {ph.phase.name!r} is", [
            t for st in ph.opt.state.values() for t in st.values()
            if isinstance(t, Tensor) and t.is_floating_point()]))
    with torch.no_grad():
        flags = [torch.stack([t.isfinite().all() for t in ts]).all() if ts else
                 torch.ones((), dtype=torch.bool) for _, ts in groups]
        ok = torch.stack([f.to(flags[0].device) for f in flags]).tolist()
    for (what, _), good in zip(groups, ok):
        if not good:
            return what
    return None
