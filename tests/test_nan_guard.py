"""The NaN guard: a NaN or inf never reaches a checkpoint, in every family.

Policy (``train.on_nan``): ``"stop"`` ends training at the first non-finite loss or gradient
with one line naming the step, the phase and the checkpoint kept; ``"skip"`` skips that step
(nothing updated) and goes on, stopping after ``train.max_nonfinite`` in a row. A non-finite
weight, EMA weight or optimiser state stops training under either policy, and the last
checkpoint written stays complete and finite.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch

import genmodels as gm
from genmodels.core import Batch, LossOutput
from genmodels.data.loader import BatchLoader
from genmodels.errors import NonFiniteLossError
from genmodels.families.gan.objective import Adversarial, MomentMatching
from genmodels.train import RunStore, Trainer

GAN = {"hidden": [8, 8], "critic_hidden": [8, 8]}
FAMILIES: dict[str, dict[str, Any]] = {
    "realnvp": {"name": "realnvp", "layers": 2, "hidden": [8, 8]},
    "maf": {"name": "maf", "layers": 2, "hidden": [8, 8]},
    "vp-sde": {"name": "vp-sde", "width": 16, "blocks": 1},
    "cnf": {"name": "cnf", "width": 16, "blocks": 1, "steps": 2},
    "vae": {"name": "vae", "hidden": [8], "latent": 2},
    "iwae": {"name": "iwae", "hidden": [8], "latent": 2},
    **{g: {"name": g, **GAN} for g in ("gan", "ns-gan", "wgan", "wgan-gp", "hinge-gan",
                                      "lsgan", "fgan", "mmd-gan")},
    "mmd-gan-learned": {"name": "mmd-gan", "kernel": "learned", **GAN},
}
GANS = [f for f in FAMILIES if "gan" in f]
STEPS, EVERY, POISON_AFTER = 20, 5, 10
NAN = float("nan")


def _fit(tmp: Path, family: str, on_nan: str) -> tuple[Path, Any]:
    out = tmp / "run"
    train = {"steps": STEPS, "batch_size": 32, "checkpoint_every": EVERY, "on_nan": on_nan,
             "ema_decay": 0.9, "threads": 1, "log_every": 5}
    try:
        run = gm.fit(model=dict(FAMILIES[family]), data={"name": "moons", "n_train": 400},
                     train=train, out=out)
    except NonFiniteLossError as e:
        return out, e
    return out, run


def _after_checkpoint(out: Path) -> bool:
    return RunStore(out).checkpoint_step("last") == POISON_AFTER


def _assert_finite_checkpoint(out: Path, step: int) -> None:
    store = RunStore(out)
    assert store.checkpoint_step("last") == step
    ck = store.load_checkpoint("last")
    tensors = [*ck.model.values(), *(ck.ema or {}).values()]
    for opt in ck.state["optimizers"].values():
        tensors += [v for st in opt["state"].values() for v in st.values()
                    if isinstance(v, torch.Tensor) and v.is_floating_point()]
    assert tensors and all(torch.isfinite(t).all() for t in tensors)
    assert torch.isfinite(gm.load(out, which="last").sample(16, seed=0)).all()


def _poison_next_batch(monkeypatch: pytest.MonkeyPatch, out: Path) -> dict[str, int]:
    """The first batch drawn after the step-10 checkpoint is all NaN."""
    hits = {"n": 0}
    real = BatchLoader.__next__

    def poisoned(self: BatchLoader) -> Batch:
        b = real(self)
        if hits["n"] == 0 and _after_checkpoint(out):
            hits["n"] += 1
            return Batch(torch.full_like(b.x, NAN), b.cond, b.y)
        return b

    monkeypatch.setattr(BatchLoader, "__next__", poisoned)
    return hits


def _assert_stop_message(e: BaseException, step: int, phase: str | None = None) -> None:
    msg = str(e)
    assert "\n" not in msg, msg
    assert f"training stopped at step {step}" in msg and "train.on_nan = 'stop'" in msg, msg
    assert f"the last good checkpoint (step {POISON_AFTER}) is kept" in msg, msg
    if phase is not None:
        assert f"phase {phase!r}" in msg, msg


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_poisoned_batch_stops_with_one_line_and_a_finite_checkpoint(
        family: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "run"
    hits = _poison_next_batch(monkeypatch, out)
    _, result = _fit(tmp_path, family, "stop")
    assert hits["n"] == 1
    assert isinstance(result, NonFiniteLossError), "training did not stop at the NaN"
    _assert_stop_message(result, POISON_AFTER + 1)
    monkeypatch.undo()
    _assert_finite_checkpoint(out, POISON_AFTER)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_poisoned_batch_is_skipped_under_skip(family: str, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "run"
    hits = _poison_next_batch(monkeypatch, out)
    _, run = _fit(tmp_path, family, "skip")
    assert hits["n"] == 1
    assert not isinstance(run, BaseException), run
    assert run.fit_result.steps == STEPS and run.fit_result.nonfinite_skipped == 1
    monkeypatch.undo()
    _assert_finite_checkpoint(out, STEPS)


def _phases(family: str) -> list[str]:
    if family == "mmd-gan":
        return ["generator"]
    return ["critic", "generator"]


@pytest.mark.parametrize(("family", "phase"),
                         [(f, p) for f in GANS for p in _phases(f)])
def test_nan_in_each_gan_loss_phase_stops_cleanly(family: str, phase: str, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "run"
    hits = {"n": 0}
    for cls in (Adversarial, MomentMatching):
        real = cls.__call__

        def poisoned(self, model, batch, ph="critic", _real=real):  # noqa: ANN001, ANN202
            o = _real(self, model, batch, ph)
            if ph == phase and hits["n"] == 0 and _after_checkpoint(out):
                hits["n"] += 1
                return LossOutput(o.loss * NAN, o.logs)
            return o

        monkeypatch.setattr(cls, "__call__", poisoned)
    _, result = _fit(tmp_path, family, "stop")
    assert hits["n"] == 1
    assert isinstance(result, NonFiniteLossError), result
    _assert_stop_message(result, POISON_AFTER + 1, phase)
    monkeypatch.undo()
    _assert_finite_checkpoint(out, POISON_AFTER)


def test_nonfinite_optimiser_state_is_never_checkpointed(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    real = Trainer._phase_step

    def step(self, ph, loader, i, *args):  # noqa: ANN001, ANN202
        ok = real(self, ph, loader, i, *args)
        if i == POISON_AFTER + 2:  # a corrupted moment estimate (e.g. a hardware fault)
            next(iter(ph.opt.state.values()))["exp_avg_sq"].fill_(math.inf)
        return ok

    monkeypatch.setattr(Trainer, "_phase_step", step)
    out, result = _fit(tmp_path, "realnvp", "skip")
    assert isinstance(result, NonFiniteLossError), result
    msg = str(result)
    assert "step 15: the optimiser state of phase 'main' is not finite" in msg, msg
    assert "the last good checkpoint (step 10) is kept" in msg, msg
    monkeypatch.undo()
    _assert_finite_checkpoint(out, POISON_AFTER)


def test_on_nan_must_be_a_known_policy() -> None:
    from genmodels.run import resolve_config

    with pytest.raises(gm.InputError, match=r"train\.on_nan: 'ignore' is not one of skip, stop"):
        resolve_config({"model": {"name": "realnvp"}, "train": {"on_nan": "ignore"}})
    with pytest.raises(gm.InputError, match=r"train\.on_nan: 'ignore' is not one of skip, stop"):
        Trainer(gm.TrainConfig(on_nan="ignore"))
