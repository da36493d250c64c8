"""The trainer: phases, schedules, clipping, EMA, accumulation, validation, guards, resume."""

from __future__ import annotations

import io
import math
from pathlib import Path

import pytest
import torch
from torch.optim.optimizer import (
    register_optimizer_step_post_hook,
    register_optimizer_step_pre_hook,
)

from _models import MLE, DiagGaussian, ScriptedVal, TwoPhase, data, indexed_data
from genmodels.config import TrainConfig
from genmodels.errors import InputError, NonFiniteLossError
from genmodels.train import EMA, ProgressBar, RunStore, TensorBoardLogger, Trainer, lr_factor


def cfg(**kw) -> TrainConfig:
    base = dict(steps=20, batch_size=32, lr=1e-2, checkpoint_every=0, log_every=5, device="cpu")
    base.update(kw)
    return TrainConfig(**base)


def fresh(dim: int = 2, seed: int = 0) -> DiagGaussian:
    torch.manual_seed(seed)
    return DiagGaussian(dim)


def weights(m: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in m.state_dict().items()}


def test_phases_run_in_order_on_fresh_batches_with_their_own_optimisers(tmp_path: Path) -> None:
    obj = TwoPhase()
    x = indexed_data(96)  # 3 batches of 32 per epoch
    model = fresh(3)
    sigma0 = model.log_sigma.detach().clone()
    store = RunStore(tmp_path)
    Trainer(cfg(steps=4, schedule="constant", log_every=1), store=store).fit(model, obj, x)
    assert [p for p, _ in obj.log] == ["mean", "mean", "scale"] * 4
    for epoch in range(4):  # every epoch of 3 batches covers all rows once: fresh batches
        rows = torch.cat([r for _, r in obj.log[3 * epoch:3 * epoch + 3]])
        assert sorted(rows.tolist()) == list(range(96))
    rec = store.read_metrics()[-1]
    assert rec["mean_lr"] == pytest.approx(0.5e-2) and rec["scale_lr"] == pytest.approx(2e-2)
    assert not torch.equal(model.log_sigma.detach(), sigma0)


def test_phase_optimiser_touches_only_its_parameters() -> None:
    class MeanOnly(TwoPhase):
        phases = TwoPhase.phases[:1]

    model = fresh(3)
    before = weights(model)
    Trainer(cfg(steps=3)).fit(model, MeanOnly(), indexed_data(64))
    after = weights(model)
    assert torch.equal(before["log_sigma"], after["log_sigma"])
    assert not torch.equal(before["mu"], after["mu"])


def test_warmup_cosine_schedule() -> None:
    assert lr_factor(0, 100, warmup=10) == pytest.approx(0.1)
    assert lr_factor(9, 100, warmup=10) == pytest.approx(1.0)
    assert lr_factor(10, 100, warmup=10) == pytest.approx(1.0)
    assert lr_factor(99, 100, warmup=10, min_ratio=0.1) == pytest.approx(0.1)
    assert lr_factor(50, 100, kind="constant") == 1.0
    mid = lr_factor(54, 100, warmup=10, min_ratio=0.0)
    assert 0.4 < mid < 0.6


def test_schedule_drives_the_logged_learning_rate(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    Trainer(cfg(steps=10, warmup_steps=4, min_lr_ratio=0.1, log_every=1), store=store).fit(
        fresh(), MLE(), data())
    lrs = [r["lr"] for r in store.read_metrics() if "lr" in r]
    assert lrs[0] == pytest.approx(1e-2 / 4)
    assert lrs[3] == pytest.approx(1e-2)
    assert lrs[-1] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(lrs[3:], lrs[4:]))


def test_gradient_clipping_bounds_the_global_norm() -> None:
    seen: list[float] = []

    def hook(opt, args, kwargs):
        grads = [p.grad for g in opt.param_groups for p in g["params"] if p.grad is not None]
        seen.append(float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))))

    handle = register_optimizer_step_pre_hook(hook)
    try:
        Trainer(cfg(steps=5, grad_clip=0.01)).fit(fresh(), MLE(), data() * 10)
        clipped = list(seen)
        seen.clear()
        Trainer(cfg(steps=5)).fit(fresh(), MLE(), data() * 10)
    finally:
        handle.remove()
    assert len(clipped) == 5 and max(clipped) <= 0.01 * (1 + 1e-4)
    assert min(seen) > 0.1


