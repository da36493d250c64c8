"""The diffusion families: NFE accounting, shapes, objective maths, a short fit."""

from __future__ import annotations

import math

import pytest
import torch

from genmodels.config import TrainConfig
from genmodels.core import Batch
from genmodels.errors import InputError
from genmodels.families.diffusion import (
    SAMPLERS,
    DenoisingScoreMatching,
    OUConfig,
    TimeDensity,
    VEConfig,
    VPConfig,
    build_diffusion,
)
from genmodels.families.diffusion.objective import noise_weight
from genmodels.paths import VP
from genmodels.registry import DataInfo
from genmodels.train import Trainer

INFO = DataInfo((2,))


def _model(config=None, info=INFO):
    torch.manual_seed(0)
    return build_diffusion(config or VPConfig(width=32, blocks=1), info)


EXPECTED_NFE = {"heun": 10, "rk4": 8, "pc": 10}


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_nfe_is_counted_and_respects_the_budget(name: str) -> None:
    model, _ = _model()
    sol = model.sample_with_info(5, sampler=name, nfe=10,
                                 generator=torch.Generator().manual_seed(0))
    assert sol.x.shape == (5, 2) and torch.isfinite(sol.x).all()
    if name == "dopri5":
        assert sol.nfe >= 7
    else:
        assert sol.nfe == EXPECTED_NFE.get(name, 10), (name, sol.nfe)
    assert model.last_nfe == sol.nfe


