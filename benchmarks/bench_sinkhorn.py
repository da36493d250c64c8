"""Entropic OT at 1 000 and 10 000 points: genmodels against POT and geomloss, same ε, cost
and stopping rule.

    OMP_NUM_THREADS=1 python benchmarks/bench_sinkhorn.py [N ...] [--repeats 3] [--no-geomloss]

Data as ``bench_divergences.py``: x ~ N(0, I₂), y ~ N((1, 0), diag(1, 2)), float64, seed 0;
cost ‖x − y‖² (POT's ``ot.dist``), ε = 0.5, uniform weights.

- ⟨π, C⟩ (``ot.sinkhorn2``'s value): ours ``entropic_ot(..., tol=1e-5,
  criterion="marginal")``, the L2 norm of the marginal violation, POT's ``stopThr`` rule,
  with and without ε-annealing, and with our default rule (``max |Δf|/ε``); our log-domain
  blocked path (the previous implementation, forced by ``DENSE_ENTRIES = 0``); POT's
  ``sinkhorn2(method="sinkhorn_log")`` and ``method="sinkhorn"`` at ``stopThr=1e-5``. Each
  value's relative error is against ours at ``tol=1e-12``.
- S_ε with ½‖x − y‖², ε = σ² (geomloss' convention): ours ``sinkhorn_divergence(cost_scale=½,
  tol=1e-5, criterion="marginal")`` against geomloss ``SamplesLoss("sinkhorn", p=2, blur=σ,
  scaling=0.9, backend="tensorized")``; relative error against ours at ``tol=1e-12``.

Wall times are medians of ``--repeats`` interleaved runs (one run at 10 000 points).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import write_table  # noqa: E402

import genmodels.divergences.sinkhorn as sk  # noqa: E402

EPS = 0.5
TOL = 1e-5


def data(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 2, generator=g, dtype=torch.float64)
    y = torch.randn(n, 2, generator=g, dtype=torch.float64) * torch.tensor([1.0, 2**0.5])
    return x, y + torch.tensor([1.0, 0.0])


def blocked(fn: Callable[[], float]) -> Callable[[], float]:
    """``fn`` with the cost never kept (the log-domain blocked path)."""
    def run() -> float:
        old, sk.DENSE_ENTRIES = sk.DENSE_ENTRIES, 0
        try:
            return fn()
        finally:
            sk.DENSE_ENTRIES = old
    return run


def timed_all(fns: dict[str, Callable[[], float]], repeats: int) -> dict[str, tuple[float, float]]:
    """Value and median wall time of each function, run in turns."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    values: dict[str, float] = {}
    for _ in range(repeats):
        for k, fn in fns.items():
            t = time.perf_counter()
            values[k] = fn()
            times[k].append(time.perf_counter() - t)
            print(k, values[k], times[k][-1], flush=True)
    return {k: (values[k], statistics.median(times[k])) for k in fns}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("n", type=int, nargs="*", default=[1000, 10000])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-geomloss", action="store_true")
    p.add_argument("--no-blocked", action="store_true", help="skip the blocked path")
    p.add_argument("--no-pot-log", action="store_true",
                   help="skip POT's sinkhorn_log (10 minutes at 10 000 points)")
    a = p.parse_args()
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    rows: list[list[object]] = []
    for n in a.n:
        rows += one_size(n, a)
    write_table("bench_sinkhorn",
                f"Entropic OT, ε = {EPS}, tolerance {TOL}: genmodels vs POT and geomloss",
                ["n per side", "quantity", "implementation", "iterations", "value",
                 "rel. err vs tol 1e-12", "seconds", "time / POT log (S_ε: / geomloss)",
                 "time / POT scaling form"], rows,
                notes="One thread (OMP_NUM_THREADS=1), float64, shared 2-core machine.")


