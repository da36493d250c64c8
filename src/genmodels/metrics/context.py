"""What a registered metric receives: the model, the test halves and the shared samples.

A registered metric is ``compute(ctx: EvalContext) -> dict[str, float]``; it returns ``{}``
when it does not apply (``nll`` for a model without ``log_prob``). Everything drawn or
computed once and shared by several metrics (the model samples, the test log-densities,
the kernel bandwidth) lives on the context, so adding a metric never changes the numbers of
another.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from ..core import DensityModel, GenerativeModel, VariationalBound

#: The default size cap of each compared sample (model samples, test half A, test half B).
DEFAULT_MAX_EVAL = 2000


@dataclass
class EvalContext:
    """The inputs of one evaluation, shared by every metric.

    Attributes:
        model: the model, in data units.
        test: the whole test split ``(N, *D)`` in data units (on the model's device).
        half_a: the reference half A ``(m, *D)`` (a random half of ``test``, capped at ``m``).
        half_b: the other half B ``(m, *D)``, disjoint from A: the floor compares B with A.
        generator: the source of randomness (the model samples are drawn from it).
        levels: discrete levels per coordinate (bits/dim is reported when set).
        entropy: the entropy of the data distribution in nats, when known.
        entropy_se: its standard error (0 when exact).
        batch_size: the batch size of ``log_prob`` passes.
        dataset: the registered name of the data set (``"grid25"``), ``None`` for a file;
            metrics tied to one data set (mode coverage) apply only when it matches.
        labels: the class labels of half A ``(m,)`` for a class-conditional model: its
            samples are then drawn one per label, so they follow the test split's marginal
            :math:`\\sum_y p(y)\\,p_\\theta(x \\mid y)` (with the run's guidance weight)
            rather than the null-label (unconditional) network alone.
        cache: derived quantities shared between metrics (keyed by name).
    """

    model: GenerativeModel
    test: Tensor
    half_a: Tensor
    half_b: Tensor
    generator: torch.Generator | None = None
    levels: int | None = None
    entropy: float | None = None
    entropy_se: float | None = None
    batch_size: int = 1024
    dataset: str | None = None
    labels: Tensor | None = None
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def n_eval(self) -> int:
        """The size ``m`` of each compared sample."""
        return int(self.half_a.shape[0])

    @property
    def event_dim(self) -> int:
        """The number of coordinates ``d`` of one point."""
        return int(self.test[0].numel())

    @property
    def two_sample_ok(self) -> bool:
        """Whether the halves are large enough for two-sample metrics (m ≥ 2)."""
        return self.n_eval >= 2

    def samples(self) -> Tensor:
        """``m`` model samples ``(m, *D)``, drawn once with ``generator`` and shared."""
        if "samples" not in self.cache:
            with torch.no_grad():
                if self.labels is None:
                    s = self.model.sample(self.n_eval, generator=self.generator)
                else:
                    s = self.model.sample(self.n_eval, cond=self.labels,
                                          generator=self.generator)
            self.cache["samples"] = s.detach().to(self.half_a.device)
        return self.cache["samples"]

    def samples_finite(self) -> bool:
        """Whether every model sample is finite (two-sample metrics are left out otherwise)."""
        return bool(torch.isfinite(self.samples()).all())

    def neg_log_prob(self, *, bound: bool = False) -> Tensor | None:
        """``-log p(x)`` of every test point in nats, ``(N,)`` float64; ``None`` without a
        density. With ``bound``, ``-L(x)`` of the model's variational bound (``None`` unless it
        is a :class:`~genmodels.core.VariationalBound`). Computed once, batched, without
        gradients, in evaluation mode."""
        kind = VariationalBound if bound else DensityModel
        if not isinstance(self.model, kind):
            return None
        key = "nlb" if bound else "nlp"
        if key not in self.cache:
            fn = self.model.log_prob_bound if bound else self.model.log_prob
            dtype = next(
                (p.dtype for p in self.model.parameters() if p.is_floating_point()),
                torch.float32,
            )
            out = []
            with torch.no_grad():
                for chunk in torch.split(self.test, self.batch_size):
                    lp = fn(chunk.to(self.model.device, dtype))
                    out.append(-lp.detach().to("cpu", torch.float64).reshape(-1))
            self.cache[key] = torch.cat(out)
        return self.cache[key]


def split_indices(
    n: int, m_max: int, generator: torch.Generator | None
) -> tuple[Tensor, Tensor]:
    """The row indices of two disjoint random halves A, B of ``n`` points, each of size
    ``m = min(n // 2, m_max)``; the permutation is drawn from ``generator``."""
    m = max(0, min(n // 2, m_max))
    device = generator.device if generator is not None else torch.device("cpu")
    perm = torch.randperm(n, generator=generator, device=device)
    return perm[:m], perm[m : 2 * m]


def split_halves(
    test: Tensor, m_max: int, generator: torch.Generator | None
) -> tuple[Tensor, Tensor]:
    """Two disjoint random halves A, B of ``test``, each of size ``m = min(N // 2, m_max)``.

    The permutation is drawn from ``generator`` (before any model sample is drawn).
    """
    ia, ib = split_indices(test.shape[0], m_max, generator)
    return test[ia.to(test.device)], test[ib.to(test.device)]
