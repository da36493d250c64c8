"""Every bijection passes the shared property suite; layer-specific behaviour on top."""

from __future__ import annotations

import pytest
import torch

from genmodels.bijections import (
    ActNorm,
    Affine,
    AffineCoupling,
    Chain,
    Coupling,
    InvertibleConv1x1,
    Logit,
    MaskedAutoregressive,
    Permutation,
    RationalQuadratic,
    Sigmoid,
    half_mask,
    soft_clamp,
    squeeze,
)
from genmodels.distributions import GaussianMixture
from genmodels.nn import MADE, MLP
from genmodels.testing.bijections import (
    BIJECTION_CASES,
    IMAGE_CASES,
    IMAGE_SHAPE,
    IMAGE_TRIANGULAR,
    TRIANGULAR_CASES,
    check_bijection,
    check_triangular,
    inputs_for,
    prepare,
)

D, C, B = 5, 3, 16


def _data(context: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(B, D, generator=g) * torch.linspace(0.5, 2.0, D) + 1.0
    cond = torch.randn(B, context, generator=g) if context else None
    return x, cond


@pytest.mark.parametrize("context", [0, C])
@pytest.mark.parametrize("name", sorted(BIJECTION_CASES))
def test_bijection_properties(name: str, context: int) -> None:
    x, cond = _data(context)
    z = torch.randn(B, D, generator=torch.Generator().manual_seed(1))
    x, z = inputs_for(name, x, z)
    check_bijection(BIJECTION_CASES[name](D, context), x, cond, z=z)


def _image_data(context: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, *IMAGE_SHAPE, generator=g).flatten(1) * 1.5 + 0.5
    cond = torch.randn(8, context, generator=g) if context else None
    return x, cond


@pytest.mark.parametrize("context", [0, C])
@pytest.mark.parametrize("name", sorted(IMAGE_CASES))
def test_image_bijection_properties(name: str, context: int) -> None:
    x, cond = _image_data(context)
    check_bijection(IMAGE_CASES[name](IMAGE_SHAPE, context), x, cond, samples=2)


@pytest.mark.parametrize("context", [0, C])
@pytest.mark.parametrize("name", IMAGE_TRIANGULAR)
def test_image_coupling_is_triangular(name: str, context: int) -> None:
    x, cond = _image_data(context)
    b = IMAGE_CASES[name](IMAGE_SHAPE, context)
    check_triangular(b, x, b.order, cond, samples=2)


@pytest.mark.parametrize("context", [0, C])
@pytest.mark.parametrize("name", sorted(TRIANGULAR_CASES))
def test_triangular_jacobian(name: str, context: int) -> None:
    x, cond = _data(context)
    b = BIJECTION_CASES[name](D, context)
    check_triangular(b, x, TRIANGULAR_CASES[name](b), cond)


@pytest.mark.parametrize("name", ["affine_coupling", "additive_coupling", "maf", "iaf", "chain",
                                  "spline_coupling", "spline_autoregressive", "spline_iaf"])
def test_condition_changes_the_map(name: str) -> None:
    x, cond = _data(C)
    b, x, cond = prepare(BIJECTION_CASES[name](D, C), x, cond)
    with torch.no_grad():
        assert not torch.allclose(b(x, cond), b(x, cond + 1.0))


def test_the_suite_catches_a_wrong_log_det() -> None:
    class Wrong(AffineCoupling):
        def forward_and_log_det(self, x, cond=None):
            z, ld = super().forward_and_log_det(x, cond)
            return z, 1.01 * ld

    x, _ = _data(0)
    with pytest.raises(AssertionError, match="log_det"):
        check_bijection(Wrong(half_mask(D)), x)


def test_the_suite_catches_a_wrong_order_and_a_dead_parameter() -> None:
    x, _ = _data(0)
    b = BIJECTION_CASES["affine_coupling"](D, 0)
    with pytest.raises(AssertionError, match="above the diagonal"):
        check_triangular(b, x, b.order.flip(0))
    b.unused = torch.nn.Parameter(torch.zeros(3))
    with pytest.raises(AssertionError, match="unused gets no gradient"):
        check_bijection(b, x)


def test_couplings_and_autoregressive_layers_start_at_identity() -> None:
    x, cond = _data(C)
    for b in (AffineCoupling(half_mask(D), context=C), MaskedAutoregressive(D, context=C),
              AffineCoupling(half_mask(D), additive=True)):
        z, ld = b.forward_and_log_det(x, cond)
        assert torch.equal(z, x) and torch.equal(ld, torch.zeros(B))


def test_scale_is_softly_bounded() -> None:
    b = AffineCoupling(half_mask(2), (8,), scale_bound=2.0)
    with torch.no_grad():
        b.net.last.bias.fill_(100.0)  # raw log-scale 100 → bounded by 2
    _, ld = b.forward_and_log_det(torch.randn(4, 2))
    assert torch.allclose(ld, torch.full((4,), 2.0))
    s = torch.linspace(-30, 30, 601, dtype=torch.float64)
    assert torch.allclose(soft_clamp(s, 2.0), 2.0 * torch.tanh(s / 2.0), atol=1e-14)
    h = torch.stack((s, 0 * s))[None]  # (1, 2, n): log-scales, zero shifts
    x = torch.randn(1, 601, dtype=torch.float64)
    y, ld = Affine(2.0).forward(x, h)
    back, ild = Affine(2.0).inverse(y, h)
    assert torch.allclose(back, x, atol=1e-12) and torch.allclose(ild, -ld, atol=1e-14)


def test_actnorm_initialises_on_the_first_training_batch_only() -> None:
    x, _ = _data(0)
    a = ActNorm(D)
    a.eval()
    z, _ = a.forward_and_log_det(x)
    assert torch.equal(z, x) and not a.initialized  # eval mode never initialises
    a.inverse_and_log_det(x)
    assert not a.initialized  # nor does sampling
    a.train()
    z, _ = a.forward_and_log_det(x)
    assert a.initialized
    assert torch.allclose(z.mean(0), torch.zeros(D), atol=1e-5)
    assert torch.allclose(z.std(0, unbiased=False), torch.ones(D), atol=1e-4)
    z2, _ = a.forward_and_log_det(3 * x + 7)  # a second batch does not re-initialise
    assert torch.allclose(z2, (3 * x + 7 - a.loc) * torch.exp(-a.log_scale))


def test_actnorm_is_not_reinitialised_after_loading() -> None:
    x, _ = _data(0)
    trained = Chain(ActNorm(D), ActNorm(D)).train()
    trained(x)
    state = trained.state_dict()
    assert state["bijections.0.initialized"].item()
    fresh = Chain(ActNorm(D), ActNorm(D)).train()
    fresh(x + 100.0)  # a fresh model initialises on its own batch...
    fresh.load_state_dict(state)  # ...then loading the trained state restores the flag
    fresh(x * 5)  # a training-mode batch after loading must not re-initialise
    for k, v in trained.state_dict().items():
        assert torch.equal(fresh.state_dict()[k], v), k


def test_structure_is_not_state() -> None:
    b = Chain(Permutation.random(D, seed=3), AffineCoupling(half_mask(D), (8,)))
    keys = set(b.state_dict())
    assert not any(k.endswith(("perm", "mask", "idx_a", "idx_b", "merge")) for k in keys), keys


def test_random_permutation_is_seeded() -> None:
    a, b, c = (Permutation.random(50, seed=s).perm for s in (1, 1, 2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    with pytest.raises(ValueError):
        Permutation(torch.tensor([0, 0, 1]))


def test_mlp_shapes_and_context() -> None:
    net = MLP(4, 6, hidden=(8, 8), activation="silu", context=2)
    assert net(torch.randn(3, 4), torch.randn(3, 2)).shape == (3, 6)
    with pytest.raises(ValueError):
        net(torch.randn(3, 4))
    with pytest.raises(ValueError):
        MLP(4, 6, activation="gelu2")


def test_made_is_autoregressive_in_its_order() -> None:
    order = torch.tensor([2, 0, 3, 1])
    made = MADE(4, params=3, hidden=(16, 16), context=2, order=order).double()
    with torch.no_grad():
        for p in made.parameters():
            p.normal_()
    x, c = torch.randn(4, dtype=torch.float64), torch.randn(1, 2, dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(lambda u: made(u[None], c)[0], x)  # (3, 4, 4)
    # output i depends on input j iff order[j] < order[i]
    depends = jac.abs().sum(0) > 0
    assert torch.equal(depends, order[None, :] < order[:, None])



@pytest.mark.parametrize(("d", "hidden", "context", "activation"), [
    (1, (6,), 0, "relu"), (2, (8, 8), 0, "relu"), (5, (16, 16), 2, "tanh"),
    (7, (9, 11, 6), 3, "elu"), (6, (4, 13), 0, "silu"),
])
def test_incremental_made_equals_the_full_pass(d: int, hidden: tuple[int, ...], context: int,
                                               activation: str) -> None:
    # Filling the input position by position, every step's outputs equal a full pass at the
    # current input (float64), though each hidden unit is computed only once.
    g = torch.Generator().manual_seed(d)
    order = torch.randperm(d, generator=g)
    made = MADE(d, 3, hidden, activation, context, order).double()
    with torch.no_grad():
        for p in made.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64))
        x = torch.randn(9, d, generator=g, dtype=torch.float64)
        c = torch.randn(9, context, generator=g, dtype=torch.float64) if context else None
        fast, auto = made.incremental(9, c, x), made.sequential(c, x)
        filled = torch.zeros_like(x)
        for p, i in enumerate(torch.argsort(order).tolist()):
            full = made(filled, c)[:, :, i]
            assert torch.allclose(fast.outputs(p).T, full, atol=1e-12)
            assert torch.allclose(auto.outputs(p), full, atol=1e-12)
            fast.set(p, x[:, i])
            auto.set(p, x[:, i : i + 1])
            filled[:, i] = x[:, i]


@pytest.mark.parametrize("transformer", [None, RationalQuadratic(bins=5, bound=3.0)])
def test_incremental_inverse_equals_the_autograd_inverse(transformer) -> None:
    # Sampling without autograd takes the incremental path, with autograd the rank-one path;
    # both invert the layer and agree in float64, and the cached weights follow an update.
    g = torch.Generator().manual_seed(1)
    layer = MaskedAutoregressive(6, (12, 12), context=2, order=torch.randperm(6, generator=g),
                                 transformer=transformer).double()
    z = torch.randn(11, 6, generator=g, dtype=torch.float64)
    c = torch.randn(11, 2, generator=g, dtype=torch.float64)
    for _ in range(2):
        with torch.no_grad():
            for p in layer.parameters():
                p.add_(0.3 * torch.randn(p.shape, generator=g, dtype=torch.float64))
            fast, fast_ld = layer.inverse_and_log_det(z, c)
        ref, ref_ld = layer.inverse_and_log_det(z, c)
        assert torch.allclose(fast, ref, atol=1e-12) and torch.allclose(fast_ld, ref_ld,
                                                                        atol=1e-12)
        back, ld = layer.forward_and_log_det(fast, c)
        assert torch.allclose(back, z, atol=1e-10) and torch.allclose(ld, -fast_ld, atol=1e-10)



def _naive_inverse(layer: MaskedAutoregressive, z: torch.Tensor, c: torch.Tensor):
    # the textbook inversion: d full passes of the MADE
    x = torch.zeros_like(z)
    for _ in range(z.shape[1]):
        x, ld = layer.transformer.inverse(z, layer.made(x, c))
    return x, ld.sum(1)


def test_sequential_inverse_gradients_equal_the_naive_inverse() -> None:
    # the autograd path (rsample of a MAF, density of an IAF) gives the same gradients with
    # respect to the parameters, the input and the context as d full passes (float64)
    g = torch.Generator().manual_seed(2)
    layer = MaskedAutoregressive(5, (10, 7), context=2, order=torch.randperm(5, generator=g),
                                 transformer=RationalQuadratic(bins=4, bound=2.0)).double()
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(0.5 * torch.randn(p.shape, generator=g, dtype=torch.float64))
    z = torch.randn(8, 5, generator=g, dtype=torch.float64, requires_grad=True)
    c = torch.randn(8, 2, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(8, 5, generator=g, dtype=torch.float64)
    grads = []
    for inverse in (layer.inverse_and_log_det, lambda z, c: _naive_inverse(layer, z, c)):
        x, ld = inverse(z, c)
        loss = (w * x).sum() + ld.square().sum()
        grads.append(torch.autograd.grad(loss, [z, c, *layer.parameters()]))
    for a, b in zip(*grads):
        assert torch.allclose(a, b, atol=1e-10)
    assert any(a.abs().sum() > 0 for a in grads[0])


# ---------------------------------------------------------------- splines


def _steep_spline_params(n: int, bins: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return 4.0 * torch.randn(n, 3 * bins - 1, 1, generator=g, dtype=torch.float64)


def test_spline_is_identity_at_zero_parameters_and_in_its_tails() -> None:
    rq = RationalQuadratic(bins=8, bound=3.0)
    x = torch.linspace(-6, 6, 101, dtype=torch.float64)[:, None]
    y, ld = rq.forward(x, torch.zeros(101, rq.params, 1, dtype=torch.float64))
    assert torch.allclose(y, x, atol=1e-12) and torch.allclose(ld, torch.zeros_like(ld),
                                                              atol=1e-12)
    h = _steep_spline_params(101, 8, 0)
    y, ld = rq.forward(x, h)
    outside = x.abs() >= 3.0
    assert torch.equal(y[outside], x[outside]) and torch.equal(ld[outside], 0 * ld[outside])
    assert (y[~outside].abs() < 3.0).all()  # the domain maps onto itself


def test_spline_is_monotone_continuous_and_its_log_derivative_is_exact() -> None:
    """Oracle: central finite differences of the spline on a fine grid, steep random bins."""
    rq = RationalQuadratic(bins=7, bound=2.0)
    x = torch.linspace(-2.5, 2.5, 2001, dtype=torch.float64)[:, None]
    h = _steep_spline_params(1, 7, 3).expand(2001, -1, -1)
    y, ld = rq.forward(x, h)
    assert (y[1:] > y[:-1]).all()  # strictly increasing (hence continuous through knots)
    eps = 1e-6
    fd = (rq.forward(x + eps, h)[0] - rq.forward(x - eps, h)[0]) / (2 * eps)
    inner = (x.abs() < 1.999)[:, 0]
    assert torch.allclose(ld[inner], fd[inner].log(), atol=1e-5)


def test_spline_inverse_is_accurate_in_float32_for_steep_bins() -> None:
    """The stable root 2c / (-b - sqrt(b^2 - 4ac)) keeps the float32 round trip tight even
    with min-width bins and extreme derivatives: the error in x, measured in output units
    (times the local slope, i.e. up to the problem's own conditioning), stays at float32
    rounding level; the textbook root (-b + sqrt(...)) / 2a loses digits when a ≈ 0."""
    rq = RationalQuadratic(bins=10, bound=4.0)
    g = torch.Generator().manual_seed(0)
    h = 6.0 * torch.randn(4096, rq.params, 1, generator=g)
    x = 4.5 * (2 * torch.rand(4096, 1, generator=g) - 1)
    y, ld = rq.forward(x, h)
    xb, ild = rq.inverse(y, h)
    assert torch.isfinite(xb).all() and torch.isfinite(ild).all()
    assert ((xb - x).abs() * ld.exp()).max() < 1e-4
    assert (rq.forward(xb, h)[0] - y).abs().max() < 2e-4
    assert (ild + rq.forward(xb, h)[1]).abs().max() < 1e-3  # log-det at its own output


def test_spline_rejects_bad_settings() -> None:
    with pytest.raises(ValueError):
        RationalQuadratic(bins=0)
    with pytest.raises(ValueError):
        RationalQuadratic(bins=10, min_width=0.2)


# ---------------------------------------------------------------- other layers


def test_sigmoid_and_logit_are_inverse_maps() -> None:
    x = torch.rand(6, 4, dtype=torch.float64) * 0.98 + 0.01
    z, ld = Logit().forward_and_log_det(x)
    assert torch.allclose(z, torch.log(x / (1 - x)))
    xs, lds = Sigmoid().forward_and_log_det(z)
    assert torch.allclose(xs, x) and torch.allclose(lds, -ld)
    with pytest.raises(ValueError):
        Logit(alpha=0.5)


def test_squeeze_is_space_to_depth() -> None:
    img = torch.arange(2 * 4 * 6.0).reshape(1, 2, 4, 6)
    out = squeeze((2, 4, 6))(img.reshape(1, -1)).reshape(1, 8, 2, 3)
    ref = img.reshape(1, 2, 2, 2, 3, 2).permute(0, 1, 3, 5, 2, 4).reshape(1, 8, 2, 3)
    assert torch.equal(out, ref)
    with pytest.raises(ValueError):
        squeeze((1, 3, 4))


def test_conv1x1_matches_a_pointwise_convolution() -> None:
    conv = InvertibleConv1x1((3, 4, 5), seed=1)
    x = torch.randn(2, 3, 4, 5)
    w = conv.lu.weight()
    ref = torch.nn.functional.conv2d(x, w[:, :, None, None])
    assert torch.allclose(conv(x.reshape(2, -1)).reshape(2, 3, 4, 5), ref, atol=1e-5)
    assert torch.allclose(conv.lu.weight() @ conv.lu.inverse_weight(), torch.eye(3), atol=1e-5)


def test_image_coupling_keeps_its_mask() -> None:
    b = IMAGE_CASES["checkerboard_affine"](IMAGE_SHAPE, 0)
    assert isinstance(b, Coupling)
    b, x, _ = prepare(b, *_image_data(0))
    with torch.no_grad():
        z = b(x)
    assert torch.equal(z[:, b.mask], x[:, b.mask]) and not torch.allclose(z, x)


def test_gaussian_mixture_matches_torch() -> None:
    gm = GaussianMixture(3, components=4, seed=1)
    with torch.no_grad():
        gm.logits.copy_(torch.tensor([0.5, -1.0, 0.0, 2.0]))
        gm.log_scale.normal_(0, 0.3)
    mix = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(logits=gm.logits),
        torch.distributions.Independent(torch.distributions.Normal(gm.loc,
                                                                   gm.log_scale.exp()), 1))
    x = torch.randn(50, 3) * 2
    assert torch.allclose(gm.log_prob(x), mix.log_prob(x), atol=1e-5)
    s = gm.rsample(20000, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(s.mean(0), mix.mean, atol=0.05)
    s[:5].sum().backward()
    assert gm.loc.grad.abs().sum() > 0 and gm.log_scale.grad.abs().sum() > 0
