"""The (family, small config) cases of the DDP tests: a new family is one line here.

Each case: ``(name, family, --set overrides, exact)``. ``exact`` says the objective is a
deterministic function of the batch (maximum likelihood), so two processes on batches of 8
must equal one process on the joined batch of 16; stochastic objectives (noise, latents)
draw per-rank noise, so for them only the ranks' agreement and a clean run are asserted.
The exact flows run without ActNorm: its data initialisation (pooled over ranks) makes the
first gradients of its parameters ≈ 0, and Adam's first step lr·g/|g| then turns rounding
noise into ±lr; the ActNorm case is checked for a clean, rank-consistent run only.
"""

from __future__ import annotations

from typing import Any

CASES: list[tuple[str, str, list[str], bool]] = [
    ("realnvp", "realnvp", ["layers=2", "hidden=[16]", "actnorm=false"], True),
    ("maf", "maf", ["layers=2", "hidden=[16]", "actnorm=false"], True),
    ("realnvp-actnorm", "realnvp", ["layers=2", "hidden=[16]"], False),
    ("vp-sde", "vp-sde", ["width=16", "blocks=1"], False),
    *[(g, g, ["hidden=[16]", "critic_hidden=[16]"], False)
      for g in ("gan", "ns-gan", "lsgan", "hinge-gan", "fgan", "wgan", "mmd-gan")],
    ("wgan-gp", "wgan-gp", ["hidden=[16]", "critic_hidden=[16]", "n_critic=2"], False),
]


def config(family: str, batch: int) -> dict[str, Any]:
    """The run config of one case with ``batch`` points per process (overrides apart)."""
    return {
        "model": {"name": family},
        "data": {"name": "moons", "n_train": 64, "n_val": 32, "n_test": 32},
        "train": {"steps": 4, "batch_size": batch, "lr": 1e-2, "schedule": "constant",
                  "device": "cpu", "threads": 1, "checkpoint_every": 0, "log_every": 1},
    }
