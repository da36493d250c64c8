"""Numerical robustness: extreme critic logits in every GAN loss, data at extreme scales,
constant columns, duplicated points, an extreme outlier; fp16 overflow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import genmodels as gm
from genmodels.config import TrainConfig
from genmodels.core import DensityModel, LossOutput, Objective
from genmodels.divergences.fdiv import F_DIVERGENCES
from genmodels.errors import InputError, NonFiniteLossError
from genmodels.families.gan import losses as L
from genmodels.families.gan.objective import mmd2_biased
from genmodels.train import Trainer
from genmodels.train import trainer as trainer_module
from genmodels.train.precision import Precision

LOSSES = {
    "gan": L.MINIMAX, "ns-gan": L.NON_SATURATING, "wgan": L.WASSERSTEIN, "hinge": L.HINGE,
    "lsgan": L.least_squares(),
    **{f"fgan-{d}": L.f_gan(d) for d in sorted(F_DIVERGENCES)},
    **{f"fgan-{d}-alt": L.f_gan(d, alternative=True) for d in sorted(F_DIVERGENCES)},
}
EXTREME = [-1e4, -1e3, -88.0, -30.0, 0.0, 30.0, 88.0, 1e3, 1e4]


@pytest.mark.parametrize("name", sorted(LOSSES))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_every_gan_loss_is_finite_with_finite_gradients_at_extreme_logits(
        name: str, dtype: torch.dtype) -> None:
    loss = LOSSES[name]
    grid = torch.tensor(EXTREME, dtype=dtype)
    # every pairing of a real and a fake logit, and the all-equal batches
    vr0, vf0 = torch.meshgrid(grid, grid, indexing="ij")
    for vr_val, vf_val in ((vr0.reshape(-1), vf0.reshape(-1)), (grid, grid.flip(0))):
        vr = vr_val.clone().requires_grad_(True)
        vf = vf_val.clone().requires_grad_(True)
        c = loss.critic(vr, vf)
        g = loss.generator(vf)
        assert torch.isfinite(c) and torch.isfinite(g), (name, float(c), float(g))
        gr, gf = torch.autograd.grad(c, (vr, vf))
        (gg,) = torch.autograd.grad(g, vf)
        for t in (gr, gf, gg):
            assert torch.isfinite(t).all(), (name, t)


#: the exact f-GAN terms (activation, conjugate of activation) of Nowozin et al., Table 2
EXACT = {
    "kl": (lambda v: v, lambda v: torch.exp(v - 1)),
    "reverse-kl": (lambda v: -torch.exp(-v), lambda v: v - 1),
    "neyman": (lambda v: -torch.expm1(-v), lambda v: 2 - 2 * torch.exp(-v / 2)),
    "hellinger": (lambda v: -torch.expm1(-v), lambda v: torch.expm1(v)),
}


@pytest.mark.parametrize("name", sorted(EXACT))
def test_exponential_fgan_terms_are_unchanged_below_the_linear_continuation(name: str) -> None:
    d = F_DIVERGENCES[name]
    v = torch.linspace(-29, 29, 117, dtype=torch.float64)
    act, conj = EXACT[name]
    assert torch.allclose(d.activation(v), act(v), rtol=1e-12, atol=0)
    assert torch.allclose(d.conjugate_of_activation(v), conj(v), rtol=1e-12, atol=0)
    # beyond the continuation point the terms keep growing (a real signal to the critic)
    big = torch.tensor([1e3, 1e4], dtype=torch.float64)
    for f in (d.activation, d.conjugate_of_activation):
        a, b = f(big), f(-big)
        assert torch.isfinite(a).all() and torch.isfinite(b).all()
        assert a[0] != a[1] or b[0] != b[1]


def test_mmd_loss_is_finite_for_far_apart_and_identical_points() -> None:
    x = torch.randn(16, 2) * 1e4
    y = (torch.randn(16, 2) * 1e4 + 1e5).requires_grad_(True)
    m = mmd2_biased(x, y, (0.5, 1.0, 2.0))
    (g,) = torch.autograd.grad(m, y)
    assert torch.isfinite(m) and torch.isfinite(g).all()
    z = torch.zeros(8, 2, requires_grad=True)
    m = mmd2_biased(z, z, (1.0,))
    (g,) = torch.autograd.grad(m, z)
    assert float(m.detach()) == pytest.approx(0.0, abs=1e-6) and torch.isfinite(g).all()


# -- data at extreme scales, constant columns, duplicates, an outlier -------------------------

FAMILIES = {
    "realnvp": {"layers": 2, "hidden": [16, 16]},
    "vp-sde": {"width": 32, "blocks": 1},
    "ns-gan": {"hidden": [16, 16], "critic_hidden": [16, 16]},
    "vae": {"hidden": [16], "latent": 2},
}


@pytest.fixture(scope="module")
def moons() -> np.ndarray:
    from genmodels.config import DataConfig
    from genmodels.data import load_dataset

    return load_dataset(DataConfig(name="moons", n_train=1500)).train.numpy()


def _train_file(tmp: Path, x: np.ndarray, family: str, steps: int = 150) -> gm.Run:
    path = tmp / "data.npy"
    np.save(path, x.astype(np.float32))
    return gm.fit(model={"name": family, **FAMILIES[family]}, data={"name": str(path)},
                  train={"steps": steps, "batch_size": 64, "threads": 1})


def _spread_ratio(run: gm.Run, x: np.ndarray) -> np.ndarray:
    s = run.sample(2000, seed=0)
    assert torch.isfinite(s).all()
    assert run.fit_result.nonfinite_skipped == 0 and np.isfinite(run.fit_result.final_loss)
    return s.std(0).numpy() / x.std(0)


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("scale", [1e4, 1e-4])
def test_data_at_extreme_scales_trains_in_standardised_units(
        family: str, scale: float, moons: np.ndarray, tmp_path: Path) -> None:
    x = moons * scale
    ratio = _spread_ratio(_train_file(tmp_path, x, family), x)
    lo = 0.15 if family == "ns-gan" else 0.7  # a GAN after 150 steps covers part of the data
    assert ((ratio > lo) & (ratio < 1.5)).all(), ratio  # samples come back at the data's scale


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_duplicated_points_train(family: str, moons: np.ndarray, tmp_path: Path) -> None:
    x = np.repeat(moons[:50], 30, axis=0)  # 50 distinct points, each 30 times
    ratio = _spread_ratio(_train_file(tmp_path, x, family), x)
    assert ((ratio > 0.15) & (ratio < 1.5)).all(), ratio


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_one_extreme_outlier_trains_and_the_bulk_is_learned(
        family: str, moons: np.ndarray, tmp_path: Path) -> None:
    x = np.concatenate([moons, [[1e6, -1e6]]])  # the std becomes 2.6e4: the bulk is squeezed
    run = _train_file(tmp_path, x, family)
    s = run.sample(2000, seed=0)
    assert torch.isfinite(s).all() and np.isfinite(run.fit_result.final_loss)
    bulk = moons.std(0)
    assert (s.std(0).numpy() < 3 * bulk).all(), s.std(0)  # not spread out to the outlier


@pytest.mark.parametrize("family", ["vp-sde", "ns-gan", "vae"])
def test_constant_column_trains_with_a_bounded_objective(
        family: str, moons: np.ndarray, tmp_path: Path) -> None:
    x = np.concatenate([moons, np.full((len(moons), 1), 5.0)], axis=1)
    run = _train_file(tmp_path, x, family)
    s = run.sample(2000, seed=0)
    assert torch.isfinite(s).all() and np.isfinite(run.fit_result.final_loss)
    assert abs(float(s[:, 2].mean()) - 5.0) < 1.0  # the constant comes back near its value


@pytest.mark.parametrize("family", ["realnvp", "cnf"])
def test_constant_column_is_refused_for_a_flow_in_one_line(
        family: str, moons: np.ndarray, tmp_path: Path) -> None:
    x = np.concatenate([moons, np.full((len(moons), 1), 5.0)], axis=1)
    path = tmp_path / "data.npy"
    np.save(path, x.astype(np.float32))
    with pytest.raises(InputError) as e:
        gm.fit(model={"name": family}, data={"name": str(path)}, train={"steps": 5})
    msg = str(e.value)
    assert "\n" not in msg and "column 2 is constant (5)" in msg and family in msg, msg


# -- fp16 overflow -----------------------------------------------------------------------------


class _Square(DensityModel):
    """log p(x) = -|W x|² (unnormalised; enough for the optimiser), one Linear layer."""

    log_prob_kind = "exact"

    def __init__(self) -> None:
        super().__init__()
        self.event_shape = (2,)
        self.lin = torch.nn.Linear(2, 2)

    def log_prob(self, x: torch.Tensor, *, cond: torch.Tensor | None = None) -> torch.Tensor:
        return -self.lin(x).pow(2).sum(-1)

    def sample(self, n: int, *, cond=None, generator=None) -> torch.Tensor:  # noqa: ANN001
        return torch.zeros(n, 2)


class _NLL(Objective):
    def __call__(self, model, batch, phase="main") -> LossOutput:  # noqa: ANN001
        return LossOutput(-model.log_prob(batch.x).mean())


def _cpu_fp16(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lets the trainer run fp16 on the CPU (refused otherwise) to exercise its guard."""
    monkeypatch.setattr(trainer_module, "Precision",
                        lambda name, device: Precision(name, device, allow_cpu_fp16=True))