def test_ema_matches_a_manual_average(tmp_path: Path) -> None:
    history: list[torch.Tensor] = []

    def post(opt, args, kwargs):
        history.append(opt.param_groups[0]["params"][0].detach().clone())  # mu

    handle = register_optimizer_step_post_hook(post)
    model = fresh()
    mu0 = model.mu.detach().clone()
    store = RunStore(tmp_path)
    try:
        Trainer(cfg(steps=12, ema_decay=0.8), store=store).fit(model, MLE(), data())
    finally:
        handle.remove()
    avg = mu0
    for n, mu in enumerate(history, start=1):
        d = min(0.8, (1 + n) / (10 + n))
        avg = d * avg + (1 - d) * mu
    ema_w, meta = store.load_model_weights("last", ema=True)
    raw_w, _ = store.load_model_weights("last", ema=False)
    torch.testing.assert_close(ema_w["mu"], avg, rtol=1e-5, atol=1e-6)
    assert torch.equal(raw_w["mu"], model.mu.detach())
    assert not torch.equal(ema_w["mu"], raw_w["mu"])
    assert meta["step"] == "12"


def test_ema_applied_restores_training_weights() -> None:
    model = fresh()
    ema = EMA(model, 0.5)
    with torch.no_grad():
        model.mu.add_(1.0)
    ema.update()
    before = model.mu.detach().clone()
    with ema.applied():
        assert torch.equal(model.mu.detach(), ema.state_dict()["mu"])
    assert torch.equal(model.mu.detach(), before)


def test_accumulation_equals_a_larger_batch() -> None:
    x = data(256)
    a, b = fresh(), fresh()
    Trainer(cfg(steps=16, batch_size=16, accumulate=2)).fit(a, MLE(), x)
    Trainer(cfg(steps=16, batch_size=32, accumulate=1)).fit(b, MLE(), x)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(va, vb, rtol=1e-5, atol=1e-6, msg=k)
    c = fresh()
    Trainer(cfg(steps=16, batch_size=16, accumulate=1)).fit(c, MLE(), x)
    assert not torch.allclose(a.mu, c.mu)


def test_budget_stops_training() -> None:
    res = Trainer(cfg(steps=10**7, budget=0.3)).fit(fresh(), MLE(), data())
    assert res.stopped == "budget" and 0 < res.steps < 10**7
    assert res.wall_time < 5


