"""Entropic optimal transport and the debiased Sinkhorn divergence, in the log domain.

Convention (one for the whole module): uniform weights ``a = 1/n``, ``b = 1/m``; cost
``C(x, y) = cost_scale · ‖x − y‖^p`` with ``p ∈ {1, 2}``, default ``‖x − y‖²`` (POT's
``ot.dist``, **not** geomloss' ½‖x − y‖²); entropic regulariser ``ε·KL(π ‖ a ⊗ b)`` with ``ε`` in
the units of the cost (Feydy et al. 2019), so that

.. math::
    \\mathrm{OT}_\\varepsilon(\\alpha, \\beta)
        = \\min_{\\pi \\in \\Pi(a, b)} \\langle \\pi, C \\rangle
        + \\varepsilon\\,\\mathrm{KL}(\\pi \\,\\|\\, a \\otimes b),
    \\qquad
    S_\\varepsilon = \\mathrm{OT}_\\varepsilon(\\alpha, \\beta)
        - \\tfrac12 \\mathrm{OT}_\\varepsilon(\\alpha, \\alpha)
        - \\tfrac12 \\mathrm{OT}_\\varepsilon(\\beta, \\beta).

POT's ``ot.sinkhorn(a, b, M, reg=ε)`` solves the same problem with the regulariser
``ε Σ π log π``; the plans are identical and
``OT_ε = ⟨π, M⟩ + ε (Σ π log π + log n + log m)``; ``ot.sinkhorn2`` returns only ``⟨π, M⟩``
(our ``transport_cost``). ``S_ε`` → ``W_p^p`` (the *power*, e.g. W2², not the distance) as
``ε → 0`` and → an MMD with kernel ``−C`` as ``ε → ∞``; ``S_ε ≥ 0``, 0 iff α = β.
"""

from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import torch
from torch import Tensor

from ..errors import InputError
from ._pairwise import BLOCK_ENTRIES, as_pair, safe_sqrt, sq_dists
from ._sinkhorn_dense import DenseSinkhorn


class EntropicOT(NamedTuple):
    """The result of :func:`entropic_ot`."""

    value: Tensor  #: OT_ε, 0-dim (differentiable through the envelope theorem)
    transport_cost: float  #: ⟨π, C⟩ (what ``ot.sinkhorn2`` returns)
    f: Tensor  #: dual potential on x, (n,)
    g: Tensor  #: dual potential on y, (m,)
    n_iter: int
    converged: bool


def _cost(a: Tensor, b: Tensor, p: int, scale: float) -> Tensor:
    if a.requires_grad or b.requires_grad:
        d2 = sq_dists(a, b)
        return scale * (d2 if p == 2 else safe_sqrt(d2))
    # no graph: ‖a‖² + ‖b‖² − 2ab in place (three passes over the matrix instead of six)
    d2 = torch.addmm((a * a).sum(1)[:, None], a, b.T, alpha=-2.0)
    d2.add_((b * b).sum(1)[None, :]).clamp_min_(0.0)
    if p == 1:
        d2.sqrt_()
    return d2.mul_(scale) if scale != 1.0 else d2


#: Cost matrices up to this many entries are kept, with the absorbed kernel beside them
#: (two float64 buffers, 1 GiB each at the limit; 10 000 × 10 000 points fit).
DENSE_ENTRIES = 2**27