def test_fp16_forward_overflow_stops_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    _cpu_fp16(monkeypatch)
    x = torch.randn(256, 2) * 1e3  # |W x|² ~ 1e6 > 65504, the float16 maximum
    cfg = dict(steps=5, batch_size=32, device="cpu", precision="fp16", on_nan="stop")
    with pytest.raises(NonFiniteLossError) as e:
        Trainer(TrainConfig(**cfg)).fit(_Square(), _NLL(), x)
    msg = str(e.value)
    assert "\n" not in msg and "step 1" in msg and "not finite" in msg, msg
    # bf16 has float32's exponent range: the same data trains
    torch.manual_seed(0)
    m = _Square()
    r = Trainer(TrainConfig(**{**cfg, "precision": "bf16"})).fit(m, _NLL(), x)
    assert r.nonfinite_skipped == 0 and np.isfinite(r.final_loss)


def test_fp16_gradient_overflow_is_absorbed_by_the_scaler(monkeypatch: pytest.MonkeyPatch) -> None:
    """A finite loss whose scaled gradient overflows float16 lowers the scale; the step is not
    counted as non-finite and training goes on to the end."""
    _cpu_fp16(monkeypatch)
    x = torch.randn(256, 2) * 30  # loss ~ 1e3: finite, but 2**16-scaled gradients overflow
    m = _Square()
    trainer = Trainer(TrainConfig(steps=8, batch_size=32, device="cpu", precision="fp16",
                                  on_nan="stop", lr=1e-3))
    r = trainer.fit(m, _NLL(), x)
    assert r.steps == 8 and r.nonfinite_skipped == 0
    assert trainer._amp.scaler.get_scale() < 2.0 ** 16  # the scale came down
    assert all(torch.isfinite(p).all() for p in m.parameters())
