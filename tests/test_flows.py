"""The flow density model, its base distributions, and the flow families."""

from __future__ import annotations

import math
import re
import time
from pathlib import Path

import pytest
import torch

from genmodels.config import RunConfig
from genmodels.core import Batch, DensityModel
from genmodels.distributions import DiagNormal, StandardNormal
from genmodels.errors import InputError
from genmodels.families.flows import (
    Flow,
    GlowConfig,
    MAFConfig,
    MaximumLikelihood,
    NICEConfig,
    NSFConfig,
    RealNVPConfig,
    build_glow,
    build_iaf,
    build_maf,
    build_nice,
    build_nsf,
    build_nsf_coupling,
    build_realnvp,
)
from genmodels.registry import DataInfo, get_family

SMALL = {
    "realnvp": (build_realnvp, RealNVPConfig(layers=4, hidden=(32, 32), base="diag")),
    "nice": (build_nice, NICEConfig(layers=4, hidden=(32, 32))),
    "maf": (build_maf, MAFConfig(layers=3, hidden=(32, 32))),
    "iaf": (build_iaf, MAFConfig(layers=3, hidden=(32, 32), base="mixture", components=3)),
    "glow": (build_glow, GlowConfig(layers=3, hidden=(32, 32))),
    "nsf": (build_nsf, NSFConfig(layers=2, hidden=(32, 32), bins=4, bound=4.0)),
    "nsf-coupling": (build_nsf_coupling, NSFConfig(layers=3, hidden=(32,), bins=5, bound=4.0,
                                                   actnorm=True)),
}
FAMILY_NAMES = ("nice", "realnvp", "glow", "maf", "iaf", "nsf", "nsf-coupling")


def _jittered(name: str, event_shape: tuple[int, ...], x: torch.Tensor, scale: float = 0.1,
              **overrides: object) -> Flow:
    """A small float64 flow, ActNorm-initialised on ``x``, with jittered parameters."""
    build, config = SMALL[name]
    config = type(config)(**{**config.__dict__, **overrides})
    torch.manual_seed(0)  # the networks' initialisation, independent of the test order
    model, _ = build(config, DataInfo(event_shape))
    model.double().train()
    cond = torch.randn(len(x), config.context, dtype=torch.float64) if config.context else None
    model.log_prob(x.double(), cond=cond)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return model.eval()


def _points(n: int, d: int = 2, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g) * torch.linspace(2.0, 0.5, d) + 1.0


# ---------------------------------------------------------------- base distributions


def test_standard_normal_matches_torch() -> None:
    base = StandardNormal((3, 2))
    x = torch.randn(7, 3, 2)
    ref = torch.distributions.Normal(0.0, 1.0).log_prob(x).sum((1, 2))
    assert base.log_prob(x).shape == (7,)
    assert torch.allclose(base.log_prob(x), ref, atol=1e-5)
    g = lambda s: torch.Generator().manual_seed(s)  # noqa: E731
    assert base.sample(4, generator=g(1)).shape == (4, 3, 2)
    assert torch.equal(base.sample(4, generator=g(1)), base.sample(4, generator=g(1)))
    assert not torch.equal(base.sample(4, generator=g(1)), base.sample(4, generator=g(2)))


def test_diag_normal_matches_torch_and_reparameterises() -> None:
    base = DiagNormal(3)
    with torch.no_grad():
        base.loc.copy_(torch.tensor([1.0, -2.0, 0.5]))
        base.log_scale.copy_(torch.tensor([0.3, -0.7, 0.0]))
    x = torch.randn(6, 3)
    ref = torch.distributions.Normal(base.loc, base.log_scale.exp()).log_prob(x).sum(1)
    assert torch.allclose(base.log_prob(x), ref, atol=1e-5)
    s = base.rsample(5, generator=torch.Generator().manual_seed(0))
    s.sum().backward()
    assert base.loc.grad is not None and base.log_scale.grad is not None
    assert not base.sample(5).requires_grad


# ---------------------------------------------------------------- the Flow model


@pytest.mark.parametrize("name", sorted(SMALL))
def test_flow_shapes(name: str) -> None:
    build, config = SMALL[name]
    model, _ = build(config, DataInfo((4,)))
    assert isinstance(model, DensityModel) and model.log_prob_kind == "exact"
    x = _points(10, 4)
    assert model.log_prob(x).shape == (10,)
    assert model.sample(7).shape == (7, 4)
    xs, lp = model.sample_and_log_prob(7)
    assert xs.shape == (7, 4) and lp.shape == (7,) and not lp.requires_grad


