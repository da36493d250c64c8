"""Numerical robustness: extreme critic logits in every GAN loss, data at extreme scales,
constant columns, duplicated points, an extreme outlier; fp16 overflow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import genmodels as gm
from genmodels.divergences.fdiv import F_DIVERGENCES
from genmodels.families.gan import losses as L
from genmodels.families.gan.objective import mmd2_biased

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
    assert float(m) == pytest.approx(0.0, abs=1e-6) and torch.isfinite(g).all()
