"""Diffusion samplers: W2 against NFE on 2-D sets, and quality at a small budget.

    OMP_NUM_THREADS=1 python benchmarks/bench_diffusion.py [--steps 20000] [--seeds 5] [--quick]

1. Trains ``vp-sde`` (default config, EMA 0.999) on 8gaussians, moons and checkerboard,
   recording the steps and wall time.
2. NFE curve on 8gaussians and moons: W2 (``--n-curve`` samples against as many test points)
   for every distinct sampler at NFE in {5, 10, 20, 50, 100, 1000}; dopri5 at three
   tolerances, with the NFE it used. Table + figure under ``benchmarks/results/``.
3. Quality at <= 20 NFE: W2 of 5 000 samples against 5 000 test points on the three sets,
   mean and sd over ``--seeds`` sampling seeds, against the noise floor. W2 between two
   independent 5 000-point samples is itself noisy (moons: 0.061 to 0.104 over four disjoint
   training chunks against the same test points), so the floor is reported twice: the first
   training chunk against the test points (one draw) and the mean over every disjoint
   5 000-point chunk of the training split.
4. ``dpm-solver++3`` and ``dpm-solver-3`` at 20 NFE against ``em`` at 1 000 steps, the same
   seeds, on all three sets: the ratio of mean W2.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, write_table  # noqa: E402

import genmodels as gm  # noqa: E402
from genmodels.divergences import wasserstein2  # noqa: E402

NFES = (5, 10, 20, 50, 100, 1000)
CURVE_SAMPLERS = ("dpm-solver++3", "dpm-solver++2", "dpm-solver-3", "dpm-solver-2", "ddim",
                  "euler", "heun", "rk4", "em", "exp", "pc")
TOLS = (1e-2, 1e-3, 1e-4)


def train(name: str, steps: int) -> tuple[gm.Run, float]:
    t = time.perf_counter()
    run = gm.fit(model={"name": "vp-sde"}, data={"name": name},
                 train={"steps": steps, "batch_size": 512, "lr": 2e-3, "ema_decay": 0.999,
                        "seed": 0}, progress=False)
    return run, time.perf_counter() - t


def w2_at(run: gm.Run, test: torch.Tensor, n: int, sampler: str, nfe: int | None,
          seed: int = 1) -> tuple[float, int, float]:
    t = time.perf_counter()
    x = run.sample(n, seed=seed, sampler=sampler, nfe=nfe)
    wall = time.perf_counter() - t
    return wasserstein2(x, test[:n]), run.family_model.last_nfe, wall


def curve(run: gm.Run, test: torch.Tensor, n: int, nfes: tuple[int, ...]) -> list[list]:
    rows = []
    for s in CURVE_SAMPLERS:
        for k in nfes:
            w, used, wall = w2_at(run, test, n, s, k)
            rows.append([s, k, used, round(w, 4), round(wall, 2)])
            print(rows[-1], flush=True)
    m = run.family_model
    for tol in TOLS:
        m.options.rtol = m.options.atol = tol
        w, used, wall = w2_at(run, test, n, "dopri5", None)
        rows.append([f"dopri5 (tol {tol:g})", "adaptive", used, round(w, 4), round(wall, 2)])
        print(rows[-1], flush=True)
    m.options.rtol = m.options.atol = 1e-3
    return rows


def figure(curves: dict[str, list[list]], floors: dict[str, float]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(curves), figsize=(6 * len(curves), 4.5), squeeze=False)
    colors = plt.get_cmap("tab20").colors
    for ax, (name, rows) in zip(axes[0], curves.items()):
        for i, s in enumerate(CURVE_SAMPLERS):
            pts = [(r[2], r[3]) for r in rows if r[0] == s]
            ax.plot(*zip(*pts), marker="os^v"[i % 4], ms=3, color=colors[i], label=s,
                    ls="-" if s.startswith(("dpm", "ddim")) else "--")
        dp = [(r[2], r[3]) for r in rows if str(r[0]).startswith("dopri5")]
        ax.plot(*zip(*dp), "k*", ms=8, label="dopri5 (tols)")
        ax.axhline(floors[name], color="grey", ls="--", label="W2 noise floor")
        ax.set(xscale="log", yscale="log", xlabel="NFE (network evaluations)", ylabel="W2",
               title=f"vp-sde on {name}")
    axes[0][-1].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    RESULTS.mkdir(exist_ok=True)
    fig.savefig(RESULTS / "bench_diffusion_nfe.png", dpi=120)


def mean_sd(values: list[float]) -> tuple[float, float]:
    """Mean and sample sd (ddof 1; 0 for a single value)."""
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def floors(data, n: int) -> tuple[float, float, float]:
    """W2 of the first training chunk against the test points, and mean and sd over every
    disjoint ``n``-point training chunk."""
    test = data.test[:n]
    ws = [wasserstein2(data.train[i * n:(i + 1) * n], test)
          for i in range(max(1, len(data.train) // n))]
    return ws[0], *mean_sd(ws)


def seeded(run: gm.Run, test: torch.Tensor, n: int, sampler: str, nfe: int,
           seeds: int) -> tuple[float, float, float]:
    """Mean and sd of W2 over sampling seeds 1..seeds, and the mean wall time per draw."""
    out = [w2_at(run, test, n, sampler, nfe, seed=k) for k in range(1, seeds + 1)]
    return *mean_sd([o[0] for o in out]), statistics.mean(o[2] for o in out)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=20000)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--n-curve", type=int, default=1000)
    p.add_argument("--n-quality", type=int, default=5000)
    p.add_argument("--no-curve", action="store_true", help="skip the NFE curves")
    p.add_argument("--quick", action="store_true", help="tiny budget (CI smoke)")
    p.add_argument("--replot", action="store_true", help="redraw the figure from results/")
    a = p.parse_args()
    if a.replot:
        import json

        curves, floor_of = {}, {}
        for name in ("8gaussians", "moons"):
            curves[name] = json.loads((RESULTS / f"bench_diffusion_nfe_{name}.json")
                                      .read_text())["rows"]
            md = (RESULTS / f"bench_diffusion_nfe_{name}.md").read_text()
            floor_of[name] = float(md.split("test): ")[1].split(".", 1)[0] + "." +
                                   md.split("test): ")[1].split(".", 1)[1][:4])
        figure(curves, floor_of)
        return
    torch.set_num_threads(1)
    nfes = (5, 20) if a.quick else NFES
    steps = 50 if a.quick else a.steps
    seeds = 2 if a.quick else a.seeds
    n_curve, n_q = (200, 500) if a.quick else (a.n_curve, a.n_quality)
    em_steps = 50 if a.quick else 1000
    curves, curve_floors, quality, versus = {}, {}, [], []
    for name in ("8gaussians", "moons", "checkerboard"):
        run, wall = train(name, steps)
        data = run.dataset()
        test = data.test[:n_q]
        first, mean_f, sd_f = floors(data, n_q)
        for s, k in (("dpm-solver++3", 20), ("dpm-solver++2", 20), ("dpm-solver++3", 10),
                     ("heun", 20), ("ddim", 20)):
            w, sd, swall = seeded(run, test, n_q, s, k, seeds)
            quality.append([name, steps, round(wall, 1), s, k, f"{w:.4f} ± {sd:.4f}",
                            round(first, 4), f"{mean_f:.4f} ± {sd_f:.4f}",
                            round(w / first, 2), round(w / mean_f, 2),
                            "yes" if w <= 1.5 * first else "no", round(swall, 2)])
            print(quality[-1], flush=True)
        em, em_sd, _ = seeded(run, test, n_q, "em", em_steps, seeds)
        for s in ("dpm-solver++3", "dpm-solver-3"):
            w, sd, _ = seeded(run, test, n_q, s, 20, seeds)
            versus.append([name, s, f"{w:.4f} ± {sd:.4f}", f"{em:.4f} ± {em_sd:.4f}",
                           round(w / em, 3), "yes" if w <= 1.1 * em else "no"])
            print(versus[-1], flush=True)
        if name in ("8gaussians", "moons") and not a.no_curve:
            curve_floors[name] = wasserstein2(data.train[:n_curve], data.test[:n_curve])
            curves[name] = curve(run, data.test, n_curve, nfes)
            write_table(f"bench_diffusion_nfe_{name}",
                        f"vp-sde on {name}: W2 ({n_curve} samples vs {n_curve} test points) "
                        "against NFE", ["sampler", "NFE budget", "NFE used", "W2", "wall s"],
                        curves[name], notes=f"W2 noise floor ({n_curve} train vs test): "
                                            f"{curve_floors[name]:.4f}. Trained {steps} steps "
                                            f"in {wall:.0f} s.")
    write_table("bench_diffusion_quality",
                f"vp-sde: W2 at <= 20 NFE ({n_q} samples vs {n_q} test points, mean ± sd over "
                f"{seeds} sampling seeds)",
                ["data", "train steps", "train wall s", "sampler", "NFE", "W2",
                 "floor (1 chunk)", "floor (mean ± sd, all chunks)", "W2/floor (1 chunk)",
                 "W2/floor (mean)", "<= 1.5x floor (1 chunk)", "sample wall s"], quality)
    write_table("bench_diffusion_vs_em",
                f"vp-sde: DPM-Solver at 20 NFE against em at {em_steps} steps ({n_q} vs {n_q}, "
                f"mean ± sd over {seeds} seeds)",
                ["data", "sampler @ 20", "W2", f"em @ {em_steps}", "ratio", "within 10%"],
                versus)
    if curves:
        figure(curves, curve_floors)


if __name__ == "__main__":
    main()
