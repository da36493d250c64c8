r"""The training objective of the latent-variable family: a variational bound, its gradient
estimator, β weighting with KL annealing, and amortised or black-box inference, as values.

.. math:: \mathcal L_\beta(x) = \mathbb E_q[\log p_\theta(x \mid z)]
    - \beta_t\,\mathrm{KL}\big(q(z \mid x) \,\|\, p(z)\big), \qquad
    \beta_t = \beta \min(1, t / T_\text{warm-up})

(Higgins et al. 2017 for β; Bowman et al. 2016 for the KL warm-up), or the IWAE bound
:math:`\log \frac1K \sum_k w_k` (Burda et al., 2016). The loss is :math:`-\mathcal L` averaged
over the batch; validation uses the plain bound (:math:`\beta = 1`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from ...core import Batch, LossOutput, Objective
from ...errors import InputError
from .estimators import ESTIMATORS, GradientEstimator, bound_surrogate
from .model import VAE, LocalFit

#: The inference modes: an encoder, or per-datapoint λ fitted by stochastic steps.
INFERENCE = ("amortised", "bbvi")


@dataclass
class VariationalObjective(Objective):
    """Maximises a variational bound of a :class:`~genmodels.families.vae.model.VAE`.

    Attributes:
        bound: ``"elbo"`` or ``"iwae"``.
        samples: ``K``, the posterior samples per point.
        estimator: the gradient estimator of the encoder's (or the local) parameters.
        beta: :math:`\\beta` (1: the ELBO).
        warmup: KL annealing steps (0: none).
        inference: ``"amortised"`` (encoder) or ``"bbvi"`` (per-datapoint λ, ``local`` steps
            per minibatch, then one θ step).
        local: the per-datapoint fit of ``bbvi``.
    """

    bound: str = "elbo"
    samples: int = 1
    estimator: GradientEstimator = ESTIMATORS["reparam"]
    beta: float = 1.0
    warmup: int = 0
    inference: str = "amortised"
    local: LocalFit = field(default_factory=LocalFit)

    def __post_init__(self) -> None:
        if self.inference not in INFERENCE:
            raise InputError(f"model.inference: unknown mode {self.inference!r} "
                             f"(known: {', '.join(INFERENCE)})")
        if self.samples < 1:
            raise InputError(f"model.samples: K = {self.samples} must be >= 1")
        if self.estimator.baseline == "loo" and self.samples < 2:
            raise InputError("model.estimator: reinforce-loo needs model.samples >= 2")
        if self.beta < 0 or self.warmup < 0:
            raise InputError("model.beta and model.warmup must be >= 0")

    def beta_at(self, step: int) -> float:
        """:math:`\\beta_t` after ``step`` training steps."""
        if self.warmup <= 0:
            return self.beta
        return self.beta * min(1.0, (step + 1) / self.warmup)

    def posterior(self, model: VAE, x: Tensor):  # noqa: ANN201 - GaussianPosterior
        """The posterior the θ step uses: the encoder's, or the BBVI-fitted one (detached)."""
        if self.inference == "amortised":
            return model.amortised_posterior(x)
        from .inference import fit_local

        return fit_local(model, x, model.initial_posterior(x), self.local,
                         estimator=self.estimator, bound=self.bound)

    def terms(self, model: nn.Module, batch: Batch, beta: float) -> tuple[Tensor, Tensor]:
        """``(surrogate, bound)`` per point."""
        if not isinstance(model, VAE):
            raise TypeError(f"a variational bound needs a VAE, got {type(model).__name__}")
        x = batch.x
        model.likelihood.check(x)
        q = self.posterior(model, x)
        estimator = self.estimator if self.inference == "amortised" else ESTIMATORS["reparam"]
        return bound_surrogate(model, x, q, bound=self.bound, samples=self.samples,
                               estimator=estimator, beta=beta)

    def __call__(self, model: nn.Module, batch: Batch, phase: str = "main") -> LossOutput:
        step = int(model.anneal_step) if self.warmup and isinstance(model, VAE) else 0
        beta = self.beta_at(step)
        sur, value = self.terms(model, batch, beta)
        if model.training:
            model.anneal_step += 1
        logs: dict[str, Tensor | float] = {self.bound: value.mean()}
        if self.warmup:
            logs["beta"] = beta
        return LossOutput(-sur.mean(), logs)

    def validation_loss(self, model: nn.Module, batch: Batch) -> Tensor | None:
        """:math:`-\\mathcal L` with :math:`\\beta = 1` (the bound itself), without gradients."""
        with torch.no_grad():
            _, value = self.terms(model, batch, 1.0)
        return -value.mean()
