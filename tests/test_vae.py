"""The latent-variable family against closed forms: a linear-Gaussian model, whose marginal
:math:`\\mathcal N(b, WW^\\top + \\sigma^2 I)` and posterior are known exactly."""

from __future__ import annotations

import math

import pytest
import torch

from genmodels.distributions import StandardNormal
from genmodels.families.vae import (
    ESTIMATORS,
    VAE,
    GaussianLikelihood,
    GaussianPosterior,
    bound_surrogate,
    importance_weighted,
)
from genmodels.families.vae.likelihoods import CategoricalLikelihood, LogisticLikelihood
from genmodels.families.vae.networks import MLPDecoder

D, L, SIGMA = 3, 2, 0.5


def linear_gaussian() -> tuple[VAE, torch.Tensor, torch.Tensor]:
    """A VAE whose decoder is the affine map ``Wz + b`` with fixed σ; returns (model, W, b)."""
    g = torch.Generator().manual_seed(1)
    dec = MLPDecoder(L, (D,), 1, (), "relu")
    W, b = torch.randn(D, L, generator=g), torch.randn(D, generator=g)
    with torch.no_grad():
        dec.net.last.weight.copy_(W)
        dec.net.last.bias.copy_(b)
    model = VAE((D,), L, StandardNormal(L), GaussianLikelihood((D,), SIGMA, learned=False), dec,
                None, full_covariance=True)
    return model.double(), W.double(), b.double()


def exact(W: torch.Tensor, b: torch.Tensor, x: torch.Tensor
          ) -> tuple[torch.Tensor, GaussianPosterior]:
    """log p(x) and the true posterior N(μ, Σ), Σ = (I + WᵀW/σ²)⁻¹, μ = ΣWᵀ(x - b)/σ²."""
    cov = W @ W.T + SIGMA**2 * torch.eye(D, dtype=W.dtype)
    log_p = torch.distributions.MultivariateNormal(b, cov).log_prob(x)
    s = torch.linalg.inv(torch.eye(L, dtype=W.dtype) + W.T @ W / SIGMA**2)
    mu = (x - b) @ W @ s / SIGMA**2
    chol = torch.linalg.cholesky(s)
    n = x.shape[0]
    q = GaussianPosterior(mu, chol.diagonal().log().expand(n, L).clone(),
                          torch.tril(chol, -1).expand(n, L, L).clone())
    return log_p, q


def points(n: int = 32) -> torch.Tensor:
    return torch.randn(n, D, generator=torch.Generator().manual_seed(2), dtype=torch.float64) * 2


def test_elbo_equals_log_marginal_at_the_true_posterior() -> None:
    model, W, b = linear_gaussian()
    x = points()
    log_p, q = exact(W, b, x)
    model.analytic_kl = False  # every single sample's log p(x,z) - log q(z) is then log p(x)
    mc = model.elbo(x, q, samples=3)
    assert torch.allclose(mc, log_p, atol=1e-9)
    model.analytic_kl = True  # the closed-form KL: exact in expectation, many samples
    an = model.elbo(x, q, samples=20000, generator=torch.Generator().manual_seed(0)).detach()
    assert (an - log_p).abs().max() < 0.08 and abs(float((an - log_p).mean())) < 0.01


def test_elbo_is_below_log_marginal_for_a_wrong_posterior() -> None:
    model, W, b = linear_gaussian()
    x = points()
    log_p, q = exact(W, b, x)
    wrong = GaussianPosterior(q.loc + 0.5, q.log_scale + 0.3, q.tril)
    elbo = model.elbo(x, wrong, samples=20000, generator=torch.Generator().manual_seed(0))
    gap = log_p - elbo
    assert (gap > 0.05).all()


def test_importance_weighted_estimate_converges_to_log_marginal() -> None:
    model, W, b = linear_gaussian()
    x = points(16)
    log_p, q = exact(W, b, x)
    wrong = GaussianPosterior(q.loc + 0.4, q.log_scale + 0.4, q.tril)  # a wider, shifted proposal
    errs = []
    for k in (1, 10, 100, 5000):
        est = importance_weighted(model, x, k, q=wrong, chunk=700,
                                  generator=torch.Generator().manual_seed(k))
        errs.append(float((log_p - est.log_prob).abs().mean()))
        assert est.ess.min() >= 1 - 1e-9 and est.ess.max() <= k + 1e-6
    assert errs[-1] < 0.02 and errs[-1] < errs[1] < errs[0]
    # at the true posterior every weight is p(x): ESS = K and zero standard error
    est = importance_weighted(model, x, 64, q=q)
    assert torch.allclose(est.log_prob, log_p, atol=1e-9)
    assert torch.allclose(est.ess, torch.full_like(est.ess, 64.0)) and est.se.max() < 1e-6


