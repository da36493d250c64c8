"""Latent-variable models: the VAE and IWAE, black-box VI, REINFORCE and reparameterisation.

Registers the families ``vae`` (ELBO) and ``iwae`` (importance-weighted bound, ``K = 50``).
"""

from ...registry import Family, register_family
from . import metric  # noqa: F401  (registers the ``latent`` metric)
from .build import build_vae
from .config import IWAEConfig, VAEConfig
from .estimators import ESTIMATORS, GradientEstimator, bound_surrogate, get_estimator
from .evaluate import IWEstimate, importance_weighted
from .gradvar import gradient_variance
from .inference import BlackBoxVI, amortisation_gap, fit_local
from .likelihoods import (
    BernoulliLikelihood,
    CategoricalLikelihood,
    GaussianLikelihood,
    Likelihood,
    LogisticLikelihood,
)
from .model import VAE, LocalFit
from .objective import INFERENCE, VariationalObjective
from .posterior import GaussianPosterior
from .priors import FlowPrior, make_prior

__all__ = [
    "ESTIMATORS",
    "INFERENCE",
    "VAE",
    "BernoulliLikelihood",
    "BlackBoxVI",
    "CategoricalLikelihood",
    "FlowPrior",
    "GaussianLikelihood",
    "GaussianPosterior",
    "GradientEstimator",
    "IWAEConfig",
    "IWEstimate",
    "Likelihood",
    "LocalFit",
    "LogisticLikelihood",
    "VAEConfig",
    "VariationalObjective",
    "amortisation_gap",
    "bound_surrogate",
    "build_vae",
    "fit_local",
    "get_estimator",
    "gradient_variance",
    "importance_weighted",
    "make_prior",
]

register_family(Family(name="vae", kind="vae", config=VAEConfig, build=build_vae,
                       standardize_discrete=False,
                       description="VAE: amortised ELBO or BBVI, reparam/REINFORCE estimators "
                       "(Kingma & Welling, 2014)"))
register_family(Family(name="iwae", kind="vae", config=IWAEConfig, build=build_vae,
                       standardize_discrete=False,
                       description="IWAE: importance-weighted bound, K=50 (Burda et al., 2016)"))