def test_validation_best_checkpoint_and_early_stopping(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    obj = ScriptedVal([5.0, 4.0, 4.5, 4.6, 4.7, 1.0])
    res = Trainer(cfg(steps=100, val_every=3, patience=3, checkpoint_every=3), store=store).fit(
        fresh(), obj, data(), val=data(20, seed=1))
    assert res.stopped == "early-stopping"
    # 5 (best), 4 (best), then 3 validations without improvement: stop at step 15
    assert res.steps == 15 and res.best_val == 4.0 and obj.n_val == 5
    assert store.checkpoint_step("best") == 6 and store.checkpoint_step("last") == 15
    vals = [r["val_loss"] for r in store.read_metrics() if "val_loss" in r]
    assert vals == pytest.approx([5.0, 4.0, 4.5, 4.6, 4.7])


def test_validation_uses_eval_mode_and_ema_weights(tmp_path: Path) -> None:
    obj = MLE()
    store = RunStore(tmp_path)
    model = fresh()
    res = Trainer(cfg(steps=10, ema_decay=0.9), store=store).fit(model, obj, data(),
                                                                 val=data(50, seed=2))
    assert len(obj.val_records) == 2  # 50 points in batches of 32, once at the end
    assert all(not training for training, _ in obj.val_records)
    ema_w, _ = store.load_model_weights("last", ema=True)
    assert torch.equal(obj.val_records[-1][1], ema_w["mu"])
    assert model.training and math.isfinite(res.best_val)


def test_nonfinite_losses_are_skipped_and_counted(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    model = fresh()
    res = Trainer(cfg(steps=10, log_every=10), store=store).fit(
        model, MLE(nan_at={3, 5}, grad_nan_at={7}), data())
    assert res.nonfinite_skipped == 3
    assert all(torch.isfinite(p).all() for p in model.parameters())
    state = store.load_checkpoint("last").state
    assert int(state["optimizers"]["main"]["state"][0]["step"]) == 7  # 10 - 3 skipped
    assert store.read_metrics()[-1]["nonfinite_skipped"] == 3


def test_too_many_nonfinite_in_a_row_raises(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    obj = MLE(nan_at=set(range(4, 100)))
    with pytest.raises(NonFiniteLossError, match=r"step 7 .*3 times in a row"):
        Trainer(cfg(steps=50, max_nonfinite=3, checkpoint_every=1), store=store).fit(
            fresh(), obj, data())
    w, _ = store.load_model_weights("last", ema=False)
    assert all(torch.isfinite(v).all() for v in w.values())


def test_no_checkpoint_from_nonfinite_parameters(tmp_path: Path) -> None:
    class Poison(MLE):
        def __call__(self, model, batch, phase="main"):
            if self.calls == 6:
                with torch.no_grad():
                    model.mu.fill_(float("nan"))
            return super().__call__(model, batch, phase)

    store = RunStore(tmp_path)
    with pytest.raises(NonFiniteLossError):
        Trainer(cfg(steps=20, checkpoint_every=2, max_nonfinite=4), store=store).fit(
            fresh(), Poison(), data())
    assert store.checkpoint_step("last") == 6
    w, _ = store.load_model_weights("last", ema=False)
    assert torch.isfinite(w["mu"]).all()


def test_same_seed_same_numbers_other_seed_other_numbers() -> None:
    runs = []
    for seed in (0, 0, 1):
        m = fresh()
        Trainer(cfg(steps=15, seed=seed, ema_decay=0.9)).fit(m, MLE(noise=0.3), data())
        runs.append(weights(m))
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])
    assert not torch.equal(runs[0]["mu"], runs[2]["mu"])


def _resume_cfg(**kw) -> TrainConfig:
    return cfg(steps=30, checkpoint_every=4, ema_decay=0.9, val_every=10, warmup_steps=5,
               grad_clip=5.0, **kw)


def test_interrupted_and_resumed_run_is_bit_identical(tmp_path: Path) -> None:
    x, v = data(200), data(40, seed=3)
    full_store = RunStore(tmp_path / "full")
    full = fresh()
    Trainer(_resume_cfg(), store=full_store).fit(full, MLE(noise=0.2), x, val=v)

    cut_store = RunStore(tmp_path / "cut")
    with pytest.raises(KeyboardInterrupt):
        Trainer(_resume_cfg(), store=cut_store).fit(fresh(), MLE(noise=0.2, interrupt_at=18),
                                                    x, val=v)
    assert cut_store.checkpoint_step("last") == 16
    resumed = fresh(seed=123)  # different init: everything must come from the checkpoint
    res = Trainer(_resume_cfg(), store=cut_store).fit(resumed, MLE(noise=0.2), x, val=v,
                                                     resume=True)
    assert res.resumed_from == 16 and res.steps == 30
    for k, t in full.state_dict().items():
        assert torch.equal(t, resumed.state_dict()[k]), k
    a, _ = full_store.load_model_weights("last", ema=True)
    b, _ = cut_store.load_model_weights("last", ema=True)
    assert all(torch.equal(a[k], b[k]) for k in a)
    steps = [r["step"] for r in cut_store.read_metrics() if "loss" in r]
    assert steps == sorted(set(steps)) == [5, 10, 15, 20, 25, 30]


def test_resume_without_checkpoint_starts_fresh_and_without_store_fails(tmp_path: Path) -> None:
    res = Trainer(cfg(steps=3), store=RunStore(tmp_path)).fit(fresh(), MLE(), data(),
                                                               resume=True)
    assert res.steps == 3 and res.resumed_from is None
    with pytest.raises(InputError, match="resume"):
        Trainer(cfg(steps=3)).fit(fresh(), MLE(), data(), resume=True)


def test_bad_config_is_an_input_error() -> None:
    with pytest.raises(InputError, match="train.accumulate"):
        Trainer(cfg(accumulate=0))


def test_no_store_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Trainer(cfg(steps=5, checkpoint_every=1, val_every=1)).fit(fresh(), MLE(), data(),
                                                               val=data(10))
    assert list(tmp_path.iterdir()) == []


def test_progress_bar_draws_on_a_terminal_only(capsys: pytest.CaptureFixture) -> None:
    out = io.StringIO()
    bar = ProgressBar(10, enabled=True, stream=out, min_interval=0.0)
    bar.update(5, 1.5)
    bar.close()
    assert out.getvalue().startswith("\rstep 5/10") and "loss 1.5" in out.getvalue()
    assert "it/s" in out.getvalue() and "ETA" in out.getvalue()
    silent = io.StringIO()
    ProgressBar(10, stream=silent, min_interval=0.0).update(5, 1.0)  # StringIO: not a TTY
    assert silent.getvalue() == ""
    Trainer(cfg(steps=3), progress=False).fit(fresh(), MLE(), data())
    Trainer(cfg(steps=3)).fit(fresh(), MLE(), data())  # pytest's stderr is not a TTY
    assert capsys.readouterr().err == ""
    Trainer(cfg(steps=3), progress=True).fit(fresh(), MLE(), data())
    assert "step 3/3" in capsys.readouterr().err


def test_tensorboard_logger_writes_event_file(tmp_path: Path) -> None:
    tb = TensorBoardLogger(tmp_path / "tb")
    Trainer(cfg(steps=4, log_every=2), loggers=[tb]).fit(fresh(), MLE(), data())
    files = list((tmp_path / "tb").glob("events.out.tfevents.*"))
    assert files and files[0].stat().st_size > 0


def test_mlflow_logger_records_metrics(tmp_path: Path) -> None:
    from genmodels.train import MLflowLogger

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    lg = MLflowLogger(uri, experiment="test", params={"lr": 0.01})
    Trainer(cfg(steps=4, log_every=2), loggers=[lg]).fit(fresh(), MLE(), data())
    import mlflow

    hist = mlflow.tracking.MlflowClient(uri).get_metric_history(lg.run_id, "loss")
    assert [m.step for m in hist] == [2, 4]
