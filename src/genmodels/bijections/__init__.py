"""Bijections: invertible maps of vectors ``(B, d)`` with exact log-determinants.

Every bijection maps data to latent in its forward direction and returns
``(output, log|det J|)`` in both directions (:class:`Bijection`).
"""

from .autoregressive import MaskedAutoregressive
from .base import Bijection, Chain, Inverse
from .coupling import AffineCoupling, half_mask, parity_mask, soft_clamp
from .elementwise import ElementwiseAffine
from .normalization import ActNorm
from .permutation import Permutation

__all__ = [
    "ActNorm",
    "AffineCoupling",
    "Bijection",
    "Chain",
    "ElementwiseAffine",
    "Inverse",
    "MaskedAutoregressive",
    "Permutation",
    "half_mask",
    "parity_mask",
    "soft_clamp",
]
