"""Fitting a registered flow to an unnormalised target, and target runs on disk.

A *target run* is a directory with ``target.json`` (the target, its arguments, the
objective and the resolved model/train config), ``metrics.jsonl`` and ``checkpoints/``;
``genmodels evaluate`` recognises it by ``target.json`` and reports the importance-sampling
estimate of :math:`\\log Z` with its standard error and ESS (and, after ``mcmc_steps`` of
MALA, the refined samples' moments).
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..data.targets import TARGETS, Target, get_target
from ..errors import InputError
from ..registry import get_family
from .importance import importance_estimate
from .mcmc import langevin
from .objectives import OBJECTIVES

__all__ = ["TargetRun", "evaluate_target", "fit_target", "is_target_run", "load_target_run"]


@dataclass
class TargetRun:
    """A flow fitted to a target.

    Attributes:
        model: the flow, in eval mode.
        target: the target.
        record: what ``target.json`` holds.
        path: the run directory, or ``None``.
    """

    model: nn.Module
    target: Target
    record: dict[str, Any]
    path: Path | None = None


def _split(overrides: list[str]) -> tuple[dict[str, Any], list[str]]:
    from ..config import parse_value

    target_args, rest = {}, []
    for item in overrides:
        key, sep, value = item.partition("=")
        if key.startswith("target."):
            if not sep:
                raise InputError(f"--set {item!r}: expected target.KEY=VALUE")
            target_args[key[len("target."):]] = parse_value(value)
        else:
            rest.append(item)
    return target_args, rest


def _build(model: str, target: str, target_args: dict[str, Any], overrides: list[str],
           train: dict[str, Any]) -> tuple[Any, Target, Any]:
    from ..families.cnf import CNF
    from ..families.flows import Flow
    from ..registry import DataInfo
    from ..run import resolve_config

    if target not in TARGETS:
        raise InputError(f"--target {target!r}: unknown (known: {', '.join(sorted(TARGETS))})")
    family = get_family(model)
    if family.kind != "flow":
        raise InputError(f"--model {model!r}: fit-target needs a flow (kind 'flow'), not a "
                         f"{family.kind!r} model")
    try:
        tgt = get_target(target, **target_args)
    except TypeError as e:
        raise InputError(f"--set target.*: {e}") from None
    cfg = resolve_config({}, overrides=overrides, model={"name": model},
                         data={"name": f"target:{target}"}, train=train)
    built, _ = family.build(cfg.model_config, DataInfo((tgt.dim,)))
    if not isinstance(built, (Flow, CNF)):
        raise InputError(f"--model {model!r}: builds a {type(built).__name__}, not a flow")
    return cfg, tgt, built


def fit_target(target: str, model: str, *, objective: str = "reverse-kl",
               overrides: list[str] | tuple[str, ...] = (), out: str | Path | None = None,
               train: dict[str, Any] | None = None, progress: bool | None = False
               ) -> TargetRun:
    """Trains the flow ``model`` on the target ``target`` by ``objective``.

    Args:
        target: a registered target (``banana``, ``funnel``, ``gmm``, ``double-well``,
            ``many-well``).
        model: a registered flow family.
        objective: ``"reverse-kl"`` or ``"forward-kl"``.
        overrides: ``--set`` strings; ``target.KEY=VALUE`` sets the target's arguments
            (``target.dim=4``), the rest are model/train keys.
        out: the run directory (``None``: in memory).
        train: train-section values (``{"steps": 500}``); ``batch_size`` is the number of
            flow samples per step.
    """
    from ..train import RunStore, Trainer
    from ..train.checkpoint import write_json

    if objective not in OBJECTIVES:
        raise InputError(f"--objective {objective!r}: unknown (known: {', '.join(OBJECTIVES)})")
    target_args, rest = _split(list(overrides))
    cfg, tgt, flow = _build(model, target, target_args, rest, dict(train or {}))
    record = {"target": target, "target_args": target_args, "objective": objective,
              "dim": tgt.dim, "config": cfg.to_dict()}
    store, created = None, False
    if out is not None:
        out = Path(out)
        if (out / "target.json").exists() or (out / "config.json").exists():
            raise InputError(f"{out}: a run exists here already")
        created = not out.exists()
        out.mkdir(parents=True, exist_ok=True)
        store = RunStore(out)
    try:
        torch.manual_seed(cfg.train.seed)
        flow, _ = get_family(model).build(cfg.model_config, _info(tgt))
        trainer = Trainer(cfg.train, store=store, progress=progress,
                          metadata={"family": model, "target": target})
        # the batch's values are unused: its size is the number of samples per step
        dummy = torch.zeros(max(cfg.train.batch_size, 1) * 4, tgt.dim)
        trainer.fit(flow, OBJECTIVES[objective](tgt), dummy)
        if out is not None:
            write_json(out / "target.json", record)
    except BaseException:
        if created and out is not None:
            shutil.rmtree(out, ignore_errors=True)
        raise
    if store is not None:
        state, _ = store.load_model_weights(which="last", ema=True)
        flow.load_state_dict(state)
    flow.eval()
    return TargetRun(flow, tgt, record, out)


def _info(tgt: Target) -> Any:
    from ..registry import DataInfo

    return DataInfo((tgt.dim,))


def is_target_run(path: str | Path) -> bool:
    """Whether ``path`` is a target run (has ``target.json``)."""
    return (Path(path) / "target.json").is_file()


def load_target_run(path: str | Path) -> TargetRun:
    """Loads a target run written by :func:`fit_target`."""
    from ..config import RunConfig
    from ..train import RunStore

    out = Path(path)
    try:
        record = json.loads((out / "target.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        raise InputError(f"{out}: not a target run (no valid target.json)") from None
    cfg = RunConfig.from_dict(record["config"])
    tgt = get_target(record["target"], **record["target_args"])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.train.seed)
        flow, _ = get_family(cfg.model).build(cfg.model_config, _info(tgt))
    state, _ = RunStore(out).load_model_weights(which="last", ema=True)
    flow.load_state_dict(state)
    flow.eval()
    return TargetRun(flow, tgt, record, out)


def evaluate_target(run: TargetRun, *, n: int = 10_000, seed: int = 0, mcmc_steps: int = 0,
                    step_size: float = 0.05) -> dict[str, float]:
    """``log_z``, ``log_z_se``, ``ess``, ``ess_fraction`` from ``n`` proposals; with a known
    normaliser ``log_z_true`` and ``log_z_error_se`` (the error in standard errors); with
    exact samples, the IS mean's error; with ``mcmc_steps``, MALA's acceptance and the
    refined samples' mean error."""
    g = torch.Generator().manual_seed(seed)
    est = importance_estimate(run.model, run.target, n, generator=g)
    out = {"log_z": est.log_z, "log_z_se": est.log_z_se, "ess": est.ess,
           "ess_fraction": est.ess_fraction, "n": float(n)}
    if run.target.log_z is not None:
        out["log_z_true"] = float(run.target.log_z)
        err = est.log_z - run.target.log_z
        out["log_z_error_se"] = err / est.log_z_se if est.log_z_se > 0 else math.inf
    truth = None
    if run.target.sampler is not None:
        truth = run.target.sample(n, generator=torch.Generator().manual_seed(seed + 1)).mean(0)
        out["is_mean_error"] = float((est.mean - truth).norm())
    if mcmc_steps:
        res = langevin(run.target.log_unnorm, est.x.double(), steps=mcmc_steps,
                       step_size=step_size, generator=g)
        out["mala_acceptance"] = res.acceptance
        if truth is not None:
            out["flow_mean_error"] = float((est.x.double().mean(0) - truth).norm())
            out["mala_mean_error"] = float((res.x.mean(0) - truth).norm())
    return out
