"""Train the same model at ``train.precision`` fp32 and bf16 and compare speed and loss.

bf16 autocast runs on the CPU too (fp16 needs CUDA). On a GPU pass ``--device cuda``;
``--compile`` adds ``train.compile=true`` (the first steps compile).

    python examples/precision.py --steps 300 --model realnvp --data moons
    python examples/precision.py --steps 100 --model vp-sde --data digits
"""

from __future__ import annotations

import argparse

import genmodels as gm


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--model", default="realnvp")
    parser.add_argument("--data", default="moons")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--compile", action="store_true")
    args = parser.parse_args()
    # a short untimed fit first, so that one-off start-up costs do not land on fp32
    gm.fit(model={"name": args.model}, data={"name": args.data},
           train={"steps": 3, "batch_size": args.batch_size, "device": args.device,
                  "checkpoint_every": 0}, progress=False)
    for precision in ("fp32", "bf16"):
        run = gm.fit(model={"name": args.model}, data={"name": args.data},
                     train={"steps": args.steps, "batch_size": args.batch_size, "seed": 0,
                            "device": args.device, "precision": precision,
                            "compile": args.compile, "checkpoint_every": 0},
                     progress=False)
        r = run.fit_result
        print(f"{precision}: {r.steps / r.wall_time:8.1f} steps/s  final loss {r.final_loss:.4f}"
              f"  ({r.wall_time:.1f}s)")


if __name__ == "__main__":
    main()
