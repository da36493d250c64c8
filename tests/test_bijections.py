"""Every bijection passes the shared property suite; layer-specific behaviour on top."""

from __future__ import annotations

import pytest
import torch

from genmodels.bijections import (
    ActNorm,
    AffineCoupling,
    Chain,
    MaskedAutoregressive,
    Permutation,
    half_mask,
)
from genmodels.nn import MADE, MLP
from genmodels.testing.bijections import (
    BIJECTION_CASES,
    TRIANGULAR_CASES,
    check_bijection,
    check_triangular,
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
    check_bijection(BIJECTION_CASES[name](D, context), x, cond)


@pytest.mark.parametrize("context", [0, C])
@pytest.mark.parametrize("name", sorted(TRIANGULAR_CASES))
def test_triangular_jacobian(name: str, context: int) -> None:
    x, cond = _data(context)
    b = BIJECTION_CASES[name](D, context)
    check_triangular(b, x, TRIANGULAR_CASES[name](b), cond)


@pytest.mark.parametrize("name", ["affine_coupling", "additive_coupling", "maf", "iaf", "chain"])
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
