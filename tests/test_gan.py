"""GAN maths: the JSD identity, D* = p/(p+q), f-GAN mode covering vs seeking, the pieces."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from genmodels.config import TrainConfig
from genmodels.core import Batch
from genmodels.divergences.fdiv import F_DIVERGENCES, jensen_shannon
from genmodels.errors import InputError
from genmodels.families.gan import GAN, Adversarial, f_gan, gradient_penalty, losses
from genmodels.families.gan.diagnostics import estimate_jsd, jsd_lower_bound
from genmodels.nn import MLP
from genmodels.registry import DataInfo, get_family
from genmodels.train import Trainer

D64 = torch.float64
P = torch.distributions.Normal(torch.tensor(0.0, dtype=D64), torch.tensor(1.0, dtype=D64))
Q = torch.distributions.Normal(torch.tensor(1.0, dtype=D64), torch.tensor(0.7, dtype=D64))


def _grid() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
    x = torch.linspace(-12, 12, 48_001, dtype=D64)
    return x, P.log_prob(x), Q.log_prob(x), float(x[1] - x[0])


def test_value_at_the_optimal_discriminator_is_two_jsd_minus_log_four() -> None:
    x, lp, lq, dx = _grid()
    ls = nn.functional.logsigmoid  # D* = σ(log p - log q) = p / (p + q)
    v = (lp.exp() * ls(lp - lq) + lq.exp() * ls(lq - lp)).sum() * dx
    jsd = float(jensen_shannon(lp, lq, dx))
    assert float(v) == pytest.approx(2 * jsd - math.log(4), rel=1e-9)
    # any other discriminator gives a smaller value
    r = 0.8 * (lp - lq)
    assert float((lp.exp() * ls(r) + lq.exp() * ls(-r)).sum() * dx) < float(v)
    # the minimax critic loss is -V and the f-GAN "gan" game is the same game
    logit = lp - lq
    w = dx * torch.ones_like(x)
    loss = (w * lp.exp() * nn.functional.softplus(-logit)).sum() + (
        w * lq.exp() * nn.functional.softplus(logit)).sum()
    assert float(-loss) == pytest.approx(float(v), rel=1e-9)
    g = F_DIVERGENCES["gan"]
    fv = (w * lp.exp() * g.activation(logit)).sum() - (
        w * lq.exp() * g.conjugate_of_activation(logit)).sum()
    assert float(fv) == pytest.approx(float(v), rel=1e-9)


def test_trained_discriminator_approaches_d_star_and_the_jsd() -> None:
    def draw_p(n: int, g: torch.Generator) -> torch.Tensor:
        return torch.randn(n, 1, generator=g)

    def draw_q(n: int, g: torch.Generator) -> torch.Tensor:
        return 1.0 + 0.7 * torch.randn(n, 1, generator=g)

    est, disc = estimate_jsd(draw_p, draw_q, steps=400, batch=512, hidden=(32, 32),
                             n_eval=20_000, seed=0)
    x, lp, lq, dx = _grid()
    jsd = float(jensen_shannon(lp, lq, dx))
    assert est == pytest.approx(jsd, abs=0.02)
    assert est <= jsd + 0.01  # a lower bound (up to Monte-Carlo noise)
    xs = torch.linspace(-1.5, 2.0, 36)
    with torch.no_grad():
        d = torch.sigmoid(disc(xs[:, None]).squeeze(-1)).double()
    d_star = torch.sigmoid(P.log_prob(xs.double()) - Q.log_prob(xs.double()))
    assert (d - d_star).abs().max() < 0.06
    assert float(jsd_lower_bound(torch.zeros(5), torch.zeros(5))) == pytest.approx(0.0)


def _mixture(n: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    s = torch.randint(2, (n, 1), generator=g) * 4.0 - 2.0
    return s + 0.5 * torch.randn(n, 1, generator=g)


def _fit_gaussian(divergence: str) -> tuple[float, float]:
    """f-GAN: a Gaussian x = μ + σz (a linear generator) against 0.5 N(±2, 0.5²)."""
    torch.manual_seed(0)
    gen = nn.Linear(1, 1)
    with torch.no_grad():
        gen.weight.fill_(1.0)
        gen.bias.fill_(1.0)
    model = GAN(gen, MLP(1, 1, (32, 32), "relu"), 1, (1,))
    obj = Adversarial(f_gan(divergence), n_critic=2, generator_lr_scale=3.0)
    cfg = TrainConfig(steps=500, batch_size=256, lr=5e-3, betas=(0.5, 0.999),
                      checkpoint_every=0)
    Trainer(cfg, progress=False).fit(model, obj, _mixture(20_000))
    return float(gen.bias.detach()), float(gen.weight.detach().abs())


@pytest.mark.parametrize("divergence", ["kl", "pearson"])
def test_fgan_kl_type_divergences_cover_both_modes(divergence: str) -> None:
    mu, sigma = _fit_gaussian(divergence)
    assert abs(mu) < 0.5 and sigma > 1.6, (mu, sigma)  # moment matching: μ=0, σ=2.06


def test_fgan_reverse_kl_picks_one_mode() -> None:
    mu, sigma = _fit_gaussian("reverse-kl")
    assert abs(mu - 2.0) < 0.3 and sigma < 0.8, (mu, sigma)


def test_losses_at_known_points() -> None:
    z = torch.zeros(4)
    assert float(losses.MINIMAX.critic(z, z)) == pytest.approx(2 * math.log(2))
    assert float(losses.MINIMAX.generator(z)) == pytest.approx(-math.log(2))
    assert float(losses.NON_SATURATING.generator(z)) == pytest.approx(math.log(2))
    assert float(losses.HINGE.critic(z + 2, z - 2)) == 0.0
    ls = losses.least_squares(0.0, 1.0, 1.0)
    assert float(ls.critic(z + 1, z)) == 0.0 and float(ls.generator(z + 1)) == 0.0
    # f-GAN with the gan divergence is the minimax game, both players
    fg = f_gan("gan")
    v1, v2 = torch.randn(6), torch.randn(6)
    assert torch.allclose(fg.critic(v1, v2), losses.MINIMAX.critic(v1, v2))
    assert torch.allclose(fg.generator(v2), losses.MINIMAX.generator(v2))
    alt = f_gan("gan", alternative=True)  # maximise E log D: the non-saturating update
    assert torch.allclose(alt.generator(v2), losses.NON_SATURATING.generator(v2))


@pytest.mark.parametrize("shape", [(2,), (5,), (1, 8, 8)])
def test_gradient_penalty_is_per_sample_on_any_shape(shape: tuple[int, ...]) -> None:
    model, _ = get_family("wgan-gp").build(get_family("wgan-gp").config(), DataInfo(shape))
    real, fake = torch.randn(6, *shape), torch.randn(6, *shape)
    gp = gradient_penalty(model, real, fake, generator=torch.Generator().manual_seed(0))
    assert gp.dim() == 0 and torch.isfinite(gp)

    class Linear(nn.Module):  # V(x) = w·x: gradient w everywhere, penalty (|w| - 1)²
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return 3.0 * x.sum(1, keepdim=True)

    lin = GAN(nn.Identity(), Linear(), 2, shape)
    d = math.prod(shape)
    assert float(gradient_penalty(lin, real, fake)) == pytest.approx((3 * math.sqrt(d) - 1) ** 2,
                                                                     rel=1e-5)


def test_images_get_convolutional_networks_and_every_family_trains_a_step() -> None:
    info = DataInfo((1, 8, 8))
    x = torch.randn(16, 1, 8, 8)
    for name in ("ns-gan", "wgan-gp", "mmd-gan"):
        fam = get_family(name)
        model, obj = fam.build(fam.config(), info)
        assert isinstance(model.generator.net[1], nn.Module)
        assert model.sample(3, generator=torch.Generator().manual_seed(0)).shape == (3, 1, 8, 8)
        for ph in obj.phases:
            out = obj(model, Batch(x), ph.name)
            out.loss.backward()
            assert torch.isfinite(out.loss)
    assert type(get_family("gan").build(get_family("gan").config(), info)[0].critic).__name__ \
        == "DCGANCritic"


def test_phases_ratios_clipping_spectral_norm_and_bad_configs() -> None:
    fam = get_family("wgan")
    model, obj = fam.build(fam.config(n_critic=3, critic_lr_scale=2.0), DataInfo((2,)))
    assert [(p.name, p.steps, p.lr_scale) for p in obj.phases] == [
        ("critic", 3, 2.0), ("generator", 1, 1.0)]
    with torch.no_grad():
        for p in model.critic.parameters():
            p.add_(1.0)
    obj(model, Batch(torch.randn(8, 2)), "critic")
    assert max(float(p.detach().abs().max()) for p in model.critic.parameters()) <= 0.01 + 1e-9
    sn_fam = get_family("hinge-gan")
    sn, _ = sn_fam.build(sn_fam.config(spectral_norm=True), DataInfo((2,)))
    w = sn.critic.layers[0].weight
    for _ in range(20):  # power iterations converge in training mode
        sn.critic(torch.randn(4, 2))
    assert float(torch.linalg.matrix_norm(w.detach(), 2)) == pytest.approx(1.0, abs=0.05)
    gp = get_family("wgan-gp")
    with pytest.raises(InputError, match="batch norm"):
        gp.build(gp.config(critic_norm="batch"), DataInfo((1, 8, 8)))
    fg = get_family("fgan")
    model, obj = fg.build(fg.config(divergence="reverse-kl"), DataInfo((3,)))
    assert obj.loss.name == "fgan-reverse-kl"
    mmd = get_family("mmd-gan")
    model, obj = mmd.build(mmd.config(), DataInfo((2,)))
    assert model.critic is None and [p.name for p in obj.phases] == ["generator"]
    model, obj = mmd.build(mmd.config(kernel="learned"), DataInfo((2,)))
    assert [p.name for p in obj.phases] == ["critic", "generator"]
    assert obj.features(model, torch.randn(5, 2)).shape == (5, 2 + 16)
