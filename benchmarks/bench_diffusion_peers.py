"""Our samplers against diffusers' DDIM and DPM-Solver++ schedulers on the same network.

    OMP_NUM_THREADS=1 python benchmarks/bench_diffusion_peers.py [--steps 3000] [--quick]

Trains ``vp-sde`` (β from 0.1 to 20, ε-prediction) on 8gaussians and moons, then samples
the SAME trained network with (a) our ``ddim``, ``dpm-solver++2`` and ``dpm-solver++3`` and
(b) diffusers' ``DDIMScheduler`` and ``DPMSolverMultistepScheduler`` (dpmsolver++, orders 2
and 3) built on the matching discrete schedule (1000 steps, linear β from 1e-4 to 0.02).
Diffusers' integer timestep ``k`` is mapped to the continuous time with the same signal-to-
noise ratio, :math:`\\lambda(t) = \\tfrac12\\log(\\bar\\alpha_k / (1 - \\bar\\alpha_k))`, so
both drive one function. W2 (``--n`` samples against as many test points) and median
sampling wall time (``--repeats`` interleaved repeats, default 7). Rows with diffusers' default
``clip_sample=True`` show what clipping to [-1, 1] does to data that are not images.
Needs ``benchmarks/peers.txt`` (diffusers and its non-torch needs, installed --no-deps).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import interleaved, write_table  # noqa: E402

import genmodels as gm  # noqa: E402
from genmodels.divergences import wasserstein2  # noqa: E402


def diffusers_sampler(run: gm.Run, kind: str, nfe: int, n: int, clip: bool = False):
    from diffusers import DDIMScheduler, DPMSolverMultistepScheduler, UniPCMultistepScheduler

    model = run.family_model
    sde = model.sde
    common = dict(num_train_timesteps=1000, beta_start=sde.beta_min / 1000,
                  beta_end=sde.beta_max / 1000, beta_schedule="linear",
                  prediction_type="epsilon")
    if kind == "ddim":
        sched = DDIMScheduler(**common, clip_sample=clip, set_alpha_to_one=True)
    elif kind.startswith("unipc"):  # bh2, data prediction (diffusers' defaults)
        sched = UniPCMultistepScheduler(**common, solver_order=int(kind[-1]))
    else:
        sched = DPMSolverMultistepScheduler(**common, algorithm_type="dpmsolver++",
                                            solver_order=int(kind[-1]))
    abar = sched.alphas_cumprod.double()
    t_of_k = sde.t_of_log_snr(0.5 * torch.log(abar / (1 - abar)))

    def draw(seed: int = 1) -> torch.Tensor:
        sched.set_timesteps(nfe)
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(n, *model.event_shape, generator=g) * sched.init_noise_sigma
        with torch.no_grad():
            for k in sched.timesteps:
                eps = model.predict(x, t_of_k[int(k)], "noise")
                x = sched.step(eps, k, x).prev_sample
        return run.standardize.inverse(x)

    return draw


def ours(run: gm.Run, sampler: str, nfe: int, n: int, grid: str = "auto"):
    def draw(seed: int = 1) -> torch.Tensor:
        opts = run.family_model.options
        old, opts.grid = opts.grid, grid
        try:
            return run.sample(n, seed=seed, sampler=sampler, nfe=nfe)
        finally:
            opts.grid = old
    return draw


def overhead(n: int, repeats: int) -> list[list]:
    """Each sampler's own cost: 20 steps on ``n`` points with a free network (ε̂ = 0.1 x), so
    what is timed is the schedule and update arithmetic alone, ours against diffusers'."""
    from diffusers import DDIMScheduler, DPMSolverMultistepScheduler

    from genmodels.families.diffusion import sample
    from genmodels.paths import VP

    sde, x0 = VP(), torch.randn(n, 2, generator=torch.Generator().manual_seed(0))
    common = dict(num_train_timesteps=1000, beta_start=1e-4, beta_end=0.02,
                  beta_schedule="linear", prediction_type="epsilon")

    def theirs(sched):
        def run() -> None:
            sched.set_timesteps(20)
            x = x0.clone()
            for k in sched.timesteps:
                x = sched.step(0.1 * x, k, x).prev_sample
        return run

    def ours_free(name: str):
        return lambda: sample(name, lambda t, y: -y, sde, x0.clone(), nfe=20)

    fns = {"ours ddim": ours_free("ddim"),
           "diffusers DDIM": theirs(DDIMScheduler(**common, clip_sample=False)),
           "ours dpm-solver++3": ours_free("dpm-solver++3"),
           "diffusers DPM-Solver++ (order 3)": theirs(DPMSolverMultistepScheduler(
               **common, algorithm_type="dpmsolver++", solver_order=3))}
    walls = interleaved(fns, repeats=repeats)
    return [[k, round(v * 1000, 2)] for k, v in walls.items()]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--repeats", type=int, default=7, help="timing repeats (median)")
    p.add_argument("--quick", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(1)
    steps, n = (50, 300) if a.quick else (a.steps, a.n)
    rows = []
    for name in ("8gaussians", "moons"):
        t = time.perf_counter()
        run = gm.fit(model={"name": "vp-sde"}, data={"name": name},
                     train={"steps": steps, "batch_size": 512, "lr": 2e-3, "ema_decay": 0.999,
                            "seed": 0}, progress=False)
        train_wall = time.perf_counter() - t
        data = run.dataset()
        test = data.test[:n]
        floor = wasserstein2(data.train[:n], test)
        for nfe in (10, 20):
            fns = {
                "ours ddim": ours(run, "ddim", nfe, n),
                "ours ddim (log-SNR grid)": ours(run, "ddim", nfe, n, "logsnr"),
                "diffusers DDIM": diffusers_sampler(run, "ddim", nfe, n),
                "diffusers DDIM (clip_sample=True, default)": diffusers_sampler(
                    run, "ddim", nfe, n, clip=True),
                "ours dpm-solver++2": ours(run, "dpm-solver++2", nfe, n),
                "diffusers DPM-Solver++ (order 2)": diffusers_sampler(run, "dpm2", nfe, n),
                "ours dpm-solver++3": ours(run, "dpm-solver++3", nfe, n),
                "diffusers DPM-Solver++ (order 3)": diffusers_sampler(run, "dpm3", nfe, n),
                "ours dpm-solver++3 (uniform-t grid)": ours(run, "dpm-solver++3", nfe, n,
                                                            "uniform"),
            }
            walls = interleaved(fns, repeats=a.repeats)
            for label, fn in fns.items():
                w = wasserstein2(fn(), test)
                rows.append([name, nfe, label, round(w, 4), round(w / floor, 2),
                             round(walls[label] * 1000, 1)])
                print(rows[-1], flush=True)
        print(f"{name}: floor {floor:.4f}, trained {steps} steps in {train_wall:.0f} s")
    write_table("bench_diffusion_peers_overhead",
                f"Sampler overhead: 20 steps on {n} points with a free network",
                ["sampler", "wall ms"], overhead(n, max(a.repeats, 15)))
    write_table("bench_diffusion_peers",
                f"Same vp-sde network, our samplers vs diffusers schedulers (W2, {n} vs {n})",
                ["data", "NFE", "sampler", "W2", "W2/floor", "wall ms"], rows,
                notes=f"Training: {steps} steps, batch 512, EMA 0.999. floor = W2 between "
                      f"{n} training and {n} test points.")


if __name__ == "__main__":
    main()
