"""Evaluation of latent-variable models: importance-weighted likelihoods and their diagnostics."""

from .iw import IWEstimate, importance_weighted

__all__ = ["IWEstimate", "importance_weighted"]