def test_sampling_is_seeded_and_defaults_come_from_the_config() -> None:
    model, _ = _model(VPConfig(width=32, blocks=1, sampler="heun", nfe=6))
    assert model.samplers[0] == "heun" and model.default_nfe == 6
    a = model.sample(4, generator=torch.Generator().manual_seed(1))
    assert model.last_nfe == 6
    b = model.sample(4, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    with pytest.raises(InputError):
        model.sample(4, sampler="nope")
    with pytest.raises(InputError):
        model.sample(4, nfe=0)


def test_images_get_a_unet_and_a_hutchinson_estimate() -> None:
    info = DataInfo((1, 8, 8), levels=17)
    model, objective = _model(VPConfig(unet_base=8, unet_levels=1, likelihood_steps=2), info)
    assert type(model.net).__name__ == "UNet"
    assert model.log_prob_kind == "estimate"
    x = torch.randn(3, 1, 8, 8)
    assert model.sample(3, nfe=2).shape == (3, 1, 8, 8)
    lp = model.log_prob(x)
    assert lp.shape == (3,) and torch.isfinite(lp).all()
    assert torch.equal(lp, model.log_prob(x))  # fixed probes: deterministic
    assert torch.isfinite(objective(model, Batch(x)).loss)


def test_tables_and_small_vectors_use_the_exact_trace() -> None:
    model, _ = _model(VEConfig(width=16, blocks=1), DataInfo((5,)))
    assert model.log_prob_kind == "exact"
    assert model.log_prob(torch.randn(4, 5)).shape == (4,)


@pytest.mark.parametrize("prediction", ["noise", "data", "velocity", "score"])
def test_every_prediction_trains(prediction: str) -> None:
    model, objective = _model(OUConfig(width=32, blocks=1, prediction=prediction))
    out = objective(model, Batch(torch.randn(64, 2)))
    out.loss.backward()
    assert torch.isfinite(out.loss)
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_weightings_in_closed_form() -> None:
    sde = VP()
    t = torch.tensor([0.01, 0.3, 0.9], dtype=torch.float64)
    var, snr = sde.var(t), sde.alpha(t) ** 2 / sde.var(t)
    assert torch.allclose(noise_weight(sde, t, "likelihood"), sde.beta(t) / var)
    assert torch.allclose(noise_weight(sde, t, "sigma2"), torch.ones(3, dtype=torch.float64))
    assert torch.allclose(noise_weight(sde, t, "uniform"), 1 / var)
    assert torch.allclose(noise_weight(sde, t, "min-snr", 5.0), snr.clamp(max=5.0) / snr)
    with pytest.raises(InputError):
        noise_weight(sde, t, "lsq")


def test_importance_density_is_normalised_and_matches_g2_over_sigma2() -> None:
    sde = VP()
    dens = TimeDensity(sde, "importance")
    t, iw = dens.sample(200_000, device=torch.device("cpu"),
                        generator=torch.Generator().manual_seed(0))
    assert t.min() >= sde.t_eps and t.max() <= sde.T
    # E_p[1/(p (T - eps))] = 1 and E_p[h/(p(T-eps))] = mean of h under U
    assert iw.mean().item() == pytest.approx(1.0, rel=0.02)
    h = torch.sin(3 * t)
    ref = (math.cos(3 * sde.t_eps) - math.cos(3 * sde.T)) / 3 / (sde.T - sde.t_eps)
    assert (h * iw).mean().item() == pytest.approx(ref, abs=0.01)
    # the density follows g²/σ²: more draws near the data, where σ → 0
    assert (t < 0.1).float().mean() > 0.3


def test_importance_sampling_leaves_the_likelihood_loss_unbiased() -> None:
    model, _ = _model()
    x = torch.randn(4096, 2)
    losses = {}
    for kind in ("uniform", "importance"):
        obj = DenoisingScoreMatching("likelihood", kind)
        torch.manual_seed(1)
        with torch.no_grad():
            vals = torch.stack([obj(model, Batch(x)).loss for _ in range(30)])
        losses[kind] = (vals.mean().item(), vals.std().item() / math.sqrt(30))
    (mu_u, se_u), (mu_i, se_i) = losses["uniform"], losses["importance"]
    assert abs(mu_u - mu_i) < 4 * math.hypot(se_u, se_i), losses
    assert se_i < se_u  # and it reduces the variance


def test_bad_config_values_are_input_errors() -> None:
    with pytest.raises(InputError):
        build_diffusion(VPConfig(nfe=0), INFO)
    with pytest.raises(InputError):
        build_diffusion(VPConfig(network="unet"), INFO)
    with pytest.raises(InputError):
        build_diffusion(VPConfig(beta_min=5.0, beta_max=1.0), INFO)
    with pytest.raises(InputError, match="grid_rho"):
        build_diffusion(VPConfig(grid_rho=-1.0), INFO)
    model, _ = build_diffusion(VPConfig(grid_rho=3.0, width=16, blocks=1), INFO)
    assert model.options.grid_rho == 3.0


def test_a_short_fit_learns_a_gaussian_and_its_density() -> None:
    """600 DSM steps on N(μ, diag(s²)); samples match the moments; PF-ODE NLL ≈ the truth."""
    mu, s = torch.tensor([1.0, -2.0]), torch.tensor([0.5, 1.5])
    g = torch.Generator().manual_seed(0)
    x = mu + s * torch.randn(4000, 2, generator=g)
    model, objective = _model(VPConfig(width=64, blocks=2))
    Trainer(TrainConfig(steps=600, batch_size=256, lr=3e-3, log_every=1000, seed=0),
            progress=False).fit(model, objective, x)
    model.eval()
    y = model.sample(4000, generator=torch.Generator().manual_seed(1))
    assert (y.mean(0) - mu).abs().max() < 0.1, y.mean(0)
    assert (y.std(0) / s - 1).abs().max() < 0.1, y.std(0)
    test = mu + s * torch.randn(500, 2, generator=g)
    nll = -model.log_prob(test).mean().item()
    true_nll = -torch.distributions.Normal(mu, s).log_prob(test).sum(1).mean().item()
    assert abs(nll - true_nll) < 0.1, (nll, true_nll)


def test_auto_grid_follows_the_sampler_and_the_process() -> None:
    from genmodels.families.diffusion import SamplerOptions, sample
    from genmodels.families.diffusion.samplers import grid_for
    from genmodels.paths import OU, VE

    vp = VP()
    for name in ("ddim", "em", "pc", "heun"):
        assert grid_for(name, "auto", vp) == "uniform"
        assert grid_for(name, "auto", OU()) == grid_for(name, "auto", VE()) == "logsnr"
    assert grid_for("dpm-solver-3", "auto", vp) == grid_for("exp", "auto", vp) == "logsnr"
    assert grid_for("dpm-solver++3", "auto", vp) == "quadratic"  # power-ρ, ρ = 2
    assert grid_for("dpm-solver++3", "auto", OU()) == "logsnr"
    assert grid_for("ddim", "edm", vp) == "edm"
    x = vp.prior_sample((64, 2), generator=torch.Generator().manual_seed(0))
    score = lambda t, y: -y / (vp.alpha(t) ** 2 + vp.var(t)).float()  # noqa: E731
    runs = {g: sample("ddim", score, vp, x, nfe=8, options=SamplerOptions(grid=g)).x
            for g in ("auto", "uniform", "logsnr")}
    assert torch.equal(runs["auto"], runs["uniform"])
    assert not torch.allclose(runs["auto"], runs["logsnr"])


def test_trajectory_runs_the_probability_flow_from_the_prior() -> None:
    model, _ = _model()
    states = model.trajectory(64, generator=torch.Generator().manual_seed(0), nfe=20)
    assert states.shape == (11, 64, 2) and torch.isfinite(states).all()
    z = model.sde.prior_sample((64, 2), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(states[0], z)


def test_unipc_auto_grid_is_the_power_grid_on_vp_and_log_snr_elsewhere() -> None:
    from genmodels.families.diffusion import SamplerOptions, sample
    from genmodels.families.diffusion.samplers import AUTO_RHO, grid_for
    from genmodels.paths import OU

    vp = VP()
    assert grid_for("unipc-3", "auto", vp) == "quadratic"
    assert grid_for("unipc-3", "auto", OU()) == "logsnr"
    x = vp.prior_sample((64, 2), generator=torch.Generator().manual_seed(0))
    score = lambda t, y: -y / (vp.alpha(t) ** 2 + vp.var(t)).float()  # noqa: E731

    def run(**kw: object) -> torch.Tensor:
        return sample("unipc-3", score, vp, x, nfe=8, options=SamplerOptions(**kw)).x

    base = dict(grid="quadratic", t_end=0.01, denoise=True)
    assert torch.equal(run(), run(grid_rho=AUTO_RHO["unipc"], **base))
    assert not torch.allclose(run(), run(**base))  # ρ = 2 is another grid


def test_power_grid_exponent() -> None:
    vp = VP()
    two = vp.time_grid(10, "quadratic")
    assert torch.equal(two, vp.time_grid(10, "quadratic", rho=2.0))
    three = vp.time_grid(10, "quadratic", rho=3.0)
    assert three[0] == two[0] == vp.T and three[-1] == two[-1] == vp.t_eps
    assert bool((three[1:-1] < two[1:-1]).all())  # a larger ρ crowds the steps at the data
    assert bool((three[:-1] > three[1:]).all())
    with pytest.raises(InputError, match="rho"):
        vp.time_grid(10, "edm", rho=0.0)


def test_unipc_auto_ends_early_and_denoises() -> None:
    """Under grid="auto" on VP, UniPC's grid stops at AUTO_T_END · T and the last evaluation
    is the denoiser there; explicit options reproduce it, and bad endpoints are refused."""
    from genmodels.families.diffusion import SamplerOptions, sample
    from genmodels.families.diffusion.samplers import AUTO_RHO, AUTO_T_END

    vp = VP()
    x = vp.prior_sample((64, 2), generator=torch.Generator().manual_seed(0))
    score = lambda t, y: -y / (vp.alpha(t) ** 2 + vp.var(t)).float()  # noqa: E731
    auto = sample("unipc-3", score, vp, x, nfe=8)
    same = sample("unipc-3", score, vp, x, nfe=8, options=SamplerOptions(
        grid="quadratic", grid_rho=AUTO_RHO["unipc"], t_end=AUTO_T_END, denoise=True))
    assert auto.nfe == same.nfe == 8 and torch.equal(auto.x, same.x)
    plain = sample("unipc-3", score, vp, x, nfe=8, options=SamplerOptions(denoise=False))
    assert not torch.allclose(auto.x, plain.x)
    # N(0, I) data: the denoised output keeps unit scale; the standard deviation is near 1
    assert abs(float(auto.x.std()) - 1.0) < 0.2
    with pytest.raises(InputError, match="t_end"):
        sample("unipc-3", score, vp, x, nfe=8, options=SamplerOptions(t_end=1.5))
    with pytest.raises(InputError, match="nfe >= 2"):
        sample("unipc-3", score, vp, x, nfe=1)