def _softmin(a: Tensor, b: Tensor, h: Tensor, eps: float, p: int, scale: float) -> Tensor:
    """``u_i = −ε log Σ_j exp(h_j − C(a_i, b_j)/ε)``, one block of rows at a time."""
    rows = max(1, BLOCK_ENTRIES // max(b.shape[0], 1))
    out = [
        -eps * torch.logsumexp(h[None, :] - _cost(a[i : i + rows], b, p, scale) / eps, dim=1)
        for i in range(0, a.shape[0], rows)
    ]
    return torch.cat(out)


def _plan_cost(
    x: Tensor, y: Tensor, f: Tensor, g: Tensor, eps: float, p: int, scale: float
) -> Tensor:
    """``Σ π_ij C_ij`` with ``π = a b exp((f ⊕ g − C)/ε)`` fixed and C differentiable."""
    n, m = x.shape[0], y.shape[0]
    rows = max(1, BLOCK_ENTRIES // max(m, 1))
    total = x.new_zeros(())
    for i in range(0, n, rows):
        c = _cost(x[i : i + rows], y, p, scale)
        logpi = (f[i : i + rows, None] + g[None, :] - c.detach()) / eps - math.log(n * m)
        total = total + (logpi.exp() * c).sum()
    return total


def _diameter(x: Tensor, y: Tensor, p: int, scale: float) -> float:
    z = torch.cat([x.detach(), y.detach()])
    d = float((z.max(0).values - z.min(0).values).norm())
    return scale * max(d, 1e-12) ** p


def _check(eps: float, p: int, cost_scale: float) -> None:
    if not eps > 0:
        raise InputError(f"eps must be positive, got {eps}")
    if p not in (1, 2):
        raise InputError(f"p must be 1 or 2, got {p}")
    if not cost_scale > 0:
        raise InputError(f"cost_scale must be positive, got {cost_scale}")


CRITERIA = ("potential", "marginal")


def _error(delta: Tensor, criterion: str) -> float:
    """The stopping statistic from ``Δ = Δf/ε`` of one ``f`` update: ``max |Δ|``, or the
    L2 norm of the row-marginal violation of the plan before it, ``‖a ⊙ (e^{−Δ} − 1)‖₂``
    (POT's ``stopThr`` rule, there on the columns)."""
    if criterion == "potential":
        return float(delta.abs().max())
    return float(torch.linalg.vector_norm(torch.expm1(-delta)) / delta.numel())


def entropic_ot(
    x: Tensor,
    y: Tensor | None = None,
    *,
    eps: float,
    p: int = 2,
    cost_scale: float = 1.0,
    max_iter: int = 2000,
    tol: float = 1e-6,
    scaling: float = 0.7,
    criterion: str = "potential",
) -> EntropicOT:
    """Entropic OT ``OT_ε(α, β)`` by Sinkhorn iterations with ε-scaling.

    Potentials ``f``, ``g`` are updated by soft-min c-transforms
    ``f_i = −ε log Σ_j b_j exp((g_j − C_ij)/ε)`` and ``g_j = −ε log Σ_i a_i exp((f_i −
    C_ij)/ε)``. ε starts at the diameter's cost and is multiplied by ``scaling`` until it
    reaches ``eps`` (warm-started annealing, Schmitzer 2019); then iterations run until the
    stopping statistic is below ``tol``: with ``criterion="potential"`` the largest change of
    ``f/ε`` (≈ the largest relative marginal error), with ``"marginal"`` the L2 norm of the
    marginal violation (POT's ``stopThr``). The value is the dual ``⟨a, f⟩ + ⟨b, g⟩``, exact
    after a ``g`` update. With ``y = None`` the symmetric problem ``OT_ε(α, α)`` is solved
    with averaged updates ``f ← ½(f + T f)`` (Feydy et al. 2019).

    Up to :data:`DENSE_ENTRIES` entries the cost matrix is kept with an absorbed kernel beside
    it (two ``(n, m)`` float64 buffers: 1.6 GB at 10 000 × 10 000 points) and the iterations
    are matrix–vector products in the scaling form (``_sinkhorn_dense``: as accurate as the
    log domain, with one ``exp`` pass per annealing step instead of one per iteration).
    Beyond, the log-domain updates recompute the cost in row blocks at every update (memory
    O(block)). The gradient with respect to the points follows the envelope theorem
    (``Σ π ∇C``): no graph is kept through the iterations.

    Args:
        x: ``(n, *D)``.
        y: ``(m, *D)``, or ``None`` for ``OT_ε(α, α)``.
        eps: ε, in the units of the cost.
        p: the cost exponent, 1 or 2.
        cost_scale: the cost's factor (``0.5`` gives geomloss' ½‖x − y‖²).
        max_iter: iterations at the final ε, at most.
        tol: the stopping threshold.
        scaling: the ε-annealing factor in (0, 1); 0 disables annealing.
        criterion: ``"potential"`` or ``"marginal"`` (see above).
    """
    _check(eps, p, cost_scale)
    if criterion not in CRITERIA:
        raise InputError(f"criterion {criterion!r}: unknown (known: {', '.join(CRITERIA)})")
    sym = y is None
    a, b = as_pair(x, x if sym else y)
    n, m = a.shape[0], b.shape[0]
    schedule: list[float] = []
    if 0 < scaling < 1:
        e = _diameter(a, b, p, cost_scale)
        while e > eps:
            schedule.append(e)
            e *= scaling
    with torch.no_grad():
        if n * m <= DENSE_ENTRIES:
            f, g, it, converged, err, dense = _solve_dense(
                a.detach(), b.detach(), sym, schedule, eps, p, cost_scale, max_iter, tol,
                criterion)
        else:
            f, g, it, converged, err = _solve_blocked(
                a.detach(), b.detach(), sym, schedule, eps, p, cost_scale, max_iter, tol,
                criterion)
            dense = None
        dual = f.mean() + g.mean()
    if not converged:
        warnings.warn(f"entropic_ot: not converged after {max_iter} iterations at eps={eps} "
                      f"({criterion} error {err:.2e} > tol {tol})", stacklevel=2)
    if dense is not None and not (a.requires_grad or b.requires_grad):
        return EntropicOT(dual, dense.plan_cost(), f, g, it, converged)
    plan_cost = _plan_cost(a, b, f, g, eps, p, cost_scale)
    value = dual + (plan_cost - plan_cost.detach())
    return EntropicOT(value, float(plan_cost.detach()), f, g, it, converged)


def _solve_dense(a: Tensor, b: Tensor, sym: bool, schedule: list[float], eps: float, p: int,
                 scale: float, max_iter: int, tol: float, criterion: str
                 ) -> tuple[Tensor, Tensor, int, bool, float, DenseSinkhorn]:
    """Sinkhorn in the scaling form on the kept cost matrix (:class:`DenseSinkhorn`)."""
    s = DenseSinkhorn(_cost(a, b, p, scale), sym)
    for e in schedule:  # one update per annealing step, each on a fresh kernel
        s.rebuild(e)
        s.update_f()
        s.update_g()
    s.rebuild(eps)
    converged, it, err = False, 0, math.inf
    for it in range(1, max_iter + 1):  # noqa: B007
        delta = s.update_f()
        s.update_g()
        err = _error(delta, criterion)
        if err < tol:
            converged = True
            break
        s.maybe_absorb()
    if sym:
        s.update_f(damped=False)  # the fixed point, once more
    f, g = s.potentials()
    return f, g, it, converged, err, s


def _solve_blocked(a: Tensor, b: Tensor, sym: bool, schedule: list[float], eps: float, p: int,
                   scale: float, max_iter: int, tol: float, criterion: str
                   ) -> tuple[Tensor, Tensor, int, bool, float]:
    """Log-domain Sinkhorn recomputing the cost in row blocks at every update."""
    n, m = a.shape[0], b.shape[0]
    la, lb = -math.log(n), -math.log(m)
    f, g = a.new_zeros(n), b.new_zeros(m)
    for e in schedule:  # one update per annealing step
        if sym:
            f = 0.5 * (f + _softmin(a, a, la + f / e, e, p, scale))
        else:
            f = _softmin(a, b, lb + g / e, e, p, scale)
            g = _softmin(b, a, la + f / e, e, p, scale)
    converged, it, err = False, 0, math.inf
    for it in range(1, max_iter + 1):  # noqa: B007
        if sym:
            f_new = 0.5 * (f + _softmin(a, a, la + f / eps, eps, p, scale))
        else:
            f_new = _softmin(a, b, lb + g / eps, eps, p, scale)
            g = _softmin(b, a, la + f_new / eps, eps, p, scale)
        err = _error((f_new - f) / eps, criterion)
        f = f_new
        if err < tol:
            converged = True
            break
    if sym:
        f = _softmin(a, a, la + f / eps, eps, p, scale)  # the fixed point, once more
        g = f
    return f, g, it, converged, err


def sinkhorn_divergence(
    x: Tensor,
    y: Tensor,
    *,
    eps: float,
    p: int = 2,
    cost_scale: float = 1.0,
    max_iter: int = 2000,
    tol: float = 1e-6,
    scaling: float = 0.7,
    criterion: str = "potential",
) -> Tensor:
    """The debiased Sinkhorn divergence ``S_ε = OT_ε(α,β) − ½OT_ε(α,α) − ½OT_ε(β,β)``.

    Feydy, Séjourné, Vialard, Amari, Trouvé, Peyré, "Interpolating between Optimal Transport
    and MMD using Sinkhorn Divergences", AISTATS 2019. Conventions in the module docstring:
    cost ``cost_scale·‖x − y‖^p`` (default ‖x − y‖², not halved), regulariser ``ε·KL(π‖a⊗b)``,
    the value in cost units (→ W2² for small ε, p = 2). geomloss'
    ``SamplesLoss("sinkhorn", p=2, blur=σ)`` is our value with ``cost_scale=0.5, eps=σ²``.
    POT's ``empirical_sinkhorn_divergence`` is a different quantity (Genevay et al. 2018,
    linear terms only). Differentiable (envelope gradients).

    Args:
        x: ``(n, *D)``.
        y: ``(m, *D)``.
        eps, p, cost_scale, max_iter, tol, scaling, criterion: as in :func:`entropic_ot`.

    Returns:
        A 0-dim float64 tensor.
    """
    kw = dict(eps=eps, p=p, cost_scale=cost_scale, max_iter=max_iter, tol=tol, scaling=scaling,
              criterion=criterion)
    xy = entropic_ot(x, y, **kw).value
    xx = entropic_ot(x, None, **kw).value
    yy = entropic_ot(y, None, **kw).value
    return xy - 0.5 * (xx + yy)
