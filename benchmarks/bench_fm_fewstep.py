"""Flow matching through ``genmodels.fit``: few-step W2 / floor and test NLL − entropy.

    OMP_NUM_THREADS=1 python benchmarks/bench_fm_fewstep.py [--steps 10000] [--toys moons]

1. Trains ``cfm`` and ``ot-cfm`` (the family's default config; ``--set model.X=...`` or
   ``--set train.X=...`` adds overrides, which name the run) once per toy (8gaussians,
   moons, checkerboard; the library's definitions) with ``--steps`` at ``--batch`` (seed 0)
   and keeps the run under ``--runs``; a later call reuses it.
2. Few steps: W2 between 5 000 samples (``run.sample(sampler=..., nfe=...)``) and the first
   5 000 test points for each fixed-step sampler (``euler``, ``midpoint``, ``heun``,
   ``rk4``) at 4, 8 and 20 network evaluations (steps = NFE / evaluations per step; one
   sampling seed at 4 and 8, the mean of ``--seeds`` seeds at 20), and ``dopri5`` (rtol
   1e-4, adaptive; ``--seeds`` seeds) as the reference: the model's own error. The floor is
   W2 between the first 5 000 training and test points (as ``bench_diffusion_fewstep.py``).
   Goal: W2 ≤ 1.5 × floor at ≤ 20 NFE. ``--skip-w2`` leaves this part out.
3. Likelihood: ``run.evaluate(test[:--n-nll], metrics=["nll"])`` (``dopri5`` with the exact
   trace, at each tolerance of ``--nll-rtol``: rtol = atol, default the family's 1e-5; a
   second, tighter one checks the NLL is converged) against the data's entropy:
   ``8gaussians`` and ``checkerboard`` from :mod:`genmodels.data.toy_density`; ``moons``,
   which has no closed-form density in the library, from :func:`moons_log_prob` below (the
   sampler's own construction: each moon is a Gaussian of std 0.2 around a half circle at
   evenly spaced angles, so its density is an equal-weight mixture over those angles; with
   2 000 nodes per arc, 0.006 apart against std 0.2, the difference from the continuum is
   far below the Monte-Carlo error). Goal: NLL − H ≤ 0.10 nats.

Each (toy, model, overrides) writes ``results/bench_fm_fewstep_<toy>.{md,json}``;
``--merge`` joins them into ``results/bench_fm_fewstep.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, write_table  # noqa: E402

import genmodels as gm  # noqa: E402
from genmodels.data import toy, toy_density  # noqa: E402
from genmodels.divergences import wasserstein2  # noqa: E402

TOYS = ("8gaussians", "moons", "checkerboard")
MODELS = ("cfm", "ot-cfm")
SAMPLERS = ("euler", "midpoint", "heun", "rk4")
NFES = (4, 8, 20)
N = 5000
RUNS = RESULTS / "fm_fewstep_runs"
MOONS_NODES = 2000


def moons_log_prob(x: torch.Tensor, nodes: int = MOONS_NODES) -> torch.Tensor:
    """log p of the library's ``moons``: ½ Σ_moon mean_s N(x; 2 m(s) + (−1, −0.2), 0.2² I),
    s on ``nodes`` evenly spaced angles of [0, π] (both ends), outer m = (cos s, sin s), inner
    m = (1 − cos s, 0.5 − sin s); float64, ``(B,)``."""
    s = torch.linspace(0.0, math.pi, nodes, dtype=torch.float64)
    arcs = torch.cat([torch.stack([s.cos(), s.sin()], 1),
                      torch.stack([1 - s.cos(), 0.5 - s.sin()], 1)])
    centres = 2 * arcs + torch.tensor([-1.0, -0.2], dtype=torch.float64)
    std = 0.2
    out = []
    for chunk in torch.split(x.to(torch.float64), 4096):
        sq = (chunk[:, None, :] - centres).square().sum(-1)
        out.append(torch.logsumexp(-sq / (2 * std * std), 1))
    return torch.cat(out) - math.log(len(centres)) - math.log(2 * math.pi * std * std)


def entropy(name: str) -> tuple[float, float]:
    """The data entropy in nats and its standard error."""
    if name != "moons":
        return toy_density.entropy(name)
    g = torch.Generator().manual_seed(20_240_601)
    nlp = -moons_log_prob(toy.sample("moons", 200_000, generator=g))
    return float(nlp.mean()), float(nlp.std()) / math.sqrt(nlp.numel())


def run_name(model: str, overrides: list[str]) -> str:
    return model + "".join(f"_{o.replace('model.', '').replace('=', '-')}" for o in overrides)


def nll_runs(run: gm.Run, a: argparse.Namespace) -> dict[float, gm.Run]:
    """The run reloaded at each likelihood tolerance of ``--nll-rtol``."""
    own = [o for o in a.set if o.startswith("model.") and "likelihood_rtol" not in o]
    return {tol: gm.load(run.path, which="last",
                         overrides=[*own, f"model.likelihood_rtol={tol:g}"])
            for tol in a.nll_rtol}


def trained(model: str, name: str, a: argparse.Namespace) -> tuple[gm.Run, float]:
    """The run of ``model`` on ``name`` (trained first if missing) and its training wall."""
    out = a.runs / f"{name}_{run_name(model, a.set)}_{a.steps}x{a.batch}"
    if not (out / "config.json").is_file():
        t = time.perf_counter()
        gm.fit(model={"name": model}, data={"name": name}, overrides=list(a.set),
               train={"steps": a.steps, "batch_size": a.batch, "seed": 0}, out=out,
               progress=False)
        (out / "train_wall.json").write_text(json.dumps({"seconds": time.perf_counter() - t}))
    wall = json.loads((out / "train_wall.json").read_text())["seconds"]
    return gm.load(out, which="last"), wall


def measure(run: gm.Run, name: str, a: argparse.Namespace, wall: float) -> dict:
    cache_path = run.path / "fewstep.json"
    cache = json.loads(cache_path.read_text()) if cache_path.is_file() else {}

    def cached(key: str, fn):  # noqa: ANN001, ANN202
        if key not in cache:
            cache[key] = fn()
            cache_path.write_text(json.dumps(cache, indent=0))
        return cache[key]

    data = run.dataset()
    test = data.test[:N]
    floor = cached("floor", lambda: wasserstein2(data.train[:N], test))
    cells = {}
    for sampler in ((*SAMPLERS, "dopri5") if not a.skip_w2 else ()):
        for nfe in (NFES if sampler != "dopri5" else (0,)):
            ws = [cached(f"{sampler}|{nfe}|{k}", lambda s=sampler, f=nfe, k=k: wasserstein2(
                run.sample(N, seed=k, sampler=s, nfe=f or None), test))
                for k in range(1, (a.seeds if nfe in (0, NFES[-1]) else 1) + 1)]
            cells[f"{sampler}|{nfe}"] = statistics.mean(ws)
    h, h_se = cached("entropy", lambda: list(entropy(name)))

    def nll(r: gm.Run) -> dict:
        t = time.perf_counter()
        ev = r.evaluate(data.test[:a.n_nll], metrics=["nll"], entropy=h, entropy_se=h_se,
                        save=False)
        return {"nll": ev["nll"], "nll_se": ev["nll_se"], "seconds": time.perf_counter() - t}

    evs = {tol: cached(f"nll|{a.n_nll}|{tol:g}", lambda r=r: nll(r))
           for tol, r in nll_runs(run, a).items()}
    return {"floor": floor, "cells": cells, "entropy": h, "entropy_se": h_se,
            **evs[a.nll_rtol[0]], "nll_by_rtol": {f"{k:g}": v for k, v in evs.items()},
            "wall": wall}


def nll_table(name: str, results: dict[str, dict], a: argparse.Namespace) -> None:
    rows = []
    for label, r in results.items():
        h = r["entropy"]
        rows.append([label, *(f"{e['nll']:.3f} ± {e['nll_se']:.3f} − {h:.3f} = "
                              f"{e['nll'] - h:+.3f} "
                              f"({'met' if e['nll'] - h <= 0.10 else 'missed'})"
                              for e in r["nll_by_rtol"].values()), f"{r['wall']:.0f} s"])
    write_table(f"bench_fm_fewstep_{name}_nll", f"Flow matching on {name}: test NLL − entropy",
                ["run", *(f"NLL − H, rtol = atol = {k}" for k in
                          next(iter(results.values()))["nll_by_rtol"]), "train wall"],
                rows, notes=f"{a.steps} steps at batch {a.batch}, seed 0; NLL on {a.n_nll} test "
                "points (dopri5, exact trace); goal NLL − H ≤ 0.10 nats.")


def table(name: str, results: dict[str, dict], a: argparse.Namespace) -> None:
    rows = []
    for label, r in results.items():
        f = r["floor"]
        few = {k: v for k, v in r["cells"].items() if k.endswith(f"|{NFES[-1]}")}
        best = min(few, key=few.get)
        for sampler in SAMPLERS:
            rows.append([label, sampler, *(f"{r['cells'][f'{sampler}|{n}'] / f:.2f}"
                                          for n in NFES), "", "", ""])
        gap = r["nll"] - r["entropy"]
        rows.append([label, "dopri5 (reference)", *([""] * (len(NFES) - 1)),
                     f"{r['cells']['dopri5|0'] / f:.2f}",
                     f"{best.replace('|', ' @ ')}: {few[best] / f:.2f}"
                     f" ({'met' if few[best] <= 1.5 * f else 'missed'})",
                     f"{r['nll']:.3f} ± {r['nll_se']:.3f} − {r['entropy']:.3f} = {gap:+.3f}"
                     f" ({'met' if gap <= 0.10 else 'missed'})", f"{r['wall']:.0f} s"])
    floor = next(iter(results.values()))["floor"]
    write_table(f"bench_fm_fewstep_{name}",
                f"Flow matching on {name}: W2 / floor by sampler and NFE, and NLL − entropy",
                ["run", "sampler", *(f"@ {n}" for n in NFES), f"best @ {NFES[-1]} NFE (goal 1.5)",
                 "NLL − H (goal 0.10)", "train wall"],
                rows, notes=f"floor (5 000 train vs 5 000 test points) {floor:.4f}; W2 of "
                f"{N} samples (mean of {a.seeds} sampling seeds at {NFES[-1]} NFE and dopri5, "
                f"one seed below); {a.steps} steps at batch "
                f"{a.batch}, seed 0; NLL on {a.n_nll} test points (dopri5, exact trace).")


def merge() -> None:
    parts = [p.read_text() for name in TOYS for suffix in ("", "_nll")
             if (p := RESULTS / f"bench_fm_fewstep_{name}{suffix}.md").is_file()]
    (RESULTS / "bench_fm_fewstep.md").write_text("\n".join(parts))
    print("\n".join(parts))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=Path, default=RUNS)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--n-nll", type=int, default=500)
    p.add_argument("--toys", nargs="*", default=list(TOYS))
    p.add_argument("--models", nargs="*", default=list(MODELS))
    p.add_argument("--set", action="append", default=[],
                   help="model.X=... or train.X=... for both models")
    p.add_argument("--nll-rtol", nargs="+", type=float, default=[1e-5],
                   help="dopri5 rtol = atol of the NLL (the first one goes in the W2 table)")
    p.add_argument("--skip-w2", action="store_true", help="the likelihood only")
    p.add_argument("--merge", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(1)
    if a.merge:
        merge()
        return
    for name in a.toys:
        results = {}
        for model in a.models:
            run, wall = trained(model, name, a)
            results[run_name(model, a.set)] = measure(run, name, a, wall)
            print(name, model, json.dumps(results[run_name(model, a.set)]), flush=True)
        if not a.skip_w2:
            table(name, results, a)
        nll_table(name, results, a)


if __name__ == "__main__":
    main()
