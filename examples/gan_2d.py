"""GANs on a 2-D mixture: train WGAN-GP and an f-GAN on ring8, check curves, count modes.

Run: ``python examples/gan_2d.py [--steps 2000] [--data ring8] [--out DIR]``.
"""

from __future__ import annotations

import argparse
import tempfile
import warnings

import torch

import genmodels as gm
from genmodels.data.toy import sample as toy_sample
from genmodels.families.gan.diagnostics import check_run, critic_accuracy, estimate_jsd

#: The critic value that separates "real" from "fake": none for a Wasserstein potential
#: (the midpoint of the two means is used), v with g_f(v) = f'(1) for an f-GAN (0 here).
THRESHOLDS = {"wgan-gp": None, "fgan": 0.0}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--data", default="ring8", choices=("ring8", "grid25"))
    p.add_argument("--out", default=None, help="where the runs go (default: a temporary dir)")
    args = p.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="genmodels-gan-")
    train = {"steps": args.steps, "batch_size": 256, "lr": 1e-3, "betas": [0.5, 0.9],
             "log_every": 10}

    for model in ({"name": "wgan-gp", "gp_weight": 0.1},
                  {"name": "fgan", "divergence": "reverse-kl"}):
        run = gm.fit(model=model, data={"name": args.data}, train=train,
                     out=f"{out}/{model['name']}", progress=False)
        # the registered metric (modes, high-quality share, reverse KL of the mode histogram)
        m = run.evaluate(metrics=["mode-coverage"])
        print(f"{model['name']:8s} modes {m['modes']:.0f}/{m['modes_total']:.0f}, "
              f"high quality {100 * m['hq_fraction']:.1f} %, "
              f"reverse KL {m.get('mode_rkl', float('nan')):.3f}")

        with warnings.catch_warnings(record=True) as caught:  # oscillating / diverging loss
            warnings.simplefilter("always")
            check_run(run.path)
        for w in caught:
            print("  warning:", w.message)

        # the critic as a classifier of held-out real points (the model sees data units here)
        real = toy_sample(args.data, 1000, generator=torch.Generator().manual_seed(1))
        threshold = THRESHOLDS[model["name"]]
        acc = critic_accuracy(run.family_model, threshold, real,
                              generator=torch.Generator().manual_seed(2))
        print(f"  critic accuracy on held-out data: {acc['accuracy']:.2f}")

        # p_data is known here: a fresh discriminator bounds JSD(p_data || p_model) from below
        jsd, _ = estimate_jsd(lambda n, g: toy_sample(args.data, n, generator=g),
                              lambda n, g, run=run: run.sample(n, generator=g),
                              steps=min(500, 10 * args.steps), n_eval=5000)
        print(f"  JSD(p_data || p_model) >= {jsd:.3f} nats (log 2 = 0.693)")


if __name__ == "__main__":
    main()