def test_iw_estimate_is_the_same_whatever_the_chunk() -> None:
    model, W, b = linear_gaussian()
    x = points(8)
    _, q = exact(W, b, x)
    q = GaussianPosterior(q.loc + 1.0, q.log_scale, q.tril)
    a = importance_weighted(model, x, 100, q=q, chunk=8 * 100,
                            generator=torch.Generator().manual_seed(0))
    rows = [importance_weighted(model, x[i:i + 1], 100, q=q.select(torch.tensor([i])), chunk=1,
                                generator=torch.Generator().manual_seed(0)) for i in range(8)]
    assert a.log_prob.shape == (8,)
    # same K, different random draws: agree to the estimator's own standard error
    c = torch.cat([r.log_prob for r in rows])
    assert ((a.log_prob - c).abs() < 6 * (a.se + torch.cat([r.se for r in rows])) + 1e-6).all()


@pytest.mark.parametrize("bound", ["elbo", "iwae"])
@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_estimators_are_unbiased_for_the_same_gradient(bound: str, name: str) -> None:
    """Each estimator's mean gradient (in the posterior mean) matches the reparameterised one
    averaged over many draws, within Monte Carlo error."""
    model, W, b = linear_gaussian()
    x = points(4)
    _, q = exact(W, b, x)
    loc = (q.loc + 0.7).requires_grad_(True)
    est = ESTIMATORS[name]

    def grad(e, seed: int, n: int) -> torch.Tensor:
        qq = GaussianPosterior(loc, q.log_scale, q.tril)
        sur, _ = bound_surrogate(model, x, qq, bound=bound, samples=n, estimator=e,
                                 analytic_kl=False, generator=torch.Generator().manual_seed(seed))
        return torch.autograd.grad(sur.sum(), loc)[0]

    ref = torch.stack([grad(ESTIMATORS["reparam"], s, 4) for s in range(200)])
    model.baseline.fill_(-8.0)
    model.baseline_ready.fill_(True)
    got = torch.stack([grad(est, 1000 + s, 4) for s in range(2000)])
    se = got.std(0) / math.sqrt(len(got)) + ref.std(0) / math.sqrt(len(ref))
    assert ((got.mean(0) - ref.mean(0)).abs() < 5 * se + 1e-3).all()


def test_discrete_likelihoods_are_distributions_over_levels() -> None:
    torch.manual_seed(0)
    for lik in (CategoricalLikelihood(5), LogisticLikelihood(5)):
        out = torch.randn(3, lik.params, 2)
        levels = torch.cartesian_prod(torch.arange(5.0), torch.arange(5.0))  # every (x1, x2)
        total = torch.stack([lik.log_prob(lv.expand(3, 2) + 0.3, out) for lv in levels]).exp()
        assert torch.allclose(total.sum(0), torch.ones(3), atol=1e-5)
        s = lik.sample(out, generator=torch.Generator().manual_seed(0))
        assert s.shape == (3, 2) and (s >= 0).all() and (s < 5).all()


def test_full_covariance_posterior_matches_torch() -> None:
    g = torch.Generator().manual_seed(3)
    loc, ls = torch.randn(5, 3, generator=g), 0.3 * torch.randn(5, 3, generator=g)
    tril = torch.randn(5, 3, 3, generator=g)
    q = GaussianPosterior(loc, ls, tril)
    ref = torch.distributions.MultivariateNormal(loc, scale_tril=q.scale_tril())
    z = q.rsample(4, generator=g)
    assert torch.allclose(q.log_prob(z), ref.log_prob(z), atol=1e-5)
    assert torch.allclose(q.entropy(), ref.entropy(), atol=1e-5)
    std = torch.distributions.MultivariateNormal(torch.zeros(3), torch.eye(3))
    kl = torch.distributions.kl_divergence(ref, std)
    assert torch.allclose(q.kl_standard_normal(), kl, atol=1e-5)


def test_kl_annealing_schedule() -> None:
    from genmodels.families.vae import VariationalObjective

    obj = VariationalObjective(beta=0.5, warmup=10)
    assert obj.beta_at(0) == pytest.approx(0.05) and obj.beta_at(4) == pytest.approx(0.25)
    assert obj.beta_at(9) == obj.beta_at(1000) == pytest.approx(0.5)
    assert VariationalObjective().beta_at(0) == 1.0


def test_linear_probe_separates_separable_classes() -> None:
    from genmodels.families.vae.evaluate.probe import fit_probe

    g = torch.Generator().manual_seed(0)
    y = torch.arange(200) % 3
    centers = torch.tensor([[4.0, 0.0], [0.0, 4.0], [-4.0, -4.0]])
    x = centers[y] + torch.randn(200, 2, generator=g)
    assert fit_probe(x[:150], y[:150], x[150:], y[150:]) > 0.95
    noise = torch.randn(200, 2, generator=g)
    assert fit_probe(noise[:150], y[:150], noise[150:], y[150:]) < 0.6
