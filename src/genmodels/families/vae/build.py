"""The builder of the latent-variable families: ``build(config, info) -> (VAE, objective)``."""

from __future__ import annotations

import math

from ...errors import InputError
from ...nn.conv import conv_shape_ok
from ...registry import DataInfo
from .config import VAEConfig
from .estimators import get_estimator
from .likelihoods import (
    BernoulliLikelihood,
    CategoricalLikelihood,
    GaussianLikelihood,
    Likelihood,
    LogisticLikelihood,
)
from .model import VAE, LocalFit
from .networks import ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder
from .objective import VariationalObjective
from .posterior import posterior_size
from .priors import make_prior


def auto_latent(shape: tuple[int, ...]) -> int:
    """The default latent size: 2 for 2-D points, ``min(d, 8)`` for vectors, 16 for images."""
    d = math.prod(shape)
    return 16 if len(shape) == 3 else min(d, 8)


def choose_decoder(config: VAEConfig, info: DataInfo) -> str:
    """The decoder ``auto`` stands for: discrete data get a level distribution."""
    if config.decoder != "auto":
        return config.decoder
    if info.levels is None:
        return "gaussian"
    if info.levels == 2:
        return "bernoulli"
    return "categorical" if info.levels <= 64 else "logistic"


def make_likelihood(kind: str, config: VAEConfig, info: DataInfo) -> Likelihood:
    """The decoder's likelihood ``kind`` for this data."""
    shape = tuple(info.event_shape)
    if kind == "gaussian":
        if config.sigma <= 0:
            raise InputError(f"model.sigma: {config.sigma} must be > 0")
        return GaussianLikelihood(shape, config.sigma, learned=config.variance == "learned")
    if kind == "bernoulli":
        if info.levels is not None and info.levels != 2:
            raise InputError(f"model.decoder: bernoulli needs binary data; this data has "
                             f"{info.levels} levels (use categorical or logistic)")
        return BernoulliLikelihood(info.levels)
    if info.levels is None:
        raise InputError(f"model.decoder: {kind} needs discrete data (images with levels); "
                         "this data is continuous (use gaussian)")
    return CategoricalLikelihood(info.levels) if kind == "categorical" else \
        LogisticLikelihood(info.levels)


def build_vae(config: VAEConfig, info: DataInfo) -> tuple[VAE, VariationalObjective]:
    """A VAE (or IWAE, or a BBVI latent-variable model) for data of ``info``'s shape."""
    shape = tuple(info.event_shape)
    d = math.prod(shape)
    latent = config.latent or auto_latent(shape)
    if not 1 <= latent <= d:
        raise InputError(f"model.latent: {latent} does not fit data of shape {shape} "
                         f"(between 1 and {d})")
    for key in ("samples", "eval_samples", "eval_chunk", "bound_samples"):
        if getattr(config, key) < 1:
            raise InputError(f"model.{key}: {getattr(config, key)} must be >= 1")
    if config.local_steps < 0 or config.refine_steps < 0:
        raise InputError("model.local_steps and model.refine_steps must be >= 0")
    if config.local_lr <= 0 or config.refine_lr <= 0:
        raise InputError("model.local_lr and model.refine_lr must be > 0")
    if any(h < 1 for h in config.hidden) or config.channels < 1:
        raise InputError(f"model.hidden/channels: {list(config.hidden)}/{config.channels} "
                         "has a width below 1")
    estimator = get_estimator(config.estimator)
    if config.kl == "analytic" and (config.prior != "standard" or config.objective != "elbo"):
        raise InputError("model.kl: analytic needs prior=standard and objective=elbo "
                         "(use kl=auto or mc)")
    likelihood = make_likelihood(choose_decoder(config, info), config, info)
    full = config.encoder == "full"
    hidden = config.hidden or ((256, 256) if len(shape) == 3 else (128, 128))
    network = "mlp" if config.network == "auto" else config.network
    if network == "conv" and not conv_shape_ok(shape):
        raise InputError(f"model.network: conv needs (C, H, W) images with H, W divisible by 4, "
                         f"got {shape}")
    amortised = config.inference == "amortised"
    size = posterior_size(latent, full)
    if network == "conv":
        encoder = ConvEncoder(shape, size, config.channels) if amortised else None
        decoder = ConvDecoder(latent, shape, likelihood.params, config.channels)
    else:
        encoder = MLPEncoder(shape, size, hidden, config.activation) if amortised else None
        decoder = MLPDecoder(latent, shape, likelihood.params, tuple(reversed(hidden)),
                             config.activation)
    prior = make_prior(config.prior, latent, components=config.components,
                       layers=config.prior_layers, seed=config.seed)
    shift, scale = (info.levels / 2, 2 / info.levels) if likelihood.discrete and info.levels \
        else (0.0, 1.0)
    model = VAE(shape, latent, prior, likelihood, decoder, encoder, full_covariance=full,
                eval_samples=config.eval_samples, eval_chunk=config.eval_chunk,
                bound_samples=config.bound_samples, analytic_kl=config.kl != "mc",
                in_shift=shift, in_scale=scale,
                local=LocalFit(config.refine_steps, config.refine_lr, 16))
    objective = VariationalObjective(config.objective, config.samples, estimator, config.beta,
                                     config.warmup, config.inference,
                                     LocalFit(config.local_steps, config.local_lr, config.samples))
    return model, objective
