"""Every divergence and two-sample metric on two known pairs of distributions.

    python examples/metrics_two_sample.py            # 1000 points per sample
    python examples/metrics_two_sample.py --steps 30 # CI: a tiny budget (points = 10 × steps)

Prints, for P = N(0, I₂) against Q = P (same) and Q = N((1, 0), I₂) (shifted): each quantity
with its convention, then ``evaluate`` of a model that samples Q against test data from P,
metric beside its noise floor.
"""

from __future__ import annotations

import argparse
import math
import warnings

import torch

from genmodels.core import GenerativeModel
from genmodels.divergences import (
    Energy,
    energy_distance,
    kl_gaussians,
    mmd2,
    mmd2_permutation_test,
    multi_bandwidth,
    sinkhorn_divergence,
    sliced_wasserstein,
    wasserstein2,
    wasserstein2_gaussians,
)
from genmodels.metrics import c2st, evaluate, prdc


class Shifted(GenerativeModel):
    """N(shift, I₂): a model that only samples."""

    def __init__(self, shift: float) -> None:
        super().__init__()
        self.event_shape, self.shift = (2,), shift

    def sample(self, n, *, cond=None, generator=None):  # noqa: ANN001, ANN201
        return torch.randn(n, 2, generator=generator) + torch.tensor([self.shift, 0.0])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=100, help="budget: 10 × steps points")
    n = max(60, 10 * ap.parse_args().steps)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 2, generator=g)
    pairs = {"same": torch.randn(n, 2, generator=g),
             "shifted": torch.randn(n, 2, generator=g) + torch.tensor([1.0, 0.0])}
    print(f"n = {n} points per sample")
    for name, y in pairs.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Sinkhorn tolerance warnings at tiny budgets
            s = float(sinkhorn_divergence(x, y, eps=0.5, tol=1e-4))
        rows = {
            "W2 (distance, cost |x-y|^2)": wasserstein2(x, y),
            "sliced W2 (distance, 128 dirs)": float(sliced_wasserstein(x, y, generator=g)),
            "Sinkhorn S_eps (eps=0.5, ~W2^2)": s,
            "MMD^2 unbiased (median h)": float(mmd2(x, y)),
            "MMD^2 multi-bandwidth": float(mmd2(x, y, kernel=multi_bandwidth())),
            "MMD^2 linear-time": float(mmd2(x, y, estimator="linear")),
            "energy distance (squared)": float(energy_distance(x, y)),
            "= MMD^2 with Energy() kernel": float(mmd2(x, y, kernel=Energy(),
                                                       estimator="biased")),
            "MMD permutation p-value": mmd2_permutation_test(x, y, generator=g).p_value,
            "C2ST held-out accuracy": c2st(x, y, generator=g).accuracy,
        }
        rows.update({f"PRDC {k}": v for k, v in prdc(x, y).items()})
        print(f"\n[{name}]")
        for k, v in rows.items():
            print(f"  {k:34s} {v: .4f}")
    zero, eye = torch.zeros(2), torch.eye(2)
    shift = torch.tensor([1.0, 0.0])
    w2 = wasserstein2_gaussians(zero, eye, shift, eye)
    print(f"\nclosed forms for the shifted pair: W2 = {w2}, "
          f"KL = {float(kl_gaussians(zero, eye, shift, eye))} nats")
    test = torch.randn(2 * n, 2, generator=torch.Generator().manual_seed(1))
    out = evaluate(Shifted(1.0), test, generator=torch.Generator().manual_seed(2))
    print("\nevaluate(model = N((1,0), I), test ~ N(0, I)):")
    for k in sorted(out):
        if not k.endswith("_floor") and f"{k}_floor" in out:
            print(f"  {k:16s} {out[k]: .4f}   floor {out[k + '_floor']: .4f}")
    assert math.isfinite(out["w2"]) and out["w2"] > out["w2_floor"]


if __name__ == "__main__":
    main()