@pytest.mark.parametrize("name", sorted(SMALL))
def test_sample_and_log_prob_agrees_with_log_prob(name: str) -> None:
    model = _jittered(name, (3,), _points(256, 3))
    g = torch.Generator().manual_seed(5)
    x, lp = model.sample_and_log_prob(64, generator=g)
    assert torch.allclose(lp, model.log_prob(x), atol=1e-9, rtol=0)
    # the same generator state gives the same samples through sample() as well
    assert torch.equal(model.sample(64, generator=torch.Generator().manual_seed(5)), x)


def test_rsample_and_log_prob_is_differentiable() -> None:
    model = _jittered("realnvp", (2,), _points(256))
    model.train()
    x, lp = model.rsample_and_log_prob(32)
    (x.square().sum() + lp.sum()).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert not missing, missing


@pytest.mark.parametrize("name", sorted(SMALL))
def test_conditional_flow(name: str) -> None:
    model = _jittered(name, (3,), _points(64, 3), context=2)
    x, cond = _points(9, 3).double(), torch.randn(9, 2, dtype=torch.float64)
    lp = model.log_prob(x, cond=cond)
    assert lp.shape == (9,)
    assert not torch.allclose(lp, model.log_prob(x, cond=cond + 1.0))
    xs, lps = model.sample_and_log_prob(9, cond=cond)
    assert xs.shape == (9, 3) and torch.allclose(lps, model.log_prob(xs, cond=cond), atol=1e-9)
    with pytest.raises(ValueError):
        model.sample(4, cond=cond)  # 9 conditions for 4 samples


@pytest.mark.parametrize("name", sorted(SMALL))
def test_log_prob_integrates_to_one(name: str) -> None:
    """Oracle: a Riemann sum of p on a 561² grid over [-14, 14]² (step 0.05) is 1 ± 1e-3.

    The flows are jittered away from their identity initialisation (samples reach |x| ≈ 17),
    so a wrong log-determinant (sign, factor, missing term) breaks the normalisation.
    Coupling splines get half the jitter: with the full one their density has knots sharp
    enough that this grid is off by 5e-3 (a 0.0125 grid brings it back to 2e-5).
    """
    model = _jittered(name, (2,), _points(512), scale=0.05 if name == "nsf-coupling" else 0.1)
    u = torch.linspace(-14, 14, 561, dtype=torch.float64)
    h = float(u[1] - u[0])
    grid = torch.cartesian_prod(u, u)
    with torch.no_grad():
        mass = float(model.log_prob(grid).exp().sum()) * h * h
    assert abs(mass - 1.0) < 1e-3, mass


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_default_image_flows_on_digits_shape(name: str) -> None:
    """Every family builds with its default config for (1, 8, 8) images; coupling families
    are multiscale with conv conditioners; the density is exact on its own samples."""
    family = get_family(name)
    torch.manual_seed(0)
    model, objective = family.build(family.config(), DataInfo((1, 8, 8), levels=17))
    x = torch.rand(6, 1, 8, 8) * 2 - 1
    model.train()
    loss = objective(model, Batch(x)).loss
    assert torch.isfinite(loss)
    loss.backward()
    model.eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    xs, lp = model.sample_and_log_prob(3, generator=torch.Generator().manual_seed(0))
    assert xs.shape == (3, 1, 8, 8)
    assert torch.allclose(lp, model.log_prob(xs), atol=1e-3, rtol=1e-4)


@pytest.mark.parametrize("name", ["realnvp", "glow", "nsf-coupling"])
def test_multiscale_flows_on_28x28(name: str) -> None:
    family = get_family(name)
    model, _ = family.build(family.config(), DataInfo((1, 28, 28), levels=256))
    assert any(type(m).__name__ == "Split" for m in model.modules())
    assert any(type(m).__name__ == "ConvConditioner" for m in model.modules())
    x = torch.rand(2, 1, 28, 28)
    assert model.log_prob(x).shape == (2,)
    assert model.sample(2).shape == (2, 1, 28, 28)


