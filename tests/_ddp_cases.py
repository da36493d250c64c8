"""The (family, small config) cases of the DDP tests: a new family is one line here.

Each case: ``(name, family, --set overrides, exact)``. ``exact``: two processes on batches of 8
must equal one process on the joined batch of 16. That holds for maximum likelihood and, since
the Trainer draws every objective's noise per data point of the global batch
(:mod:`genmodels.core.noise`), for the stochastic objectives too: diffusion's (t, ε), the GAN
latents and gradient-penalty mixing, the VAE/IWAE reparameterisation noise, the CNF's
Hutchinson probes. Not exact, checked for a clean, rank-consistent run only:
- ``ot-cfm``: the exact OT coupling pairs the points of each rank's batch (a plan of 8 points,
  not of 16); ``ot-cfm-workers`` too, its plans computed by a worker thread on each rank.
- ``mmd-gan``: its loss is MMD² of the batch, a pairwise statistic, not a mean over points; each
  rank's MMD² of 8 against 8 points is another estimator than that of 16 against 16.
- ActNorm: its data initialisation (pooled over ranks) makes the first gradients of its
  parameters ≈ 0, and Adam's first step lr·g/|g| then turns rounding noise into ±lr.
"""

from __future__ import annotations

from typing import Any

CASES: list[tuple[str, str, list[str], bool]] = [
    ("realnvp", "realnvp", ["layers=2", "hidden=[16]", "actnorm=false"], True),
    ("maf", "maf", ["layers=2", "hidden=[16]", "actnorm=false"], True),
    ("realnvp-actnorm", "realnvp", ["layers=2", "hidden=[16]"], False),
    ("vp-sde", "vp-sde", ["width=16", "blocks=1"], True),
    *[(g, g, ["hidden=[16]", "critic_hidden=[16]"], True)
      for g in ("gan", "ns-gan", "lsgan", "hinge-gan", "fgan", "wgan")],
    ("mmd-gan", "mmd-gan", ["hidden=[16]", "critic_hidden=[16]"], False),
    ("wgan-gp", "wgan-gp", ["hidden=[16]", "critic_hidden=[16]", "n_critic=2"], True),
    ("vae", "vae", ["hidden=[16]", "latent=2"], True),
    ("iwae", "iwae", ["hidden=[16]", "latent=2", "samples=4"], True),
    ("cnf", "cnf", ["width=16", "steps=4", "trace=hutchinson"], True),
    ("cfm", "cfm", ["width=16", "blocks=1"], True),
    ("ot-cfm", "ot-cfm", ["width=16", "blocks=1"], False),
    ("ot-cfm-workers", "ot-cfm", ["width=16", "blocks=1", "coupling_workers=1"], False),
]


def config(family: str, batch: int) -> dict[str, Any]:
    """The run config of one case with ``batch`` points per process (overrides apart)."""
    return {
        "model": {"name": family},
        "data": {"name": "moons", "n_train": 64, "n_val": 32, "n_test": 32},
        "train": {"steps": 4, "batch_size": batch, "lr": 1e-2, "schedule": "constant",
                  "device": "cpu", "threads": 1, "checkpoint_every": 0, "log_every": 1},
    }
