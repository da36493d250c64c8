"""Configs of the latent-variable families ``vae`` and ``iwae`` (``--set`` overrides them).

Fields left at their "auto" value (``latent=0``, ``hidden=()``, ``decoder="auto"``) are chosen
from the data when the model is built: 2-D points and tables get a Gaussian decoder, discrete
images a categorical one over their levels (a discretised logistic above 64 levels, Bernoulli
for 2).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .estimators import BOUNDS, ESTIMATORS
from .objective import INFERENCE

_ACTIVATIONS = {"choices": ("relu", "silu", "tanh", "elu")}
DECODERS = ("auto", "gaussian", "bernoulli", "categorical", "logistic")


@dataclass
class VAEConfig:
    """A VAE: prior, encoder, decoder, objective, estimator, inference and evaluation.

    Attributes:
        latent: the latent dimension ``L`` (0: auto, 2 for 2-D points, ``min(d, 8)`` for
            tables, 16 for images); it must be between 1 and the data's dimension.
        hidden: the encoder's hidden widths (the decoder's are reversed; ``()``: auto).
        activation: the MLPs' activation.
        network: ``"auto"`` (MLP), ``"mlp"`` or ``"conv"`` (two stride-2 stages; images whose
            side is divisible by 4).
        channels: the conv networks' width.
        encoder: ``"diag"`` or ``"full"`` (Cholesky) Gaussian :math:`q(z|x)`.
        prior: ``"standard"`` normal, ``"mixture"`` of Gaussians (learnable), or the name of
            a registered flow (``realnvp``, ``maf``, ``nsf``, …) as a flow prior.
        components: the mixture prior's components.
        prior_layers: the flow prior's layers.
        decoder: ``auto``, ``gaussian``, ``bernoulli``, ``categorical``, ``logistic``.
        variance: the Gaussian decoder's :math:`\\sigma`: ``"learned"`` or ``"fixed"``.
        sigma: the fixed (or initial) :math:`\\sigma` of the Gaussian decoder.
        objective: ``"elbo"`` or ``"iwae"``.
        samples: ``K``, posterior samples per point in training.
        kl: ``"auto"`` (closed form with a standard-normal prior, else Monte Carlo),
            ``"analytic"`` or ``"mc"``.
        estimator: ``reparam``, ``reinforce``, ``reinforce-baseline`` (moving average),
            ``reinforce-loo`` (leave-one-out; VIMCO for ``iwae``).
        beta: :math:`\\beta` of the β-VAE.
        warmup: KL annealing steps (:math:`\\beta_t = \\beta\\min(1, t/T)`; 0: none).
        inference: ``"amortised"`` (encoder) or ``"bbvi"`` (per-datapoint λ).
        local_steps: BBVI's stochastic steps on λ per minibatch (``samples`` draws each).
        local_lr: their learning rate.
        eval_samples: ``K`` of the importance-weighted ``log_prob`` (the ``nll`` metric).
        eval_chunk: decoder evaluations per chunk of that estimate (memory bound).
        bound_samples: Monte Carlo draws per point of the reported ELBO.
        refine_steps: steps refining :math:`q` per test point (the amortisation gap; BBVI's
            posterior at evaluation).
        refine_lr: their learning rate.
        seed: the seed of the mixture prior's initial means and flow priors.
    """

    latent: int = 0
    hidden: tuple[int, ...] = ()
    activation: str = field(default="relu", metadata=_ACTIVATIONS)
    network: str = field(default="auto", metadata={"choices": ("auto", "mlp", "conv")})
    channels: int = 32
    encoder: str = field(default="diag", metadata={"choices": ("diag", "full")})
    prior: str = "standard"
    components: int = 8
    prior_layers: int = 4
    decoder: str = field(default="auto", metadata={"choices": DECODERS})
    variance: str = field(default="learned", metadata={"choices": ("learned", "fixed")})
    sigma: float = 1.0
    objective: str = field(default="elbo", metadata={"choices": BOUNDS})
    samples: int = 1
    kl: str = field(default="auto", metadata={"choices": ("auto", "analytic", "mc")})
    estimator: str = field(default="reparam", metadata={"choices": tuple(ESTIMATORS)})
    beta: float = 1.0
    warmup: int = 0
    inference: str = field(default="amortised", metadata={"choices": INFERENCE})
    local_steps: int = 10
    local_lr: float = 0.05
    eval_samples: int = 1000
    eval_chunk: int = 16384
    bound_samples: int = 16
    refine_steps: int = 100
    refine_lr: float = 0.02
    seed: int = 0


@dataclass
class IWAEConfig(VAEConfig):
    """The importance-weighted autoencoder: the IWAE bound with ``K = 50`` samples."""

    objective: str = field(default="iwae", metadata={"choices": BOUNDS})
    samples: int = 50
