r"""Sinkhorn on a kept cost matrix, in the scaling form with absorbed potentials.

The log-domain updates ``f_i = −ε log Σ_j b_j exp((g_j − C_ij)/ε)`` cost one ``exp`` per
entry and iteration. Writing ``f = f̃ + ε log u``, ``g = g̃ + ε log v`` with the *absorbed*
kernel :math:`\tilde K_{ij} = \exp((\tilde f_i + \tilde g_j - C_{ij})/\varepsilon)`, the same
updates are two matrix–vector products,

.. math::
    u \leftarrow 1 / \tilde K (b \odot v), \qquad v \leftarrow 1 / \tilde K^\top (a \odot u),

exactly the Sinkhorn iterations, with no ``exp`` on the matrix. Whenever ``|log u|`` or
``|log v|`` leaves ``[−τ, τ]`` (and at every new ε of the annealing) the scalings are absorbed
into ``f̃, g̃`` and ``K̃`` is rebuilt: one ``exp`` pass. Since ``K̃`` is built from the current
potentials, the entries that underflow carry a plan mass below ``e^{−745}``, so the iteration
is as accurate as the log domain (Schmitzer, "Stabilized Sparse Scaling Algorithms for
Entropy Regularized Transport Problems", SIAM J. Sci. Comput. 2019, §3). A matrix–vector
product whose result is not positive and finite (a whole row underflowed: the potentials
were far from the solution) is replaced by the log-domain update on the kept cost matrix.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

#: Absorb the scalings into the potentials when ``|log u|`` or ``|log v|`` exceeds this.
ABSORB_LOG = 30.0


class DenseSinkhorn:
    """The state of one entropic OT problem on a kept cost matrix ``C`` (``(n, m)``).

    Holds ``C``, the absorbed kernel ``K̃`` (one more ``(n, m)`` buffer), the absorbed
    potentials ``f̃``, ``g̃`` and the scalings ``u``, ``v``. ``sym`` solves ``OT_ε(α, α)``
    with the averaged update ``f ← ½(f + T f)``, i.e. ``u ← (u / K̃(b ⊙ u))^{1/2}``.
    """

    def __init__(self, cost: Tensor, sym: bool) -> None:
        self.c = cost
        self.n, self.m = cost.shape
        self.sym = sym
        self.ft = cost.new_zeros(self.n)
        self.gt = cost.new_zeros(self.m)
        self.logu = cost.new_zeros(self.n)
        self.logv = cost.new_zeros(self.m)
        self.k = torch.empty_like(cost)
        self.eps = math.nan

    # ---- potentials ------------------------------------------------------------------------
    def potentials(self) -> tuple[Tensor, Tensor]:
        """``f = f̃ + ε log u`` and ``g`` (``g = f`` for the symmetric problem)."""
        f = self.ft + self.eps * self.logu
        return (f, f) if self.sym else (f, self.gt + self.eps * self.logv)

    def rebuild(self, eps: float) -> None:
        """Absorbs ``u, v`` into ``f̃, g̃`` and builds ``K̃`` at ``eps`` (one ``exp`` pass)."""
        if self.eps == self.eps:  # not the first build
            self.ft, g = self.potentials()
            self.gt = self.ft if self.sym else g
        self.logu.zero_()
        self.logv.zero_()
        self.eps = eps
        torch.add(self.ft[:, None] / eps, self.gt[None, :] / eps, out=self.k)
        self.k.add_(self.c, alpha=-1.0 / eps).exp_()

    # ---- updates -----------------------------------------------------------------------------
    def _log_update(self, h: Tensor, rows: bool) -> Tensor:
        """The log-domain soft-min ``−ε log Σ exp(h − C/ε)`` along rows (over ``j``) or columns,
        on the kept ``C`` (the fallback; it uses ``K̃``'s buffer, which must be rebuilt)."""
        e = self.eps
        buf = self.k
        torch.add(h[None, :] if rows else h[:, None], self.c, alpha=-1.0 / e, out=buf)
        return -e * torch.logsumexp(buf, dim=1 if rows else 0)

    def update_f(self, damped: bool = True) -> Tensor:
        """One ``f`` update (for the symmetric problem averaged with the old ``f`` unless
        ``damped=False``); returns ``Δf/ε`` (``(n,)``)."""
        m = self.m
        w = torch.exp(self.logu if self.sym else self.logv) / m
        r = self.k @ w
        if bool((r > 0).all()) and bool(torch.isfinite(r).all()):
            new = -torch.log(r)
            if self.sym and damped:
                new = 0.5 * (self.logu + new)
            delta = new - self.logu
            self.logu = new
            return delta
        # fallback: the exact log-domain update, then a fresh kernel
        f, g = self.potentials()
        h = (f if self.sym else g) / self.eps - math.log(m)
        t = self._log_update(h, rows=True)
        new_f = 0.5 * (f + t) if self.sym and damped else t
        delta = (new_f - f) / self.eps
        self.ft, self.logu = new_f, torch.zeros_like(self.logu)
        if self.sym:
            self.gt = self.ft
        else:
            self.gt, self.logv = g, torch.zeros_like(self.logv)
        self._fresh(self.eps)
        return delta

    def update_g(self) -> None:
        """One ``g`` update (the column marginals become exact)."""
        if self.sym:
            return
        w = torch.exp(self.logu) / self.n
        r = w @ self.k
        if bool((r > 0).all()) and bool(torch.isfinite(r).all()):
            self.logv = -torch.log(r)
            return
        f, _ = self.potentials()
        t = self._log_update(f / self.eps - math.log(self.n), rows=False)
        self.ft, self.gt = f, t
        self.logu, self.logv = torch.zeros_like(self.logu), torch.zeros_like(self.logv)
        self._fresh(self.eps)

    def _fresh(self, eps: float) -> None:
        self.eps = math.nan
        self.rebuild(eps)
        self.eps = eps

    def maybe_absorb(self) -> None:
        """Rebuilds ``K̃`` when a scaling has drifted past :data:`ABSORB_LOG`."""
        big = float(self.logu.abs().max())
        if not self.sym:
            big = max(big, float(self.logv.abs().max()))
        if big > ABSORB_LOG:
            self.rebuild(self.eps)

    def plan_cost(self) -> float:
        """``⟨π, C⟩`` with ``π_ij = a_i b_j u_i K̃_ij v_j``, from the kept matrices."""
        u = torch.exp(self.logu) / self.n
        v = torch.exp(self.logu if self.sym else self.logv) / self.m
        # K̃ ⊙ C row by row block, so no third (n, m) buffer is made
        rows = max(1, (1 << 22) // max(self.m, 1))
        total = 0.0
        for i in range(0, self.n, rows):
            total += float(u[i:i + rows] @ ((self.k[i:i + rows] * self.c[i:i + rows]) @ v))
        return total
