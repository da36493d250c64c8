"""Shared pieces of the fault tests: tiny CLI runs of four families, kill points, checks."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from conftest import ROOT, genmodels_cmd

#: One small member of each family trained through the CLI (a flow, diffusion, a GAN, a VAE).
FAMILIES: dict[str, list[str]] = {
    "realnvp": ["layers=2", "hidden=[16, 16]"],
    "vp-sde": ["width=32", "blocks=1"],
    "ns-gan": ["hidden=[16, 16]", "critic_hidden=[16, 16]"],
    "vae": ["hidden=[16]", "latent=2"],
}
STEPS = 120
EVERY = 10  # train.checkpoint_every
COMMON = ["--data", "moons", "--steps", str(STEPS), "--batch-size", "64", "--seed", "0"]
COMMON_SETS = [f"train.checkpoint_every={EVERY}", "train.val_every=40", "train.ema_decay=0.99",
               "train.log_every=10", "data.n_train=2000", "train.threads=1"]


def env() -> dict[str, str]:
    """The environment of the CLI subprocesses (no fault injection)."""
    e = dict(os.environ, PYTHONPATH=str(ROOT / "src"), OMP_NUM_THREADS="1")
    e.pop("GENMODELS_FAULT_PAUSE", None)
    return e


def train_args(family: str, out: Path) -> list[str]:
    """``genmodels train`` arguments of a fresh run of ``family`` into ``out``."""
    return [*genmodels_cmd(), "train", "--model", family, *COMMON, "--set", *FAMILIES[family],
            *COMMON_SETS, "--out", str(out)]


def resume_args(out: Path) -> list[str]:
    """``genmodels train --resume out``."""
    return [*genmodels_cmd(), "train", "--resume", str(out)]


def pointer_step(run: Path) -> int | None:
    """The step ``last.json`` points at (``None`` while there is none or it is being read)."""
    try:
        return int(json.loads((run / "checkpoints" / "last.json").read_text())["step"])
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return None


def final_state(run: Path) -> dict[str, Any]:
    """The last checkpoint's step, weights, EMA weights and optimiser tensors."""
    ckpts = run / "checkpoints"
    last = json.loads((ckpts / "last.json").read_text())
    d = ckpts / last["dir"]
    ema = d / "ema.safetensors"
    state = torch.load(d / "state.pt", weights_only=True)
    opt = {f"{ph}/{i}/{k}": v for ph, o in state["optimizers"].items()
           for i, st in o["state"].items() for k, v in st.items() if isinstance(v, torch.Tensor)}
    return {"step": last["step"], "weights": load_file(str(d / "model.safetensors")),
            "ema": load_file(str(ema)) if ema.exists() else None, "opt": opt}


def assert_identical(a: dict[str, Any], b: dict[str, Any]) -> None:
    """Bit-identical final checkpoints (weights, EMA weights, optimiser state)."""
    assert a["step"] == b["step"] == STEPS, (a["step"], b["step"])
    for part in ("weights", "ema", "opt"):
        assert a[part].keys() == b[part].keys(), part
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), f"{part} {k} differs after the faults"


def assert_loadable(run: Path) -> int | None:
    """The ``last`` checkpoint is complete and loads as a model that samples finite points;
    returns its step (``None`` when there is no checkpoint yet)."""
    import genmodels as gm
    from genmodels.train import RunStore

    store = RunStore(run)
    step = store.checkpoint_step("last")  # a torn pointer would raise InputError here
    if step is None:
        return None
    ck = store.load_checkpoint("last")
    assert int(ck.state["step"]) == step
    for t in [*ck.model.values(), *(ck.ema or {}).values()]:
        assert torch.isfinite(t).all()
    x = gm.load(run, which="last").sample(8, seed=0)
    assert torch.isfinite(x).all()
    return step


def _wait(proc: subprocess.Popen, ready: Any, timeout: float = 240.0) -> bool:
    """Polls ``ready()`` until true (``True``) or the process ends (``False``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return True
        if proc.poll() is not None:
            return bool(ready())
        time.sleep(0.005)
    raise TimeoutError("the training process neither reached the kill point nor ended")


def kill_once(rng: random.Random, run: Path, first: bool, family: str,
              tmp: Path, tag: str) -> dict[str, Any]:
    """Starts (or resumes) ``run``, SIGKILLs it at a random point, checks the run directory.

    The kill point is either a random instant (after the pointer reached a random step, plus a
    random delay of up to 50 ms: anywhere in a step, a validation or a write) or a pause of the
    fault-injection hook at a random stage of a checkpoint write (``file``, ``dir``,
    ``pointer``, ``prune``) on its ``n``-th hit.
    """
    before = pointer_step(run) or 0
    mode = rng.choice(["instant", "instant", "file", "dir", "pointer", "prune"])
    if mode == "instant" and before + 1 > STEPS - 2 * EVERY:
        mode = "dir"
    e = env()
    marker = tmp / f"{tag}.marker"
    if mode != "instant":
        # the first process writes config.json, data.json and standardize.safetensors first
        lo = 4 if first and mode == "file" else 1
        n = rng.randint(lo, 24 if mode == "file" else 6)
        e["GENMODELS_FAULT_PAUSE"] = f"{mode}:{n}:{marker}"
    else:
        target = rng.randint(before + 1, STEPS - 2 * EVERY)
        n = target
    cmd = train_args(family, run) if first else resume_args(run)
    proc = subprocess.Popen(cmd, env=e, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if mode == "instant":
            hit = _wait(proc, lambda: (pointer_step(run) or 0) >= target)
            time.sleep(rng.uniform(0.0, 0.05))
        else:
            hit = _wait(proc, marker.exists)
            if hit:  # paused inside the write: the run is loadable even now
                assert_loadable(run)
        alive = proc.poll() is None
        if alive:
            os.kill(proc.pid, signal.SIGKILL)
        rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    killed = alive and rc == -signal.SIGKILL
    assert killed or rc == 0, f"the run failed by itself (exit {rc}) in mode {mode}"
    step = assert_loadable(run)
    if before:
        assert step is not None and step >= before, "the last checkpoint went missing or back"
    return {"mode": mode, "n": n, "killed": killed, "step": step}
