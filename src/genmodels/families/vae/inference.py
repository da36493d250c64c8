r"""Per-datapoint variational inference: black-box VI and the amortisation gap.

**Black-box VI** (Ranganath, Gerrish & Blei, 2014, https://arxiv.org/abs/1401.0118): each data
point has its own variational parameters :math:`\lambda^{(i)}`; on a minibatch they are improved
by a few stochastic gradient steps on :math:`\mathcal L(x^{(i)}; \theta, \lambda^{(i)})` with the
chosen estimator, then one step is taken on :math:`\theta` with the :math:`\lambda^{(i)}` held
fixed (:class:`~genmodels.families.vae.objective.VariationalObjective` with ``inference=bbvi``).

**Amortisation gap** (Cremer, Li & Duvenaud, 2018, https://arxiv.org/abs/1801.03558): the
encoder's :math:`q_\phi(z|x)` is refined per test point by the same stochastic steps; the gain
:math:`\mathcal L(x; \lambda^\star) - \mathcal L(x; \phi(x)) \ge 0` (in expectation) is the part
of :math:`\log p(x) - \mathcal L` due to amortisation rather than to the variational family.

:class:`BlackBoxVI` is the same recipe for any latent-variable model given as a log-joint and a
``torch.distributions`` family (the Beta–Bernoulli coin of the tests).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ...errors import InputError
from .estimators import ESTIMATORS, GradientEstimator, bound_surrogate
from .model import VAE, LocalFit
from .posterior import GaussianPosterior


def fit_local(model: VAE, x: Tensor, q0: GaussianPosterior, fit: LocalFit, *,
              estimator: GradientEstimator = ESTIMATORS["reparam"], bound: str = "elbo",
              generator: torch.Generator | None = None) -> GaussianPosterior:
    """Improves each point's posterior from ``q0`` by ``fit.steps`` Adam steps on its bound.

    Only the per-point parameters move (gradients are taken with :func:`torch.autograd.grad`,
    so the model's own ``.grad`` is untouched); works under ``torch.no_grad`` callers. The
    loss is the *sum* over points, so each point's step does not depend on the batch size.
    Returns the fitted posterior, detached.
    """
    params = [p.detach().clone().requires_grad_(True) for p in q0.parameters()]
    if fit.steps <= 0:
        return q0.detach()
    opt = torch.optim.Adam(params, lr=fit.lr)
    was = model.training
    model.train(False)  # the baseline's running average belongs to the θ steps
    try:
        with torch.enable_grad():
            for _ in range(fit.steps):
                q = _rebuild(q0, params)
                sur, _ = bound_surrogate(model, x, q, bound=bound, samples=fit.samples,
                                         estimator=estimator, generator=generator)
                grads = torch.autograd.grad(-sur.sum(), params)
                for p, g in zip(params, grads):
                    p.grad = g
                opt.step()
    finally:
        model.train(was)
    return _rebuild(q0, [p.detach() for p in params])


def _rebuild(q0: GaussianPosterior, params: list[Tensor]) -> GaussianPosterior:
    tril = params[2] if q0.tril is not None else None
    return GaussianPosterior(params[0], params[1], tril)


def amortisation_gap(model: VAE, x: Tensor, fit: LocalFit, *, samples: int = 64,
                     generator: torch.Generator | None = None) -> dict[str, float]:
    """The mean gain in ELBO from refining the encoder's :math:`q` on the points ``x``.

    Returns ``elbo_encoder`` and ``elbo_refined`` (means over points, nats, each with
    ``samples`` fresh draws), ``amortisation_gap`` (their difference) and its standard error
    over points.
    """
    if not model.amortised:
        return {}
    with torch.no_grad():
        q = model.amortised_posterior(x)
        before = model.elbo(x, q, samples=samples, generator=generator)
    refined = fit_local(model, x, q, fit, generator=generator)
    with torch.no_grad():
        after = model.elbo(x, refined, samples=samples, generator=generator)
    d = (after - before).double()
    n = d.numel()
    return {"elbo_encoder": float(before.mean()), "elbo_refined": float(after.mean()),
            "amortisation_gap": float(d.mean()),
            "amortisation_gap_se": float(d.std() / n ** 0.5) if n > 1 else 0.0}


class BlackBoxVI:
    r"""Black-box VI of :math:`p(z \mid \text{data})` for any model given by its log-joint.

    .. math:: \max_\lambda\; \mathbb E_{q_\lambda}\big[\log p(\text{data}, z)
        - \log q_\lambda(z)\big]

    by stochastic gradient steps with the score-function estimator (with a baseline or not) or
    the reparameterisation one, ``samples`` draws per step.

    Args:
        log_joint: ``z (S, ...) -> (S,)``, :math:`\log p(\text{data}, z)`.
        family: ``params -> torch.distributions.Distribution`` (unconstrained parameters).
        params: the initial unconstrained parameters (leaf tensors are made from them).
        estimator: a :data:`~genmodels.families.vae.estimators.ESTIMATORS` name.
        samples: Monte Carlo draws per step (``reinforce-loo`` needs 2 or more).
        lr: the learning rate.
        optimizer: ``"adam"`` or ``"sgd"`` (plain steps, where the estimator's variance shows
            undamped).
    """

    def __init__(self, log_joint: Callable[[Tensor], Tensor],
                 family: Callable[[list[Tensor]], torch.distributions.Distribution],
                 params: list[Tensor], *, estimator: str = "reinforce", samples: int = 8,
                 lr: float = 0.01, optimizer: str = "adam") -> None:
        from .estimators import get_estimator

        self.log_joint, self.family = log_joint, family
        self.estimator = get_estimator(estimator)
        self.params = [p.detach().clone().requires_grad_(True) for p in params]
        self.samples = samples
        if optimizer not in ("adam", "sgd"):
            raise InputError(f"optimizer {optimizer!r}: use adam or sgd")
        make = torch.optim.Adam if optimizer == "adam" else torch.optim.SGD
        self.opt = make(self.params, lr=lr)
        self.baseline: Tensor | None = None

    def surrogate(self) -> tuple[Tensor, Tensor]:
        """``(surrogate, elbo)``: a scalar whose gradient is the estimator; the ELBO estimate."""
        q = self.family(self.params)
        z = q.rsample((self.samples,)) if self.estimator.reparameterised else \
            q.sample((self.samples,))
        log_q = q.log_prob(z)
        f = self.log_joint(z) - log_q
        if self.estimator.reparameterised:
            return f.mean(), f.mean().detach()
        fd = f.detach()
        if self.estimator.baseline == "loo":
            base = (fd.sum() - fd) / (self.samples - 1)
        elif self.estimator.baseline == "moving-average":
            base = self.baseline if self.baseline is not None else fd.new_zeros(())
            m = fd.mean()
            d = self.estimator.decay
            self.baseline = m if self.baseline is None else d * self.baseline + (1 - d) * m
        else:
            base = fd.new_zeros(())
        sur = f.mean() + ((fd - base) * (log_q - log_q.detach())).mean()
        return sur, fd.mean()

    def step(self) -> float:
        """One stochastic step; returns the ELBO estimate before it."""
        sur, value = self.surrogate()
        self.opt.zero_grad()
        (-sur).backward()
        self.opt.step()
        return float(value)

    def posterior(self) -> torch.distributions.Distribution:
        """The current :math:`q_\\lambda`."""
        with torch.no_grad():
            return self.family([p.detach() for p in self.params])
