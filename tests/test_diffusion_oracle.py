"""Oracles: samplers and the PF-ODE likelihood driven by the closed-form score of q_t."""

from __future__ import annotations

import pytest
import torch

from genmodels import paths as P
from genmodels.divergences import wasserstein2
from genmodels.families.diffusion import SAMPLERS, SamplerOptions, pf_ode_log_prob, sample

MIX = P.GaussianMixture(
    torch.tensor([[2.0, 0.0], [-2.0, 0.5], [0.0, 2.5]]),
    torch.tensor([[[0.3, 0.1], [0.1, 0.2]], [[0.1, 0.0], [0.0, 0.4]], [[0.25, -0.1],
                                                                       [-0.1, 0.2]]]),
    torch.tensor([0.5, 0.3, 0.2]),
)
N = 1500
SDES = {"vp": P.VP(), "subvp": P.SubVP(), "ve": P.VE(0.01, 20.0), "ou": P.OU(T=6.0),
        "ou-cosine": P.OU(P.CosineSNRG(1.0, 1e-4), T=1.0)}
#: the budget at which each sampler, with the true score, must reach the data
BUDGET = {"em": 400, "exp": 200, "pc": 600, "euler": 200, "heun": 100, "rk4": 80,
          "dopri5": 0, "ddim": 100, "dpm-solver": 20, "dpm-solver-2": 30, "dpm-solver-3": 20,
          "dpm-solver++": 20, "dpm-solver++2": 30, "dpm-solver++3": 20,
          "unipc-2": 30, "unipc-3": 20, "unipc-4": 20}


def true_score(sde: P.ForwardSDE, mix: P.GaussianMixture = MIX):
    def score(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        a, s = float(sde.alpha(t)), float(sde.sigma(t))
        return mix.score(x, a, s).to(x.dtype)
    return score


@pytest.fixture(scope="module")
def floor() -> tuple[torch.Tensor, float]:
    """A reference sample and the W2 noise floor between two independent real samples."""
    g = torch.Generator().manual_seed(0)
    ref = MIX.sample(N, generator=g).float()
    other = MIX.sample(N, generator=g).float()
    return ref, wasserstein2(ref, other)


def _run(name: str, sde: P.ForwardSDE, nfe: int, seed: int = 1, grid: str = "auto"):
    g = torch.Generator().manual_seed(seed)
    x = sde.prior_sample((N, 2), generator=g)
    opts = SamplerOptions(grid=grid, pc_snr=0.1, rtol=1e-4, atol=1e-4)
    return sample(name, true_score(sde), sde, x, nfe=nfe, generator=g, options=opts)


def test_all_samplers_are_covered() -> None:
    assert set(BUDGET) == set(SAMPLERS)


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_every_sampler_reaches_the_data_with_the_true_score(name: str, floor) -> None:
    ref, w_floor = floor
    sol = _run(name, SDES["vp"], BUDGET[name] or 1)
    w = wasserstein2(sol.x, ref)
    assert w < 1.3 * w_floor, (name, w, w_floor)


@pytest.mark.parametrize("sde", ["subvp", "ve", "ou", "ou-cosine"])
@pytest.mark.parametrize("name", ["dpm-solver++", "em", "heun", "exp", "unipc-3"])
def test_samplers_on_every_process(sde: str, name: str, floor) -> None:
    ref, w_floor = floor
    w = wasserstein2(_run(name, SDES[sde], BUDGET[name]).x, ref)
    assert w < 1.3 * w_floor, (sde, name, w, w_floor)


def test_too_few_steps_is_measurably_worse(floor) -> None:
    """The oracle test has power: 3-step Euler misses the data by far more than the floor
    (on either grid; uniform-t is the better one for VP, so it gets 2 steps)."""
    ref, w_floor = floor
    assert wasserstein2(_run("euler", SDES["vp"], 3, grid="logsnr").x, ref) > 3 * w_floor
    assert wasserstein2(_run("euler", SDES["vp"], 2).x, ref) > 3 * w_floor


@pytest.mark.parametrize("name", ["vp", "ve", "ou-cosine"])
def test_pf_ode_likelihood_equals_the_exact_log_density(name: str) -> None:
    sde = SDES[name]
    x = MIX.sample(64, generator=torch.Generator().manual_seed(2))
    t_end = torch.tensor(sde.T, dtype=torch.float64)

    def q_T(y: torch.Tensor) -> torch.Tensor:  # the exact terminal marginal, not the prior
        return MIX.log_prob(y, float(sde.alpha(t_end)), float(sde.sigma(t_end)))

    lp, nfe = pf_ode_log_prob(true_score(sde), sde, x, solver="dopri5", rtol=1e-7, atol=1e-7,
                              prior=q_T)
    eps = torch.tensor(sde.t_eps, dtype=torch.float64)
    exact = MIX.log_prob(x, float(sde.alpha(eps)), float(sde.sigma(eps)))
    assert (lp - exact).abs().max() < 2e-3, (lp - exact).abs().max()
    assert nfe > 0
    lp4, _ = pf_ode_log_prob(true_score(sde), sde, x, solver="rk4", steps=48, prior=q_T)
    assert (lp4 - exact).abs().mean() < 1e-2, (lp4 - exact).abs().mean()


def test_hutchinson_is_unbiased_in_higher_dimension() -> None:
    """d = 6 Gaussian data: many Rademacher probes average to the exact log-density."""
    d = 6
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=torch.Generator().manual_seed(5),
                                       dtype=torch.float64))
    cov = q @ torch.diag(torch.linspace(0.3, 2.0, d, dtype=torch.float64)) @ q.T  # not diagonal
    mix = P.GaussianMixture(torch.zeros(1, d, dtype=torch.float64), cov.unsqueeze(0))
    sde = SDES["vp"]
    x = mix.sample(32, generator=torch.Generator().manual_seed(3))
    score = true_score(sde, mix)
    exact, _ = pf_ode_log_prob(score, sde, x, solver="rk4", steps=40)
    g = torch.Generator().manual_seed(4)
    est, _ = pf_ode_log_prob(score, sde, x, solver="rk4", steps=40, exact=False, probes=16,
                             generator=g)
    truth = mix.log_prob(x, float(sde.alpha(torch.tensor(sde.t_eps))),
                         float(sde.sigma(torch.tensor(sde.t_eps))))
    assert (exact - truth).abs().max() < 3e-2
    assert (est - exact).mean().abs() < 0.1
    assert (est - exact).abs().max() > 1e-6  # it is an estimate
