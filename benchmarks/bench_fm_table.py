"""Tong et al. (2024) Table 2, reproduced: I-CFM and OT-CFM, ours and torchcfm, one process.

The published figures (Tong et al., "Simulation-Free Schrödinger Bridges via Score and Flow
Matching", AISTATS 2024, Table 2; W2 on 10 000 test points, 100 Euler steps, mean ± std over
5 seeds): OT-CFM 0.303 ± 0.043 (N -> 8gaussians) and 0.130 ± 0.016 (N -> moons), I-CFM
0.373 ± 0.103 and 0.178 ± 0.014.

The setting of the torchcfm runner (``runner/scripts/two-dim-cfm.sh``, ``experiment=cfm``):

* data: the runner's own generators, registered here as ``8gaussians-cfm`` (8 Gaussians on a
  circle of radius 5, std 1) and ``moons-cfm`` (``make_moons(noise=0.05)`` × 2 − (1, 0));
  10 000 training points per seed, as the runner's split;
* network: ``v(x, t)`` from ``[x, t]``, 3 hidden SELU layers of 64 (the runner's
  ``VelocityNet``), the same module class in both libraries;
* AdamW (lr 1e-3, weight decay 1e-5), batch 512, ``sigma_min = 0.1``. torchcfm's σ is a
  constant width around the straight line, :math:`x_t = t x_1 + (1-t) x_0 + \\sigma z`; ours
  is Lipman's ``linear`` path, :math:`x_t = (1-t) x_\\mathrm{data} + (\\sigma_\\mathrm{min} +
  (1-\\sigma_\\mathrm{min}) t) x_\\mathrm{src}`, which is what ``model.sigma_min`` means in the
  library (the two give the same data-end width 0.1; the paths differ in between);
* the budget: ``--steps`` optimiser steps (the runner trains 1 000 epochs of 19 steps, about
  19 000 steps; this script states what it used);
* evaluation: 10 000 samples by 100 Euler steps from a fixed draw of the source per seed
  (the same draw for both libraries) against 10 000 fresh test points; W2 by exact OT
  (``genmodels.divergences.wasserstein2``, POT's network simplex). Also W2 on the first
  1 000 of each (the runner's test split holds 1 000 points), the noise floor (W2 between two
  independent draws of the data set of the same size) and the normalised path energy
  :math:`\\mathrm{NPE} = |\\mathbb E\\int_0^1\\lVert v\\rVert^2 dt - W_2^2(p_\\mathrm{src},
  p_\\mathrm{data})| / W_2^2(p_\\mathrm{src}, p_\\mathrm{data})`, the energy summed over the
  same 100 Euler steps and the denominator the exact W2² between the source draw and the test
  points.

Each (data set, seed) is cached as one JSON file under ``--cache``, so seeds can run as
separate processes (``--seeds 42 43``) and ``--merge`` writes the table
``results/bench_fm_table.md``.

``--libs`` picks the trainers: ``ours`` (Lipman's ``linear`` path with ``sigma_min``),
``ours-tube``
(the ``tube`` path, :math:`x_t = (1-t) x_\\mathrm{data} + t x_\\mathrm{src} + \\sigma z`, the
paper's and torchcfm's constant width) and ``torchcfm``; ``--methods`` the rows. A run adds
its entries to the seed's cache file, so libraries and methods can run as separate processes.

Run: python benchmarks/bench_fm_table.py [--steps N] [--seeds 42 43 44 45 46] [--n-test N]
    [--libs ours ours-tube torchcfm] [--methods I-CFM OT-CFM]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from functools import partial
from pathlib import Path

import torch
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, write_table  # noqa: E402

from genmodels.core import Batch  # noqa: E402
from genmodels.data.toy import sample as toy_sample  # noqa: E402
from genmodels.distributions import StandardNormal  # noqa: E402
from genmodels.divergences import wasserstein2  # noqa: E402
from genmodels.families.fm.model import FlowMatching  # noqa: E402
from genmodels.families.fm.objective import ConditionalFlowMatching  # noqa: E402
from genmodels.paths import make_coupling, make_interpolant  # noqa: E402

DATA = {"8gaussians-cfm": "N -> 8gaussians", "moons-cfm": "N -> moons"}
METHODS = {"I-CFM": "independent", "OT-CFM": "exact"}
PAPER = {("8gaussians-cfm", "OT-CFM"): "0.303 ± 0.043", ("moons-cfm", "OT-CFM"): "0.130 ± 0.016",
         ("8gaussians-cfm", "I-CFM"): "0.373 ± 0.103", ("moons-cfm", "I-CFM"): "0.178 ± 0.014"}
SIGMA = 0.1
EULER = 100


class VelocityNet(nn.Module):
    """``v(x, t)`` from ``[x, t]``: 3 hidden SELU layers of 64 (both libraries use it)."""

    def __init__(self, d: int = 2, h: int = 64) -> None:
        super().__init__()
        self.f = nn.Sequential(nn.Linear(d + 1, h), nn.SELU(), nn.Linear(h, h), nn.SELU(),
                               nn.Linear(h, h), nn.SELU(), nn.Linear(h, d))

    def forward(self, x: Tensor, t: Tensor, cond: Tensor | None = None) -> Tensor:
        return self.f(torch.cat([x, t.reshape(-1, 1).to(x.dtype)], 1))


def euler_with_energy(v, x: Tensor, t0: float, t1: float) -> tuple[Tensor, float]:
    """100 Euler steps of ``dx/dt = v`` from ``t0`` to ``t1``, and E ∫‖v‖² |dt|."""
    ts = torch.linspace(t0, t1, EULER + 1)
    energy = torch.zeros(len(x), dtype=torch.float64)
    with torch.no_grad():
        for a, b in zip(ts[:-1], ts[1:], strict=True):
            u = v(x, a.expand(len(x)))
            energy += u.double().square().sum(1) * float(abs(b - a))
            x = x + (b - a) * u
    return x, float(energy.mean())


def _opt(net: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-5)


def train_ours(data: Tensor, coupling: str, steps: int, batch: int, seed: int,
               path: str = "linear"):
    torch.manual_seed(seed)
    net = VelocityNet()
    interpolant = (make_interpolant("tube", bridge_scale=SIGMA) if path == "tube"
                   else make_interpolant("linear", sigma_min=SIGMA))
    model = FlowMatching(net, interpolant, StandardNormal((2,)), (2,))
    obj, opt = ConditionalFlowMatching(make_coupling(coupling)), _opt(net)
    g = torch.Generator().manual_seed(seed)
    times = []
    for _ in range(steps):
        xb = data[torch.randint(len(data), (batch,), generator=g)]
        t = time.perf_counter()
        opt.zero_grad()
        obj(model, Batch(xb)).loss.backward()
        opt.step()
        times.append(time.perf_counter() - t)
    # genmodels: data at t = 0, source at t = 1
    return statistics.median(times), lambda x0: euler_with_energy(net, x0, 1.0, 0.0)


def train_torchcfm(data: Tensor, coupling: str, steps: int, batch: int, seed: int):
    from torchcfm.conditional_flow_matching import (
        ConditionalFlowMatcher,
        ExactOptimalTransportConditionalFlowMatcher,
    )

    torch.manual_seed(seed)
    net = VelocityNet()
    fm = (ExactOptimalTransportConditionalFlowMatcher(sigma=SIGMA) if coupling == "exact"
          else ConditionalFlowMatcher(sigma=SIGMA))
    opt = _opt(net)
    g = torch.Generator().manual_seed(seed)
    times = []
    for _ in range(steps):
        xb = data[torch.randint(len(data), (batch,), generator=g)]
        t = time.perf_counter()
        opt.zero_grad()
        x0 = torch.randn_like(xb)
        tt, xt, ut = fm.sample_location_and_conditional_flow(x0, xb)
        (net(xt, tt) - ut).square().mean().backward()
        opt.step()
        times.append(time.perf_counter() - t)
    # torchcfm: source at t = 0, data at t = 1
    return statistics.median(times), lambda x0: euler_with_energy(net, x0, 0.0, 1.0)


#: The trainers by library name: ours on Lipman's path (``linear`` with ``sigma_min``), ours
#: on the constant-width path (``tube``, the paper's and torchcfm's), torchcfm.
LIBS = {"ours": train_ours, "ours-tube": partial(train_ours, path="tube"),
        "torchcfm": train_torchcfm}


def one_seed(name: str, seed: int, steps: int, batch: int, n_test: int,
             methods: list[str], libs: list[str], out: dict | None = None) -> dict:
    g = torch.Generator().manual_seed(seed)
    train = toy_sample(name, 10_000, generator=g)
    test = toy_sample(name, n_test, generator=g)
    other = toy_sample(name, n_test, generator=g)
    x0 = torch.randn(n_test, 2, generator=g)
    w2_src = wasserstein2(x0, test)
    out = dict(out or {})
    if out and (out["steps"], out["batch"], out["n_test"]) != (steps, batch, n_test):
        raise SystemExit(f"{name} seed {seed}: the cache holds {out['steps']} steps, batch "
                         f"{out['batch']}, {out['n_test']} test points; use another --cache")
    out.update({"floor": wasserstein2(other, test),
                "floor_1k": wasserstein2(other[:1000], test[:1000]),
                "w2_src": w2_src, "steps": steps, "batch": batch, "n_test": n_test})
    for method in methods:
        coupling = METHODS[method]
        for lib in libs:
            fit = LIBS[lib]
            wall = time.perf_counter()
            step_s, flow = fit(train, coupling, steps, batch, seed)
            wall = time.perf_counter() - wall
            x1, energy = flow(x0.clone())
            out[f"{method}|{lib}"] = {
                "ms_per_step": step_s * 1e3, "train_s": wall,
                "w2": wasserstein2(x1, test), "w2_1k": wasserstein2(x1[:1000], test[:1000]),
                "npe": abs(energy - w2_src ** 2) / w2_src ** 2}
            print(name, seed, method, lib, out[f"{method}|{lib}"], flush=True)
    return out


def _ms(xs: list[float], digits: int = 3) -> str:
    sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
    return f"{statistics.mean(xs):.{digits}f} ± {sd:.{digits}f}"


def merge(cache: dict) -> None:
    rows = []
    notes = []
    for name, label in DATA.items():
        runs = [v for k, v in sorted(cache.items()) if k.startswith(name + "|")]
        if not runs:
            continue
        steps, batch, n = runs[0]["steps"], runs[0]["batch"], runs[0]["n_test"]
        notes.append(f"{label}: {len(runs)} seeds, {steps} steps, batch {batch}, "
                     f"W2 on {n} points; floor {_ms([r['floor'] for r in runs])} "
                     f"(1 000 points: {_ms([r['floor_1k'] for r in runs])}); "
                     f"W2(source, data) {_ms([r['w2_src'] for r in runs])}.")
        for method in METHODS:
            for lib in LIBS:
                cells = [r[f"{method}|{lib}"] for r in runs if f"{method}|{lib}" in r]
                if not cells:
                    continue
                rows.append([label, method, f"{lib} ({len(cells)} seeds)", PAPER[(name, method)],
                             _ms([c["w2"] for c in cells]), _ms([c["w2_1k"] for c in cells]),
                             _ms([c["npe"] for c in cells]),
                             f"{statistics.median(c['ms_per_step'] for c in cells):.2f}"])
    write_table("bench_fm_table", "Tong et al. 2024 Table 2: W2 (100 Euler steps) and NPE, "
                "ours and torchcfm, same network, data and budget",
                ["data", "method", "library", "paper W2", "W2 (10k)", "W2 (1k)", "NPE",
                 "ms/step"], rows, notes=" ".join(notes))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--n-test", type=int, default=1000)
    p.add_argument("--seeds", type=int, nargs="*", default=[42])
    p.add_argument("--data", nargs="*", default=list(DATA))
    p.add_argument("--cache", type=Path, default=RESULTS / "bench_fm_table_cache")
    p.add_argument("--methods", nargs="*", default=list(METHODS), choices=list(METHODS))
    p.add_argument("--libs", nargs="*", default=["ours", "torchcfm"], choices=list(LIBS),
                   help="ours: Lipman's path with sigma_min; ours-tube: the constant-width "
                        "path (the paper's); torchcfm")
    p.add_argument("--merge", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(1)
    a.cache.mkdir(parents=True, exist_ok=True)
    if not a.merge:
        for name in a.data:
            for seed in a.seeds:
                f = a.cache / f"{name}_{seed}.json"
                old = json.loads(f.read_text()) if f.exists() else None
                res = one_seed(name, seed, a.steps, a.batch, a.n_test, a.methods, a.libs, old)
                f.write_text(json.dumps(res, indent=1))
    cache = {}
    for f in sorted(a.cache.glob("*.json")):
        name, seed = f.stem.rsplit("_", 1)
        cache[f"{name}|{int(seed):03d}"] = json.loads(f.read_text())
    merge(cache)


if __name__ == "__main__":
    main()
