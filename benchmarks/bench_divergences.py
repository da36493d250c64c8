"""Our MMD², exact W2 and Sinkhorn against POT (and geomloss when installed) on the same
10 000 + 10 000 points, in the same process: wall time and agreement of the values.

Data: x ~ N(0, I₂), y ~ N((1, 0), diag(1, 2)), float64, seeded. Conventions compared:

- MMD²: ours biased V-statistic, Gaussian kernel h = 1 ↔ geomloss ``SamplesLoss("gaussian",
  blur=1)`` = ½ MMD²_b (POT has no MMD). Ours unbiased is reported beside.
- W2: ``wasserstein2`` (POT's network simplex behind our checks) ↔ ``ot.emd2(a, b, ot.dist)``
  directly, ours squared.
- Sinkhorn: ``entropic_ot(..., eps)`` transport cost ⟨π, C⟩ ↔ ``ot.sinkhorn2(method=
  "sinkhorn_log", reg=eps)``; ``sinkhorn_divergence(cost_scale=½, eps=σ²)`` ↔ geomloss
  ``SamplesLoss("sinkhorn", p=2, blur=σ, scaling=0.9)``.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_divergences.py [N] [PARTS]`` with
N = 10000 points per side and PARTS a comma list of ``mmd,w2,sinkhorn`` (default all); the
table goes to ``results/divergences[_PARTS].md``. Each timing is one run (seconds to minutes);
the machine may be shared. S_ε vs geomloss runs on the first ``SINKHORN_DEBIASED_N`` points
(⟨π, C⟩ vs POT on all N). ``bench_sinkhorn.py`` is the fuller Sinkhorn comparison (both
sizes, POT's two solvers, the same stopping rule).
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_table  # noqa: E402

from genmodels.divergences import (  # noqa: E402
    entropic_ot,
    mmd2,
    sinkhorn_divergence,
    wasserstein2,
)

EPS = 0.5  # entropic ε in units of ‖x−y‖² (the data's median squared distance is ≈ 5)
SINKHORN_DEBIASED_N = 4000


def timed(fn: Callable[[], float]) -> tuple[float, float]:
    t = time.perf_counter()
    v = fn()
    return v, time.perf_counter() - t


def main(n: int, parts: tuple[str, ...] = ("mmd", "w2", "sinkhorn")) -> None:
    import numpy as np

    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 2, generator=g, dtype=torch.float64)
    y = torch.randn(n, 2, generator=g, dtype=torch.float64) * torch.tensor([1.0, 2**0.5])
    y = y + torch.tensor([1.0, 0.0])
    w = np.full(n, 1.0 / n)
    try:
        import geomloss
    except ImportError:
        geomloss = None
    rows: list[list[object]] = []

    def row(quantity: str, impl: str, value: float, secs: float, ref: float | None) -> None:
        diff = "" if ref is None else f"{abs(value - ref) / abs(ref):.1e}"
        rows.append([quantity, impl, f"{value:.6f}", f"{secs:.2f}", diff])
        print(rows[-1], flush=True)

    if "mmd" in parts:
        mmd_part(x, y, geomloss, row)
    if "w2" in parts:
        w2_part(x, y, w, row)
    if "sinkhorn" in parts:
        sinkhorn_part(x, y, w, geomloss, row)
    suffix = "" if len(parts) == 3 else "_" + "_".join(parts)
    write_table(
        f"divergences{suffix}",
        f"Divergences on {n} + {n} points (2-D, float64): genmodels vs peers",
        ["quantity", "implementation", "value", "seconds", "rel. diff to ours"], rows,
        notes=("One run each, same process, OMP_NUM_THREADS as set by the caller. geomloss "
               "tensorized (dense), no KeOps. POT's emd2 is the solver behind our "
               "wasserstein2, so their gap is our cost-matrix and checking overhead. "
               f"S_ε rows use the first {SINKHORN_DEBIASED_N} points per side."),
    )


def mmd_part(x, y, geomloss, row) -> None:  # noqa: ANN001
    ours_b, t = timed(lambda: float(mmd2(x, y, bandwidth=1.0, estimator="biased")))
    row("MMD² biased (h=1)", "genmodels mmd2", ours_b, t, None)
    ours_u, t = timed(lambda: float(mmd2(x, y, bandwidth=1.0)))
    row("MMD² unbiased (h=1)", "genmodels mmd2", ours_u, t, None)
    if geomloss is not None:
        loss = geomloss.SamplesLoss("gaussian", blur=1.0, backend="tensorized")
        v, t = timed(lambda: 2 * float(loss(x, y)))
        row("MMD² biased (h=1)", "geomloss gaussian ×2", v, t, ours_b)



def w2_part(x, y, w, row) -> None:  # noqa: ANN001
    import ot

    xn, yn = x.numpy(), y.numpy()
    ours_w, t = timed(lambda: wasserstein2(x, y) ** 2)
    row("W2² exact", "genmodels wasserstein2²", ours_w, t, None)
    v, t = timed(lambda: float(ot.emd2(w, w, ot.dist(xn, yn), numItermax=10**9)))
    row("W2² exact", "POT ot.emd2", v, t, ours_w)



def sinkhorn_part(x, y, w, geomloss, row) -> None:  # noqa: ANN001
    import ot

    xn, yn = x.numpy(), y.numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res, t = timed(lambda: entropic_ot(x, y, eps=EPS, tol=1e-5))
    row(f"⟨π,C⟩ entropic ε={EPS}", f"genmodels entropic_ot ({res.n_iter} it)",
        res.transport_cost, t, None)
    v, t = timed(lambda: float(ot.sinkhorn2(w, w, ot.dist(xn, yn), EPS, method="sinkhorn_log",
                                            stopThr=1e-5, numItermax=10000)))
    row(f"⟨π,C⟩ entropic ε={EPS}", "POT sinkhorn2 (log)", v, t, res.transport_cost)
    if geomloss is not None:
        sigma = EPS**0.5
        xs, ys = x[:SINKHORN_DEBIASED_N], y[:SINKHORN_DEBIASED_N]
        ours_s, t = timed(lambda: float(sinkhorn_divergence(xs, ys, eps=EPS, cost_scale=0.5,
                                                            tol=1e-4)))
        row(f"S_ε, ½‖x−y‖², ε={EPS}", "genmodels sinkhorn_divergence", ours_s, t, None)
        loss = geomloss.SamplesLoss("sinkhorn", p=2, blur=sigma, scaling=0.9,
                                    backend="tensorized")
        v, t = timed(lambda: float(loss(xs, ys)))
        row(f"S_ε, ½‖x−y‖², ε={EPS}", "geomloss sinkhorn (scaling .9)", v, t, ours_s)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000,
         tuple(sys.argv[2].split(",")) if len(sys.argv) > 2 else ("mmd", "w2", "sinkhorn"))
