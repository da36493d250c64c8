"""Forward processes: closed-form marginals against simulation, conversions, grids."""

from __future__ import annotations

import math

import pytest
import torch

from genmodels import paths as P
from genmodels.errors import InputError
from genmodels.solvers import integrate

SDES = {
    "ou-const": lambda: P.OU(P.ConstantG(1.0), T=1.5),
    "ou-linear": lambda: P.OU(P.LinearG(1.0, 1.0), T=1.5),
    "ou-cosine": lambda: P.OU(P.CosineSNRG(T=1.0, snr_min=1e-2), T=1.0),
    "ou-callable": lambda: P.OU(lambda t: 1 + t**2, T=1.5),
    "vp": lambda: P.VP(),
    "subvp": lambda: P.SubVP(),
    "ve": lambda: P.VE(sigma_min=0.01, sigma_max=5.0),
}


@pytest.mark.parametrize("name", sorted(SDES))
def test_marginal_matches_euler_maruyama(name: str) -> None:
    """Simulate dX = f X dt + g dB finely from x0 = 2; mean and variance match q_{t|0}."""
    sde = SDES[name]()
    n, steps = 40_000, 400
    x0 = torch.full((n, 1), 2.0, dtype=torch.float64)
    t_end = 0.7 * sde.T
    ts = torch.linspace(0.0, t_end, steps + 1, dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    sol = integrate(lambda t, x: sde.drift(x, t), x0, ts, "em", g=sde.g, generator=g)
    t = torch.tensor(t_end, dtype=torch.float64)
    mean, var = float(sde.alpha(t)) * 2.0, float(sde.var(t))
    se_mean = math.sqrt(var / n)
    assert abs(sol.x.mean().item() - mean) < 5 * se_mean + 2e-3 * abs(mean), (name, mean)
    assert abs(sol.x.var().item() / var - 1) < 0.03, (name, sol.x.var().item(), var)


def test_ou_variance_has_the_factor_two() -> None:
    """OU, g = 1 + t at t = 1.5: v = ∫ e^{-2(t-s)} g² ds = 2.1126 (not the e^{-(t-s)} slide)."""
    sde = P.OU(P.LinearG(1.0, 1.0), T=1.5)
    t = torch.tensor(1.5, dtype=torch.float64)
    assert float(sde.var(t)) == pytest.approx(2.11255, abs=1e-4)
    assert float(sde.alpha(t)) == pytest.approx(math.exp(-1.5))
    wrong = P.ou_variance_quadrature(lambda s: (1 + s) ** 2, t)  # same integrand, checked apart
    assert float(wrong) == pytest.approx(float(sde.var(t)), rel=1e-10)
    assert float(P.OU(P.ConstantG(math.sqrt(2)), T=3).var(t)) == pytest.approx(1 - math.exp(-3))


def test_closed_forms_agree_with_quadrature() -> None:
    t = torch.linspace(0.01, 1.0, 9, dtype=torch.float64)
    for gs in (P.ConstantG(0.7), P.LinearG(0.5, 2.0), P.CosineSNRG(1.0, 1e-3)):
        q = P.ou_variance_quadrature(gs.g2, t)
        assert torch.allclose(gs.variance(t), q, rtol=1e-8), type(gs).__name__


@pytest.mark.parametrize("name", sorted(SDES))
def test_variance_ode_and_derivatives(name: str) -> None:
    """(σ²)' = 2fσ² + g², α' = fα: the coefficients are consistent (finite differences)."""
    sde = SDES[name]()
    t = torch.linspace(0.05, 0.95, 7, dtype=torch.float64) * sde.T
    h = 1e-6
    dvar = (sde.var(t + h) - sde.var(t - h)) / (2 * h)
    assert torch.allclose(dvar, 2 * sde.f(t) * sde.var(t) + sde.g2(t), rtol=1e-5)
    dal = (sde.alpha(t + h) - sde.alpha(t - h)) / (2 * h)
    assert torch.allclose(dal, sde.d_alpha(t), rtol=1e-6, atol=1e-9)
    dsig = (sde.sigma(t + h) - sde.sigma(t - h)) / (2 * h)
    assert torch.allclose(dsig, sde.d_sigma(t), rtol=1e-5)


@pytest.mark.parametrize("name", sorted(SDES))
def test_time_grids_and_log_snr_inverse(name: str) -> None:
    sde = SDES[name]()
    for kind in P.GRIDS:
        ts = sde.time_grid(10, kind)
        assert ts.shape == (11,) and ts[0] == sde.T and ts[-1] == sde.t_eps
        assert (ts[1:] < ts[:-1]).all(), kind
    lam = sde.log_snr(sde.time_grid(10, "logsnr"))
    assert torch.allclose(lam[1:] - lam[:-1], ((lam[-1] - lam[0]) / 10).expand(10), atol=1e-6)
    t = torch.tensor([0.1, 0.5], dtype=torch.float64) * sde.T
    assert torch.allclose(sde.t_of_log_snr(sde.log_snr(t)), t, atol=1e-9)


def test_prior_and_closed_forms() -> None:
    vp = P.VP()
    t = torch.tensor(0.3, dtype=torch.float64)
    assert float(vp.var(t)) == pytest.approx(0.60370, abs=1e-4)  # reference §6
    assert P.SubVP().var(t) == pytest.approx(float(vp.var(t)) ** 2)
    assert vp.prior_std == pytest.approx(1.0, abs=1e-4)
    ve = P.VE(0.01, 50.0)
    assert ve.prior_std == pytest.approx(math.sqrt(50.0**2 - 0.01**2))
    x = torch.randn(5, 3)
    lp = ve.prior_log_prob(x)
    ref = torch.distributions.Normal(0.0, ve.prior_std).log_prob(x).sum(1)
    assert torch.allclose(lp, ref, atol=1e-4)
    z = vp.prior_sample((4, 2), generator=torch.Generator().manual_seed(1))
    assert torch.equal(z, vp.prior_sample((4, 2), generator=torch.Generator().manual_seed(1)))


@pytest.mark.parametrize("src", P.PREDICTIONS)
@pytest.mark.parametrize("dst", P.PREDICTIONS)
def test_prediction_conversion_round_trip(src: str, dst: str) -> None:
    sde = P.VP()
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(6, 1, 3, 3, generator=g, dtype=torch.float64)
    eps = torch.randn(6, 1, 3, 3, generator=g, dtype=torch.float64)
    t = torch.rand(6, generator=g, dtype=torch.float64) * 0.9 + 0.05
    c = P.coefficients(sde, t)
    xt = sde.perturb(x0, t, eps)
    truth = {"noise": eps, "data": x0, "score": -eps / P.expand(c.sigma, xt),
             "velocity": P.expand(c.d_alpha, xt) * x0 + P.expand(c.d_sigma, xt) * eps}
    out = P.convert(truth[src], src, dst, xt, c)
    assert torch.allclose(out, truth[dst], atol=1e-9)


def test_bad_input_is_an_input_error() -> None:
    with pytest.raises(InputError):
        P.VP(beta_min=2.0, beta_max=1.0)
    with pytest.raises(InputError):
        P.VP().time_grid(5, "cubic")
    with pytest.raises(InputError):
        P.convert(torch.zeros(1, 2), "eps", "data", torch.zeros(1, 2), P.coefficients(P.VP(),
                  torch.tensor([0.5])))


def test_gaussian_mixture_oracle_score_is_the_gradient() -> None:
    gm = P.isotropic_mixture(torch.tensor([[2.0, 0.0], [-1.0, 1.0]]), 0.3)
    x = torch.randn(8, 2, dtype=torch.float64, requires_grad=True)
    lp = gm.log_prob(x, alpha=0.6, sigma=0.7)
    (grad,) = torch.autograd.grad(lp.sum(), x)
    assert torch.allclose(gm.score(x.detach(), 0.6, 0.7), grad, atol=1e-10)


@pytest.mark.parametrize("name", ["vp", "subvp", "ve"])
def test_closed_form_log_snr_inverse_matches_bisection(name: str) -> None:
    sde = SDES[name]()
    ts = torch.linspace(sde.t_eps, sde.T, 50, dtype=torch.float64)
    lam = sde.log_snr(ts)
    closed = sde.t_of_log_snr(lam)
    bisect = P.ForwardSDE.t_of_log_snr(sde, lam)
    assert torch.allclose(closed, ts, rtol=1e-10, atol=1e-12)
    assert torch.allclose(closed, bisect, rtol=1e-9, atol=1e-12)
