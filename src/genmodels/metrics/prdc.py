"""Precision/recall (Kynkäänniemi et al. 2019) and density/coverage (Naeem et al. 2020)."""

from __future__ import annotations

import torch
from torch import Tensor

from ..divergences._pairwise import as_pair, sq_dists
from ..errors import InputError


def _kth_radius(z: Tensor, k: int, block: int = 1024) -> Tensor:
    """Distance of each point to its k-th nearest neighbour in ``z``, itself excluded."""
    out = []
    for i in range(0, z.shape[0], block):
        d2 = sq_dists(z[i : i + block], z)
        r = torch.arange(d2.shape[0])
        d2[r, r + i] = 0.0
        out.append(d2.kthvalue(k + 1, dim=1).values)  # the 1st smallest is the point itself
    return torch.cat(out).sqrt()


def _inside(points: Tensor, centres: Tensor, radii: Tensor, block: int = 1024) -> Tensor:
    """``counts[j] = #{i : ‖points_j − centres_i‖ < radii_i}``, shape ``(len(points),)``."""
    out = []
    r2 = radii.pow(2)
    for j in range(0, points.shape[0], block):
        d2 = sq_dists(points[j : j + block], centres)
        out.append((d2 < r2[None, :]).sum(1))
    return torch.cat(out)


def prdc(real: Tensor, fake: Tensor, *, k: int = 5) -> dict[str, float]:
    """Precision, recall, density and coverage of ``fake`` against ``real`` with k-NN balls.

    With ``B(z, r)`` the open ball and ``NND_k(z)`` the distance from ``z`` to its k-th
    nearest neighbour within its own set (itself excluded), for real ``x_1..x_N`` and fake
    ``y_1..y_M``:

    - precision = (1/M) Σ_j 1[∃i: y_j ∈ B(x_i, NND_k(x_i))] — fake points on the real manifold;
    - recall = (1/N) Σ_i 1[∃j: x_i ∈ B(y_j, NND_k(y_j))] — real points on the fake manifold
      (Kynkäänniemi et al., "Improved Precision and Recall Metric for Assessing Generative
      Models", NeurIPS 2019);
    - density = (1/(kM)) Σ_j Σ_i 1[y_j ∈ B(x_i, NND_k(x_i))] (can exceed 1);
    - coverage = (1/N) Σ_i 1[∃j: y_j ∈ B(x_i, NND_k(x_i))] (Naeem et al., "Reliable Fidelity
      and Diversity Metrics for Generative Models", ICML 2020).

    The first argument is the **real** sample. Membership is strict (``<``), as in the
    reference ``prdc.compute_prdc`` of Naeem et al., which these values equal. Euclidean
    distances on the flattened points, float64, computed in blocks (memory O(block · N)).
    """
    a, b = as_pair(real, fake)
    n, m = a.shape[0], b.shape[0]
    if k < 1 or k >= min(n, m):
        raise InputError(f"prdc: k must be in [1, {min(n, m) - 1}], got {k}")
    ra, rb = _kth_radius(a, k), _kth_radius(b, k)
    in_real = _inside(b, a, ra)  # per fake point: real balls containing it
    in_fake = _inside(a, b, rb)  # per real point: fake balls containing it
    # coverage: real balls that contain at least one fake point
    covered = torch.zeros(n, dtype=torch.bool)
    r2 = ra.pow(2)
    for i in range(0, n, 1024):
        d2 = sq_dists(a[i : i + 1024], b)
        covered[i : i + 1024] = (d2.min(1).values < r2[i : i + 1024])
    return {
        "precision": float((in_real > 0).double().mean()),
        "recall": float((in_fake > 0).double().mean()),
        "density": float(in_real.double().sum() / (k * m)),
        "coverage": float(covered.double().mean()),
    }
