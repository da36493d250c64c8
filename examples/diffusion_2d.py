"""Score-based diffusion on a 2-D toy: train a VP SDE, sample with several samplers, score.

Run: ``python examples/diffusion_2d.py [--steps 3000] [--data moons] [--model vp-sde]``.

Prints W2 (against held-out points) and the network evaluations of each sampler, the
PF-ODE log-likelihood of test points and their variational bound (which sits below it), and,
with matplotlib, saves ``diffusion_2d.png``.
"""

from __future__ import annotations

import argparse
import time

import torch

import genmodels as gm
from genmodels.divergences import wasserstein2
from genmodels.families.diffusion import ScoreDiffusion


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--data", default="moons")
    p.add_argument("--model", default="vp-sde", help="ou-sde, vp-sde, subvp-sde or ve-sde")
    p.add_argument("--n", type=int, default=1000)
    args = p.parse_args()

    t = time.perf_counter()
    run = gm.fit(model={"name": args.model}, data={"name": args.data},
                 train={"steps": args.steps, "batch_size": 512, "lr": 2e-3,
                        "ema_decay": 0.999 if args.steps >= 1000 else 0.0})
    print(f"trained {args.model} on {args.data}: {args.steps} steps, "
          f"{time.perf_counter() - t:.1f} s")
    model = run.family_model
    assert isinstance(model, ScoreDiffusion)
    test = run.dataset().test[: args.n]

    samples = {}
    for sampler, nfe in (("dpm-solver++", 20), ("ddim", 20), ("heun", 20), ("em", 100),
                         ("pc", 100)):
        x = run.sample(args.n, seed=0, sampler=sampler, nfe=nfe)
        samples[sampler] = x
        print(f"{sampler:>13} @ {nfe:>3} NFE (used {model.last_nfe:>3}): "
              f"W2 = {wasserstein2(x, test):.3f}")

    lp = run.log_prob(test[:256])
    print(f"PF-ODE log-likelihood of 256 test points: {lp.mean():.3f} nats "
          f"({model.log_prob_kind}, {model.last_nfe} NFE per batch)")
    lb = run.log_prob(test[:256], bound=True)
    print(f"variational bound of the same points:      {lb.mean():.3f} nats "
          f"({model.bound_samples} NFE per point)")

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, axes = plt.subplots(1, len(samples) + 1, figsize=(3 * (len(samples) + 1), 3))
    for ax, (name, x) in zip(axes, [("test data", test), *samples.items()]):
        ax.scatter(*torch.as_tensor(x).T, s=1)
        ax.set_title(name)
        ax.set_aspect("equal")
    fig.tight_layout()
    fig.savefig("diffusion_2d.png", dpi=100)
    print("saved diffusion_2d.png")


if __name__ == "__main__":
    main()
