"""Accumulating versions of the metrics: NLL, Fréchet distance, MMD², importance sampling."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..errors import InputError
from .base import Metric

F64 = torch.float64


class MeanNLL(Metric):
    """Mean negative log-likelihood in nats and its standard error, from ``log p`` batches.

    States: count, Σ(−log p), Σ(−log p)² (float64 sums). ``nll_se = sd / √N`` (ddof 1).
    """

    def __init__(self) -> None:
        super().__init__()
        self.add_state("count", torch.zeros((), dtype=F64), "sum")
        self.add_state("total", torch.zeros((), dtype=F64), "sum")
        self.add_state("total_sq", torch.zeros((), dtype=F64), "sum")

    def update(self, log_prob: Tensor) -> None:
        v = -log_prob.detach().to("cpu", F64).reshape(-1)
        self.count = self.count + v.numel()
        self.total = self.total + v.sum()
        self.total_sq = self.total_sq + v.pow(2).sum()

    def compute_from(self, s: dict[str, Tensor]) -> dict[str, float]:
        n = float(s["count"])
        if n < 1:
            return {}
        mean = float(s["total"]) / n
        var = max(float(s["total_sq"]) / n - mean * mean, 0.0) * n / max(n - 1, 1)
        return {"nll": mean, "nll_se": math.sqrt(var / n) if n > 1 else 0.0}


class FrechetDistance(Metric):
    """The Fréchet distance between real and generated features from streaming sums.

    States per side: count, Σf, Σffᵀ in float64 (all ``"sum"``), so a distributed result is
    exact; ``update(features, real=True|False)``. See
    :func:`~genmodels.divergences.frechet_distance` for the convention (squared, ddof 1).
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        for side in ("real", "fake"):
            self.add_state(f"{side}_n", torch.zeros((), dtype=F64), "sum")
            self.add_state(f"{side}_sum", torch.zeros(dim, dtype=F64), "sum")
            self.add_state(f"{side}_outer", torch.zeros(dim, dim, dtype=F64), "sum")

    def update(self, features: Tensor, real: bool = True) -> None:  # type: ignore[override]
        f = features.detach().to("cpu", F64).reshape(len(features), -1)
        side = "real" if real else "fake"
        setattr(self, f"{side}_n", getattr(self, f"{side}_n") + f.shape[0])
        setattr(self, f"{side}_sum", getattr(self, f"{side}_sum") + f.sum(0))
        setattr(self, f"{side}_outer", getattr(self, f"{side}_outer") + f.T @ f)

    def compute_from(self, s: dict[str, Tensor]) -> dict[str, float]:
        from ..divergences.frechet import frechet_from_stats, gaussian_stats

        if float(s["real_n"]) < 2 or float(s["fake_n"]) < 2:
            raise InputError("FrechetDistance: each side needs at least 2 features")
        mr, cr = gaussian_stats(s["real_sum"], s["real_outer"], float(s["real_n"]))
        mf, cf = gaussian_stats(s["fake_sum"], s["fake_outer"], float(s["fake_n"]))
        return {"fd": frechet_from_stats(mr, cr, mf, cf)}


class MMD2(Metric):
    """MMD² (:func:`~genmodels.divergences.mmd2`) over all samples seen: the samples are
    gathered (``"cat"``), so memory grows with them. ``update(x, y)`` with either possibly
    empty; ``kwargs`` go to :func:`~genmodels.divergences.mmd2`."""

    def __init__(self, dim: int, **kwargs: object) -> None:
        super().__init__()
        self.kwargs = kwargs
        self.add_state("x", torch.zeros(0, dim, dtype=F64), "cat")
        self.add_state("y", torch.zeros(0, dim, dtype=F64), "cat")

    def update(self, x: Tensor, y: Tensor) -> None:
        self.x = torch.cat([self.x, x.detach().to("cpu", F64).reshape(len(x), -1)])
        self.y = torch.cat([self.y, y.detach().to("cpu", F64).reshape(len(y), -1)])

    def compute_from(self, s: dict[str, Tensor]) -> dict[str, float]:
        from ..divergences import mmd2

        return {"mmd2": float(mmd2(s["x"], s["y"], **self.kwargs))}


class ImportanceSampling(Metric):
    """:func:`~genmodels.metrics.ess.importance_sampling` over all log-weights seen (``"cat"``)."""

    def __init__(self) -> None:
        super().__init__()
        self.add_state("log_w", torch.zeros(0, dtype=F64), "cat")

    def update(self, log_w: Tensor) -> None:
        self.log_w = torch.cat([self.log_w, log_w.detach().to("cpu", F64).reshape(-1)])

    def compute_from(self, s: dict[str, Tensor]) -> dict[str, float]:
        from .ess import importance_sampling

        r = importance_sampling(s["log_w"])
        return {"log_z": r.log_z, "log_z_se": r.log_z_se, "ess": r.ess,
                "ess_fraction": r.ess_fraction}
