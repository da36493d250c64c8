r"""The property suite every bijection passes, and the list of bijections it runs over.

``tests/test_bijections.py`` parametrizes over :data:`BIJECTION_CASES` (vectors) and
:data:`IMAGE_CASES` (layers that read the vector as a flattened ``(C, H, W)`` image): a new
layer is tested by adding one factory there. All checks run in float64 on a copy of the
bijection whose parameters are jittered away from their (often identity) initialisation.
Layers whose domain is not all of :math:`\mathbb R^d` declare it in :data:`UNIT_INPUT` /
:data:`UNIT_OUTPUT` (see :func:`inputs_for`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import Tensor

from ..bijections import (
    ActNorm,
    Additive,
    Affine,
    AffineCoupling,
    Bijection,
    Chain,
    ConvConditioner,
    Coupling,
    ElementwiseAffine,
    Inverse,
    InvertibleConv1x1,
    Logit,
    LULinear,
    MaskedAutoregressive,
    Permutation,
    RationalQuadratic,
    Sigmoid,
    Split,
    channel_mask,
    checkerboard_mask,
    half_mask,
    parity_mask,
    squeeze,
    squeeze_shape,
)

#: name → ``factory(features, context)``; layers without a condition ignore ``context``.
BIJECTION_CASES: dict[str, Callable[[int, int], Bijection]] = {
    "elementwise_affine": lambda d, c: ElementwiseAffine(d),
    "permutation_reverse": lambda d, c: Permutation.reverse(d),
    "permutation_random": lambda d, c: Permutation.random(d, seed=1),
    "actnorm": lambda d, c: ActNorm(d),
    "affine_coupling": lambda d, c: AffineCoupling(half_mask(d), (16, 16), context=c),
    "affine_coupling_flipped": lambda d, c: AffineCoupling(half_mask(d, True), (16,), context=c),
    "affine_coupling_parity": lambda d, c: AffineCoupling(
        parity_mask(d), (16, 16), "tanh", context=c),
    "affine_coupling_unbounded": lambda d, c: AffineCoupling(
        half_mask(d), (16,), "silu", context=c, scale_bound=None),
    "additive_coupling": lambda d, c: AffineCoupling(
        parity_mask(d, True), (16, 16), "elu", context=c, additive=True),
    "maf": lambda d, c: MaskedAutoregressive(d, (24, 24), context=c, order=_shuffled(d)),
    "iaf": lambda d, c: Inverse(MaskedAutoregressive(d, (24,), context=c)),
    "maf_linear_made": lambda d, c: MaskedAutoregressive(d, (), context=c),
    "chain": lambda d, c: Chain(
        ActNorm(d),
        AffineCoupling(half_mask(d), (16,), context=c),
        Permutation.random(d, seed=2),
        AffineCoupling(half_mask(d, True), (16,), context=c, additive=True),
        ElementwiseAffine(d),
    ),
    "inverse_chain": lambda d, c: Inverse(Chain(
        ActNorm(d), MaskedAutoregressive(d, (16,), context=c), Permutation.reverse(d))),
    "sigmoid": lambda d, c: Sigmoid(),
    "logit": lambda d, c: Logit(alpha=0.05),
    "lu_linear": lambda d, c: LULinear(d, seed=3),
    "spline_coupling": lambda d, c: Coupling(
        half_mask(d), RationalQuadratic(bins=6, bound=2.0), (16, 16), context=c),
    "spline_coupling_parity": lambda d, c: Coupling(
        parity_mask(d, True), RationalQuadratic(bins=3, bound=3.0), (16,), "tanh", context=c),
    "spline_autoregressive": lambda d, c: MaskedAutoregressive(
        d, (24, 24), context=c, order=_shuffled(d),
        transformer=RationalQuadratic(bins=5, bound=2.0)),
    "spline_iaf": lambda d, c: Inverse(MaskedAutoregressive(
        d, (24,), context=c, transformer=RationalQuadratic(bins=4, bound=2.5))),
    "split": lambda d, c: Split(AffineCoupling(half_mask(d - 2), (16,), context=c), d - 2),
    "glow_step": lambda d, c: Chain(
        ActNorm(d), LULinear(d, seed=1), AffineCoupling(half_mask(d), (16,), context=c)),
}

#: cases whose forward direction takes points of the open unit cube ``(0, 1)^d``.
UNIT_INPUT = {"logit"}
#: cases whose inverse direction takes points of the open unit cube.
UNIT_OUTPUT = {"sigmoid"}

#: the image shape the image cases are built for (flattened: 32 coordinates).
IMAGE_SHAPE = (2, 4, 4)

#: name → ``factory(shape, context)`` for layers on flattened images ``(B, C·H·W)``.
IMAGE_CASES: dict[str, Callable[[tuple[int, int, int], int], Bijection]] = {
    "squeeze": lambda s, c: squeeze(s),
    "conv1x1": lambda s, c: InvertibleConv1x1(s, seed=2),
    "actnorm_channels": lambda s, c: ActNorm(s[0] * s[1] * s[2], channels=s[0]),
    "checkerboard_affine": lambda s, c: _image_coupling(s, c, checkerboard_mask(s), Affine()),
    "checkerboard_additive": lambda s, c: _image_coupling(
        s, c, checkerboard_mask(s, True), Additive()),
    "channel_affine": lambda s, c: _image_coupling(s, c, channel_mask(s), Affine()),
    "channel_spline": lambda s, c: _image_coupling(
        s, c, channel_mask(s, True), RationalQuadratic(bins=4, bound=2.0)),
    "multiscale": lambda s, c: Chain(
        squeeze(s),
        _image_coupling(squeeze_shape(s), c, channel_mask(squeeze_shape(s)), Affine()),
        Split(_image_coupling((4, 2, 2), c, checkerboard_mask((4, 2, 2)), Affine()), 16),
    ),
}

#: image cases whose Jacobian is triangular under the coupling's order.
IMAGE_TRIANGULAR = ("checkerboard_affine", "checkerboard_additive", "channel_affine",
                    "channel_spline")


def _image_coupling(shape: tuple[int, int, int], context: int, mask: Tensor,
                    transformer) -> Coupling:
    net = ConvConditioner(mask, shape, transformer.params, channels=8, context=context)
    return Coupling(mask, transformer, net=net)


def inputs_for(name: str, x: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
    """Moves the suite's Gaussian points into the case's domain (the unit cube if declared)."""
    if name in UNIT_INPUT:
        x = torch.sigmoid(x)
    if name in UNIT_OUTPUT:
        z = torch.sigmoid(z)
    return x, z

#: name of a case in :data:`BIJECTION_CASES` → the coordinate order in which its Jacobian
#: is lower triangular.
TRIANGULAR_CASES: dict[str, Callable[[Bijection], Tensor]] = {
    "affine_coupling": lambda b: b.order,
    "affine_coupling_flipped": lambda b: b.order,
    "affine_coupling_parity": lambda b: b.order,
    "additive_coupling": lambda b: b.order,
    "maf": lambda b: b.order,
    "iaf": lambda b: b.bijection.order,
    "spline_coupling": lambda b: b.order,
    "spline_coupling_parity": lambda b: b.order,
    "spline_autoregressive": lambda b: b.order,
    "spline_iaf": lambda b: b.bijection.order,
}


def _shuffled(d: int) -> Tensor:
    return torch.randperm(d, generator=torch.Generator().manual_seed(7))


def prepare(bijection: Bijection, x: Tensor, cond: Tensor | None = None, *, jitter: float = 0.2,
            seed: int = 0) -> tuple[Bijection, Tensor, Tensor | None]:
    """A float64 copy of ``bijection``, initialised on ``x`` (ActNorm) and jittered.

    Parameters get independent :math:`\\mathcal N(0, \\mathrm{jitter}^2)` perturbations, so
    zero-initialised (identity) layers are tested away from the identity. Returned in eval
    mode, with ``x`` and ``cond`` in float64.
    """
    b = copy.deepcopy(bijection).double()
    x = x.double()
    cond = None if cond is None else cond.double()
    b.train()
    with torch.no_grad():
        b.forward_and_log_det(x, cond)  # data-dependent initialisation, if any
        g = torch.Generator().manual_seed(seed)
        for p in b.parameters():
            p.add_(jitter * torch.randn(p.shape, generator=g, dtype=p.dtype).to(p.device))
    return b.eval(), x, cond


def jacobian(f: Callable[[Tensor], Tensor], v: Tensor) -> Tensor:
    """The Jacobian ``(d, d)`` of ``f`` (mapping ``(1, d)`` to ``(1, d)``) at the vector ``v``."""
    return torch.autograd.functional.jacobian(lambda u: f(u[None])[0], v)


def check_bijection(bijection: Bijection, x: Tensor, cond: Tensor | None = None, *,
                    z: Tensor | None = None, atol: float = 1e-8, samples: int = 4) -> None:
    """Asserts the properties every bijection must have, in float64.

    1. shapes: outputs ``(B, d)``, log-determinants ``(B,)``, all finite;
       ``forward``/``inverse`` agree with the ``*_and_log_det`` methods;
    2. round trips: :math:`f^{-1}(f(x)) = x` and :math:`f(f^{-1}(z)) = z`;
    3. the inverse's log-determinant is minus the forward's, at matching points;
    4. both log-determinants equal ``slogdet`` of the autograd Jacobian, per sample
       (the first ``samples`` points);
    5. in training mode every parameter gets a finite, non-zero gradient from a loss
       through both directions.

    Args:
        bijection: the bijection (not modified: a float64 copy is tested).
        x: data points ``(B, d)``.
        cond: the condition ``(B, C)`` or ``None``.
        z: latent points ``(B, d)`` for the inverse direction (default standard normal).
        atol: absolute tolerance of the float64 comparisons.
        samples: how many points get the (costly) Jacobian check.
    """
    b, x, cond = prepare(bijection, x, cond)
    n, d = x.shape
    if z is None:
        z = torch.randn(x.shape, generator=torch.Generator().manual_seed(1), dtype=x.dtype)
    z = z.double()

    with torch.no_grad():
        fz, fld = b.forward_and_log_det(x, cond)
        assert fz.shape == x.shape, f"forward output {tuple(fz.shape)} for input {tuple(x.shape)}"
        assert fld.shape == (n,), f"forward log_det has shape {tuple(fld.shape)}, not ({n},)"
        assert torch.isfinite(fz).all() and torch.isfinite(fld).all(), "non-finite forward"
        assert torch.equal(b(x, cond), fz), "forward() differs from forward_and_log_det()"

        x_back, ild = b.inverse_and_log_det(fz, cond)
        assert x_back.shape == x.shape and ild.shape == (n,), "inverse shapes"
        _close(x_back, x, atol, "inverse(forward(x)) != x")
        _close(ild, -fld, atol, "inverse log_det at f(x) != -forward log_det at x")

        ix, ild2 = b.inverse_and_log_det(z, cond)
        assert torch.isfinite(ix).all() and torch.isfinite(ild2).all(), "non-finite inverse"
        assert torch.equal(b.inverse(z, cond), ix), "inverse() differs from inverse_and_log_det()"
        z_back, fld2 = b.forward_and_log_det(ix, cond)
        _close(z_back, z, atol, "forward(inverse(z)) != z")
        _close(fld2, -ild2, atol, "forward log_det at f^-1(z) != -inverse log_det at z")

    for i in range(min(samples, n)):
        c = None if cond is None else cond[i : i + 1]
        jf = jacobian(lambda u, c=c: b(u, c), x[i])
        _close(torch.linalg.slogdet(jf).logabsdet, fld[i], atol, f"forward log_det [{i}]")
        ji = jacobian(lambda u, c=c: b.inverse(u, c), z[i])
        _close(torch.linalg.slogdet(ji).logabsdet, ild2[i], atol, f"inverse log_det [{i}]")

    _check_gradients(b, x, z, cond)


def _check_gradients(b: Bijection, x: Tensor, z: Tensor, cond: Tensor | None) -> None:
    if not any(True for _ in b.parameters()):
        return
    b.train()
    b.zero_grad(set_to_none=True)
    fz, fld = b.forward_and_log_det(x, cond)
    ix, ild = b.inverse_and_log_det(z, cond)
    (fz.square().sum() + fld.sum() + ix.square().sum() + ild.sum()).backward()
    for name, p in b.named_parameters():
        assert p.grad is not None, f"{name} gets no gradient"
        assert torch.isfinite(p.grad).all(), f"{name} gets a non-finite gradient"
        assert p.grad.abs().sum() > 0, f"{name} gets a zero gradient"


def check_triangular(bijection: Bijection, x: Tensor, order: Tensor,
                     cond: Tensor | None = None, *, samples: int = 4) -> None:
    """Asserts that the Jacobian, with rows and columns taken in ``order``, is lower triangular.

    Also asserts that some entry below the diagonal is non-zero, so that the check is not
    passed by a merely elementwise map.
    """
    b, x, cond = prepare(bijection, x, cond)
    order = torch.as_tensor(order).long()
    below = 0.0
    for i in range(min(samples, x.shape[0])):
        c = None if cond is None else cond[i : i + 1]
        j = jacobian(lambda u, c=c: b(u, c), x[i])[order][:, order]
        above = j.triu(1).abs().max().item()
        assert above == 0.0, f"non-zero Jacobian entry {above:.3g} above the diagonal [{i}]"
        below = max(below, j.tril(-1).abs().max().item())
    assert below > 0.0, "the Jacobian is diagonal: nothing is coupled"


def _close(a: Tensor, b: Tensor, atol: float, what: str) -> None:
    err = (a - b).abs().max().item()
    assert err <= atol * (1.0 + b.abs().max().item()), f"{what} (max error {err:.3g})"

