"""Latent-variable models on 2-D data: a VAE and an IWAE on moons, their ELBO beside the
importance-weighted log-likelihood (K stated, with ESS), the amortisation gap, the gradient
variance of every estimator, and black-box VI by REINFORCE on the Beta–Bernoulli coin.

Run: ``python examples/vae_2d.py [--steps 2000] [--data moons]``.
"""

from __future__ import annotations

import argparse

import torch
from torch.distributions import Beta
from torch.nn.functional import softplus

import genmodels as gm
from genmodels.families.vae import BlackBoxVI, gradient_variance


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--data", default="moons")
    args = p.parse_args()
    data = {"name": args.data, "n_train": 5000, "n_test": 500}
    train = {"steps": args.steps, "batch_size": 128, "lr": 2e-3}

    for name, extra in (("vae", []), ("iwae", ["samples=8"])):
        run = gm.fit(model={"name": name}, data=data, train=train,
                     overrides=[*extra, "eval_samples=500", "refine_steps=50"])
        m = run.evaluate(metrics=["nll", "elbo", "latent"], save=False)
        print(f"{name:5s} -ELBO {m['nll_bound']:.3f}  NLL (IW, K={m['iw_k']:.0f}) "
              f"{m['nll']:.3f} ± {m['nll_se']:.3f}  gap {m['bound_gap']:.3f}  "
              f"ESS {m['iw_ess']:.0f}  amortisation gap {m['amortisation_gap']:.3f}")

    # the same model and batch for every estimator: reparameterisation has the lowest variance
    x = run.standardize.forward(run.dataset().test[:64])
    rows = gradient_variance(run.family_model, x, ["reparam", "reinforce",
                                                   "reinforce-baseline", "reinforce-loo"],
                             repeats=50, samples=2)
    for r in rows:
        print(f"  {r['estimator']:19s} gradient variance {r['variance']:.3g} "
              f"(x{r['ratio']:.1f} of reparam)")

    # BBVI of the coin: prior Beta(10, 10), 6 heads, 4 tails -> posterior mean 16/30
    prior = Beta(10.0, 10.0)

    def log_joint(z: torch.Tensor) -> torch.Tensor:
        return prior.log_prob(z) + 6 * torch.log(z) + 4 * torch.log1p(-z)

    torch.manual_seed(0)
    vi = BlackBoxVI(log_joint, lambda q: Beta(softplus(q[0]) + 1e-3, softplus(q[1]) + 1e-3),
                    [torch.tensor(1.0), torch.tensor(4.0)], estimator="reinforce-baseline",
                    samples=8, lr=0.02)
    means = []
    for _ in range(3000):
        vi.step()
        means.append(float(vi.posterior().mean))
    tail = means[len(means) // 2:]
    print(f"coin: BBVI posterior mean {sum(tail) / len(tail):.4f} (exact {16 / 30:.4f})")


if __name__ == "__main__":
    main()
