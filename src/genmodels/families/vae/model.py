r"""The latent-variable model :math:`p_\theta(x, z) = p(z)\,p_\theta(x \mid z)` with a variational
posterior :math:`q_\lambda(z \mid x)` (an encoder, or free per-datapoint parameters).

.. math:: \log p_\theta(x) \;\ge\; \mathcal L(x) = \mathbb E_{q}\big[\log p_\theta(x \mid z)\big]
    - \mathrm{KL}\big(q_\lambda(z \mid x) \,\|\, p(z)\big)
    = \log p_\theta(x) - \mathrm{KL}\big(q_\lambda(z \mid x) \,\|\, p_\theta(z \mid x)\big)

``log_prob_bound`` is that ELBO (the ``elbo`` metric); ``log_prob`` is the importance-weighted
estimate with ``K = eval_samples`` proposals from :math:`q` (:mod:`.evaluate.iw`), a stochastic
lower bound that tightens to :math:`\log p_\theta(x)` as ``K`` grows (Burda et al., 2016).

References:
    Auto-Encoding Variational Bayes (Kingma & Welling, 2014), https://arxiv.org/abs/1312.6114

    Importance Weighted Autoencoders (Burda, Grosse & Salakhutdinov, 2016),
    https://arxiv.org/abs/1509.00519
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ...core import LatentVariableModel, VariationalBound
from ...distributions import Distribution, StandardNormal
from ...metrics.ess import ImportanceWeighted
from .likelihoods import Likelihood
from .posterior import GaussianPosterior, posterior_from


@dataclass(frozen=True)
class LocalFit:
    """How per-datapoint posteriors are fitted by stochastic steps (BBVI and refinement).

    Attributes:
        steps: stochastic optimisation steps of :math:`\\lambda^{(i)}`.
        lr: their Adam learning rate.
        samples: Monte Carlo samples per point and step.
    """

    steps: int = 20
    lr: float = 0.05
    samples: int = 1


class VAE(LatentVariableModel, VariationalBound, ImportanceWeighted):
    """A variational autoencoder (amortised) or a latent-variable model fitted by BBVI.

    Args:
        event_shape: the data's point shape ``D``.
        latent: the latent dimension ``L``.
        prior: :math:`p(z)` over ``(L,)``.
        likelihood: the meaning of the decoder's output.
        decoder: ``(N, L) -> (N, P, *D)``.
        encoder: ``(B, *D) -> (B, posterior_size)``, or ``None`` for black-box VI.
        full_covariance: whether :math:`q` has a full (Cholesky) covariance.
        eval_samples: ``K`` of :meth:`log_prob`.
        eval_chunk: decoder evaluations per chunk of the IW estimate (bounds memory).
        bound_samples: Monte Carlo samples per point of :meth:`log_prob_bound`.
        analytic_kl: use the closed-form KL where the prior allows it.
        in_shift: subtracted from ``x`` before the encoder.
        in_scale: then multiplied.
        local: how :math:`q` is fitted per data point when there is no encoder.
    """

    log_prob_kind = "estimate"

    def __init__(self, event_shape: tuple[int, ...], latent: int, prior: Distribution,
                 likelihood: Likelihood, decoder: nn.Module, encoder: nn.Module | None,
                 *, full_covariance: bool = False, eval_samples: int = 1000,
                 eval_chunk: int = 16384, bound_samples: int = 16, analytic_kl: bool = True,
                 in_shift: float = 0.0, in_scale: float = 1.0,
                 local: LocalFit = LocalFit(100, 0.05, 4)) -> None:
        super().__init__()
        self.event_shape = tuple(event_shape)
        self.latent = latent
        self.prior, self.likelihood = prior, likelihood
        self.decoder, self.encoder = decoder, encoder
        self.full_covariance = full_covariance
        self.eval_samples, self.eval_chunk = eval_samples, eval_chunk
        self.bound_samples = bound_samples
        self.analytic_kl = analytic_kl and type(prior) is StandardNormal
        self.in_shift, self.in_scale = in_shift, in_scale
        self.local = local
        # training state of the objective, kept here so that it is checkpointed and resumed
        self.register_buffer("anneal_step", torch.zeros((), dtype=torch.long))
        self.register_buffer("baseline", torch.zeros(()))
        self.register_buffer("baseline_ready", torch.zeros((), dtype=torch.bool))

    @property
    def amortised(self) -> bool:
        """Whether :math:`q` comes from an encoder (else from per-datapoint fits)."""
        return self.encoder is not None

    # -- the posterior ------------------------------------------------------------------------
    def initial_posterior(self, x: Tensor) -> GaussianPosterior:
        """:math:`\\mathcal N(0, I)` for every point (where per-datapoint fits start)."""
        b = x.shape[0]
        loc = x.new_zeros(b, self.latent)
        tril = x.new_zeros(b, self.latent, self.latent) if self.full_covariance else None
        return GaussianPosterior(loc, x.new_zeros(b, self.latent), tril)

    def amortised_posterior(self, x: Tensor) -> GaussianPosterior:
        """:math:`q_\\lambda(z \\mid x)` from the encoder."""
        if self.encoder is None:
            raise ValueError("this model has no encoder (inference=bbvi)")
        if self.in_shift != 0.0 or self.in_scale != 1.0:
            x = (x - self.in_shift) * self.in_scale
        out = self.encoder(x)
        return posterior_from(out, self.latent, self.full_covariance)

    def posterior(self, x: Tensor) -> GaussianPosterior:
        """The encoder's :math:`q`, or (BBVI) one fitted to each point from
        :math:`\\mathcal N(0, I)` by ``local.steps`` reparameterised steps."""
        if self.encoder is not None:
            return self.amortised_posterior(x)
        from .inference import fit_local

        return fit_local(self, x, self.initial_posterior(x), self.local)

    # -- the generative model -----------------------------------------------------------------
    def prior_log_prob(self, z: Tensor) -> Tensor:
        """:math:`\\log p(z)` for ``z`` of shape ``(k, B, L)``, returns ``(k, B)``."""
        return self.prior.log_prob(z.reshape(-1, self.latent)).reshape(z.shape[:-1])

    def log_likelihood(self, x: Tensor, z: Tensor) -> Tensor:
        """:math:`\\log p_\\theta(x \\mid z)` for ``x`` ``(B, *D)`` and ``z`` ``(k, B, L)``;
        ``(k, B)``."""
        k, b = z.shape[0], z.shape[1]
        out = self.decoder(z.reshape(k * b, self.latent))
        xs = x.unsqueeze(0).expand(k, *x.shape).reshape(k * b, *x.shape[1:])
        return self.likelihood.log_prob(xs, out).reshape(k, b)

    def log_joint(self, x: Tensor, z: Tensor) -> Tensor:
        """:math:`\\log p(z) + \\log p_\\theta(x \\mid z)`, ``(k, B)``."""
        return self.prior_log_prob(z) + self.log_likelihood(x, z)

    # -- bounds and estimates -----------------------------------------------------------------
    def elbo(self, x: Tensor, q: GaussianPosterior | None = None, *, samples: int | None = None,
             generator: torch.Generator | None = None) -> Tensor:
        """The ELBO per point, ``(B,)``: analytic KL where possible, else Monte Carlo."""
        q = self.posterior(x) if q is None else q
        z = q.rsample(samples or self.bound_samples, generator=generator)
        if self.analytic_kl:
            return self.log_likelihood(x, z).mean(0) - q.kl_standard_normal()
        return (self.log_joint(x, z) - q.log_prob(z)).mean(0)

    def log_prob_bound(self, x: Tensor, *, cond: Tensor | None = None) -> Tensor:
        """The ELBO :math:`\\mathcal L(x)` in nats, ``(B,)`` (``bound_samples`` draws)."""
        return self.elbo(x)

    def log_importance_weights(self, x: Tensor, k: int, *,
                               generator: torch.Generator | None = None) -> Tensor:
        """``(B, k)`` log-weights :math:`\\log p(x, z_k) - \\log q(z_k \\mid x)`,
        :math:`z_k \\sim q`."""
        q = self.posterior(x)
        z = q.rsample(k, generator=generator)
        return (self.log_joint(x, z) - q.log_prob(z)).transpose(0, 1)

    def log_prob(self, x: Tensor, *, cond: Tensor | None = None) -> Tensor:
        """The importance-weighted estimate of :math:`\\log p_\\theta(x)` with
        ``K = eval_samples``, ``(B,)``."""
        from .evaluate.iw import importance_weighted

        return importance_weighted(self, x, self.eval_samples, chunk=self.eval_chunk).log_prob

    # -- sampling and representation ----------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, *, cond: Tensor | None = None,
               generator: torch.Generator | None = None) -> Tensor:
        """:math:`z \\sim p(z)`, then :math:`x \\sim p_\\theta(x \\mid z)`; ``(n, *D)``."""
        z = self.prior.sample(n, generator=generator).reshape(n, self.latent)
        return self.likelihood.sample(self.decoder(z), generator=generator)

    def encode(self, x: Tensor, *, cond: Tensor | None = None) -> Tensor:
        """The posterior mean :math:`\\mathbb E_q[z \\mid x]`, ``(B, L)``."""
        return self.posterior(x).loc

    def decode(self, z: Tensor) -> Tensor:
        """:math:`\\mathbb E[x \\mid z]` for latents ``(N, L)``, ``(N, *D)``."""
        return self.likelihood.mean(self.decoder(z))