def test_maximum_likelihood_is_the_mean_nll() -> None:
    model, objective = build_realnvp(RealNVPConfig(layers=2, hidden=(8,)), DataInfo((2,)))
    model.eval()
    x = _points(32)
    out = objective(model, Batch(x))
    assert torch.allclose(out.loss, -model.log_prob(x).mean())
    assert torch.equal(out.logs["nll"], out.loss.detach())
    with pytest.raises(TypeError):
        MaximumLikelihood()(torch.nn.Linear(2, 2), Batch(x))


# ---------------------------------------------------------------- families and configs


def test_families_are_registered_with_configs() -> None:
    for name in FAMILY_NAMES:
        assert get_family(name).kind == "flow"
    cfg = RunConfig.from_dict({"model": {"name": "realnvp", "hidden": [64, 64, 64],
                                         "permutation": "random", "scale_bound": 2}})
    assert cfg.model_config.hidden == (64, 64, 64) and cfg.model_config.scale_bound == 2.0
    with pytest.raises(InputError, match="permutation"):
        RunConfig.from_dict({"model": {"name": "realnvp", "permutation": "shuffle"}})
    with pytest.raises(InputError, match="layers"):
        build_realnvp(RealNVPConfig(layers=-1), DataInfo((2,)))
    with pytest.raises(InputError, match="bins"):
        build_nsf(NSFConfig(bins=0), DataInfo((2,)))
    with pytest.raises(InputError, match="bound"):
        build_nsf_coupling(NSFConfig(bound=0.0), DataInfo((2,)))
    with pytest.raises(InputError, match="at least 2"):
        build_nice(NICEConfig(), DataInfo((1,)))


@pytest.mark.parametrize("overrides", [
    {"permutation": "reverse", "mask": "parity"},
    {"permutation": "random", "actnorm": False, "scale_bound": 0.0, "activation": "tanh"},
])
def test_realnvp_variants_are_exact(overrides: dict) -> None:
    model = _jittered("realnvp", (5,), _points(128, 5), **overrides)
    x, lp = model.sample_and_log_prob(16)
    assert torch.allclose(lp, model.log_prob(x), atol=1e-9)


# ---------------------------------------------------------------- learning


def test_realnvp_learns_a_correlated_gaussian() -> None:
    """The default realnvp, fitted for 400 Adam steps (lr 1e-3, batch 256) on a fresh
    stream from N(μ, Σ), reaches a test NLL within 0.05 nats of the exact entropy
    H = ½ log det(2πe Σ) (the NLL's Monte-Carlo standard error on 20 000 points is ≈ 0.007)."""
    torch.manual_seed(0)
    cov = torch.tensor([[2.0, 1.2], [1.2, 1.0]])
    target = torch.distributions.MultivariateNormal(torch.tensor([1.0, -2.0]), cov)
    entropy = 0.5 * math.log(float(torch.det(2 * math.pi * math.e * cov)))
    model, objective = get_family("realnvp").build(RealNVPConfig(), DataInfo((2,)))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    start = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small matrices: one thread is as fast and immune to contention
    try:
        model.train()
        for _ in range(400):
            loss = objective(model, Batch(target.sample((256,)))).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)
    model.eval()
    with torch.no_grad():
        nll = -model.log_prob(target.sample((20_000,))).mean().item()
    elapsed = time.perf_counter() - start
    print(f"realnvp on a correlated Gaussian: test NLL {nll:.4f}, entropy {entropy:.4f}, "
          f"gap {nll - entropy:+.4f} nats, {elapsed:.1f} s")
    assert abs(nll - entropy) < 0.05, (nll, entropy)


def test_the_docs_example_runs() -> None:
    doc = Path(__file__).resolve().parents[1] / "docs" / "families" / "flows.md"
    code = re.search(r"```python\n(.*?)```", doc.read_text(), re.S).group(1)
    exec(compile(code, str(doc), "exec"), {"print": lambda *a, **k: None})


def test_the_triangular_docs_example_runs() -> None:
    doc = Path(__file__).resolve().parents[1] / "docs" / "triangular.md"
    code = re.search(r"```python\n(.*?)```", doc.read_text(), re.S).group(1)
    out: list[str] = []
    exec(compile(code, str(doc), "exec"), {"print": lambda *a, **k: out.append(str(a[0]))})
    assert out == ["0.0", "True"]