def one_size(n: int, a: argparse.Namespace) -> list[list[object]]:
    """The rows of the table at ``n`` points per side."""
    import numpy as np
    import ot

    rows: list[list[object]] = []
    x, y = data(n)
    w = np.full(n, 1.0 / n)
    xn, yn = x.numpy(), y.numpy()
    iters: dict[str, int] = {}

    def ours(label: str, **kw: object) -> Callable[[], float]:
        def run() -> float:
            r = sk.entropic_ot(x, y, eps=EPS, **kw)
            iters[label] = r.n_iter
            return r.transport_cost
        return run

    def pot(method: str) -> Callable[[], float]:
        def run() -> float:
            v, log = ot.sinkhorn2(w, w, ot.dist(xn, yn), EPS, method=method, stopThr=TOL,
                                  numItermax=100000, log=True)
            iters[f"POT {method}"] = int(log["niter"])
            return float(v)
        return run

    fns = {
        "genmodels entropic_ot, marginal rule, no annealing":
            ours("m0", tol=TOL, criterion="marginal", scaling=0),
        "genmodels entropic_ot, marginal rule, annealing 0.7":
            ours("m7", tol=TOL, criterion="marginal"),
        "genmodels entropic_ot, default rule max|Δf|/ε":
            ours("p7", tol=TOL),
        "POT sinkhorn2 sinkhorn (scaling form)": pot("sinkhorn"),
    }
    if not a.no_pot_log:
        fns["POT sinkhorn2 sinkhorn_log"] = pot("sinkhorn_log")
    if not a.no_blocked:
        fns["genmodels log-domain blocked (previous), default rule"] = blocked(
            ours("b7", tol=TOL))
    reps = a.repeats if n <= 3000 else 1
    res = timed_all(fns, reps)
    ref = sk.entropic_ot(x, y, eps=EPS, tol=1e-12, max_iter=100000).transport_cost
    pot_log = res.get("POT sinkhorn2 sinkhorn_log", (0.0, float("nan")))[1]
    pot_t = res["POT sinkhorn2 sinkhorn (scaling form)"][1]
    keys = {k: ("m0", "m7", "p7")[i] for i, k in enumerate(list(fns)[:3])}
    keys.update({"POT sinkhorn2 sinkhorn_log": "POT sinkhorn_log",
                 "POT sinkhorn2 sinkhorn (scaling form)": "POT sinkhorn"})
    for k, (v, t) in res.items():
        rows.append([n, "⟨π,C⟩", k, iters.get(keys.get(k, "b7"), ""), f"{v:.8f}",
                     f"{abs(v - ref) / ref:.1e}", f"{t:.2f}", f"{t / pot_log:.2f}",
                     f"{t / pot_t:.2f}"])
    if not a.no_geomloss:
        import geomloss

        sigma = EPS**0.5
        loss = geomloss.SamplesLoss("sinkhorn", p=2, blur=sigma, scaling=0.9,
                                    backend="tensorized")
        gfns = {
            "genmodels sinkhorn_divergence, marginal rule": lambda: float(
                sk.sinkhorn_divergence(x, y, eps=EPS, cost_scale=0.5, tol=TOL,
                                       criterion="marginal")),
            "geomloss SamplesLoss sinkhorn (scaling 0.9, tensorized)": lambda: float(
                loss(x, y)),
        }
        gres = timed_all(gfns, reps)
        sref = float(sk.sinkhorn_divergence(x, y, eps=EPS, cost_scale=0.5, tol=1e-12,
                                            max_iter=100000))
        g_t = gres["geomloss SamplesLoss sinkhorn (scaling 0.9, tensorized)"][1]
        for k, (v, t) in gres.items():
            rows.append([n, "S_ε (½‖x−y‖²)", k, "", f"{v:.8f}",
                         f"{abs(v - sref) / sref:.1e}", f"{t:.2f}", f"{t / g_t:.2f}", ""])
    return rows


if __name__ == "__main__":
    main()
