"""Quick start: train a RealNVP on a 2-D toy, sample it, score it, evaluate it.

Run: ``python examples/quickstart.py [--steps 2000] [--out runs/quickstart]``.
"""

from __future__ import annotations

import argparse
import tempfile

import genmodels as gm


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--out", default=None, help="run directory (default: a temporary one)")
    args = p.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="genmodels-quickstart-")

    run = gm.fit(
        model={"name": "realnvp", "layers": 8},
        data={"name": "8gaussians"},
        train={"steps": args.steps, "batch_size": 256, "lr": 1e-3},
        out=f"{out}/run",
    )
    x = run.sample(5, seed=0)
    print("samples:\n", x)
    print("log p(samples) in nats:", run.log_prob(x))

    metrics = run.evaluate()
    entropy = metrics.get("entropy", float("nan"))
    print(f"test NLL {metrics['nll']:.3f} nats (data entropy {entropy:.3f})")
    print(f"W2 {metrics['w2']:.3f} (noise floor {metrics['w2_floor']:.3f})")

    again = gm.load(f"{out}/run")  # e.g. in another process
    assert (again.sample(5, seed=0) == x).all()


if __name__ == "__main__":
    main()
