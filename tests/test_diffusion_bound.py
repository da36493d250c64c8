"""The variational bound of the diffusion models: closed-form oracles, power, the API and CLI."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genmodels import paths as P
from genmodels.cli import main
from genmodels.families.diffusion import VPConfig, bound_terms, build_diffusion, variational_bound
from genmodels.registry import DataInfo

F64 = torch.float64
SDES = {"vp": P.VP(), "subvp": P.SubVP(), "ve": P.VE(0.01, 20.0), "ou": P.OU(T=6.0),
        "ou-cosine": P.OU(P.CosineSNRG(1.0, 1e-4), T=1.0)}
MIX = P.GaussianMixture(
    torch.tensor([[2.0, 0.0], [-2.0, 0.5], [0.0, 2.5]]),
    torch.tensor([[[0.3, 0.1], [0.1, 0.2]], [[0.1, 0.0], [0.0, 0.4]],
                  [[0.25, -0.1], [-0.1, 0.2]]]),
    torch.tensor([0.5, 0.3, 0.2]),
)


def gaussian_noise(sde: P.ForwardSDE, s: float):
    """The exact noise prediction for N(0, s² I) data: ε̂ = σ x_t / (α² s² + σ²)."""
    def noise(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        a, sig = sde.alpha(t)[:, None], sde.sigma(t)[:, None]
        return (sig * y / (a**2 * s**2 + sig**2)).to(y.dtype)
    return noise


def mixture_noise(sde: P.ForwardSDE, mix: P.GaussianMixture = MIX, scale: float = 1.0):
    """The exact noise prediction -σ_t ∇log q_t for mixture data (times ``scale``)."""
    eye = torch.eye(mix.dim, dtype=F64)

    def noise(t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        a, s = sde.alpha(t), sde.sigma(t)
        cov = a[:, None, None, None] ** 2 * mix.covs + s[:, None, None, None] ** 2 * eye
        diff = y.to(F64)[:, None, :] - a[:, None, None] * mix.means
        sol = torch.linalg.solve(cov, diff.unsqueeze(-1)).squeeze(-1)
        lp = mix.weights.log() - 0.5 * ((diff * sol).sum(-1) + torch.linalg.slogdet(cov)[1])
        score = -(torch.softmax(lp, 1)[..., None] * sol).sum(1)
        return (-s[:, None] * score * scale).to(y.dtype)
    return noise


def _gap_stats(lb: torch.Tensor, exact: torch.Tensor) -> tuple[float, float]:
    gap = lb - exact
    return float(gap.mean()), float(gap.std() / math.sqrt(gap.numel()))


@pytest.mark.parametrize("name", sorted(SDES))
def test_the_bound_is_tight_for_gaussian_data_with_the_true_denoiser(name: str) -> None:
    """N(0, I) data, the exact ε̂ (the control variate itself): the decoder, prior and
    integrated terms alone must give log N(x; 0, I) at every point."""
    sde = SDES[name]
    x = torch.randn(64, 3, generator=torch.Generator().manual_seed(0), dtype=F64)
    exact = -0.5 * x.square().sum(1) - 1.5 * math.log(2 * math.pi)
    lb = variational_bound(gaussian_noise(sde, 1.0), sde, x, samples=4)
    assert (lb - exact).abs().max() < 2e-3, (lb - exact).abs().max()


@pytest.mark.parametrize("name", ["vp", "ve", "ou"])
def test_the_monte_carlo_term_is_unbiased_off_the_control_variate(name: str) -> None:
    """N(0, 2² I) data scored with sigma_data = 1: the Monte Carlo part carries the signal."""
    sde = SDES[name]
    g = torch.Generator().manual_seed(1)
    x = 2.0 * torch.randn(3000, 2, generator=g, dtype=F64)
    exact = -0.5 * (x / 2).square().sum(1) - 2 * math.log(2.0) - math.log(2 * math.pi)
    terms = bound_terms(gaussian_noise(sde, 2.0), sde, x, samples=8, generator=g)
    lb = terms["decoder"] - terms["prior"] - terms["diffusion"]
    mean, se = _gap_stats(lb, exact)
    assert -3 * se - 0.01 < mean < 3 * se, (mean, se)


@pytest.mark.parametrize("name", ["vp", "ve", "ou"])
def test_with_the_true_mixture_score_the_bound_meets_the_log_density(name: str) -> None:
    sde = SDES[name]
    x = MIX.sample(1500, generator=torch.Generator().manual_seed(2))
    exact = MIX.log_prob(x)
    lb = variational_bound(mixture_noise(sde), sde, x, samples=16,
                           generator=torch.Generator().manual_seed(3))
    mean, se = _gap_stats(lb, exact)
    assert -0.1 < mean < 3 * se, (mean, se)


@pytest.mark.parametrize("name", ["vp", "ou"])
def test_a_wrong_score_lowers_the_bound_below_the_entropy(name: str) -> None:
    """Power: a score shrunk by 20% loses more than 0.2 nats (Gibbs: E log p_θ ≤ E log p)."""
    sde = SDES[name]
    x = MIX.sample(1500, generator=torch.Generator().manual_seed(2))
    lb = variational_bound(mixture_noise(sde, scale=0.8), sde, x, samples=16,
                           generator=torch.Generator().manual_seed(3))
    mean, se = _gap_stats(lb, MIX.log_prob(x))
    assert mean + 3 * se < -0.2, (mean, se)


def test_bad_sample_counts_are_refused() -> None:
    from genmodels.errors import InputError

    with pytest.raises(InputError):
        variational_bound(gaussian_noise(SDES["vp"], 1.0), SDES["vp"], torch.zeros(2, 2),
                          samples=1)
    with pytest.raises(InputError):
        build_diffusion(VPConfig(bound_samples=1), DataInfo((2,)))
    with pytest.raises(InputError):
        build_diffusion(VPConfig(log_prob="elbo"), DataInfo((2,)))


def test_the_model_bound_is_seeded_and_can_be_its_log_prob() -> None:
    torch.manual_seed(0)
    model, _ = build_diffusion(VPConfig(width=16, blocks=1, log_prob="bound", bound_samples=6),
                               DataInfo((2,)))
    x = torch.randn(10, 2)
    assert model.log_prob_kind == "bound"
    a, b = model.log_prob(x), model.log_prob_bound(x)
    assert a.shape == (10,) and torch.equal(a, b)
    assert model.last_nfe == 6
    plain, _ = build_diffusion(VPConfig(width=16, blocks=1), DataInfo((2,)))
    assert plain.log_prob_kind == "exact"


def test_score_bound_and_the_elbo_metric_from_the_cli(tmp_path, capsys) -> None:
    run = tmp_path / "run"
    assert main(["train", "--model", "vp-sde", "--data", "moons", "--steps", "30",
                 "--out", str(run), "--set", "model.width=32", "--set", "model.blocks=1",
                 "--set", "model.bound_samples=8"]) == 0
    pts = tmp_path / "pts.npy"
    np.save(pts, np.random.default_rng(0).normal(size=(20, 2)).astype(np.float32))
    out = tmp_path / "lb.npy"
    assert main(["score", str(run), "--in", str(pts), "--out", str(out), "--bound"]) == 0
    lb = np.load(out)
    assert lb.shape == (20,) and np.isfinite(lb).all()
    assert main(["score", str(run), "--in", str(pts), "--out", str(tmp_path / "lp.npy")]) == 0
    assert not np.array_equal(np.load(tmp_path / "lp.npy"), lb)
    capsys.readouterr()
    assert main(["evaluate", str(run), "--metrics", "elbo,nll"]) == 0
    text = capsys.readouterr().out
    assert "nll_bound" in text and "nll_bound_se" in text, text


def test_score_bound_refuses_a_model_without_one(tmp_path, capsys) -> None:
    run = tmp_path / "flow"
    assert main(["train", "--model", "nice", "--data", "moons", "--steps", "3",
                 "--out", str(run)]) == 0
    pts = tmp_path / "pts.npy"
    np.save(pts, np.zeros((4, 2), dtype=np.float32))
    capsys.readouterr()
    assert main(["score", str(run), "--in", str(pts), "--out", str(tmp_path / "x.npy"),
                 "--bound"]) == 2
    err = capsys.readouterr().err
    assert "no variational bound" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "x.npy").exists()


def test_the_bound_runs_on_images() -> None:
    torch.manual_seed(0)
    model, _ = build_diffusion(VPConfig(unet_base=8, unet_levels=1, bound_samples=4),
                               DataInfo((1, 8, 8)))
    lb = model.log_prob_bound(torch.rand(3, 1, 8, 8))
    assert lb.shape == (3,) and torch.isfinite(lb).all()
