"""Bijections: invertible maps of vectors ``(B, d)`` with exact log-determinants.

Every bijection maps data to latent in its forward direction and returns
``(output, log|det J|)`` in both directions (:class:`Bijection`). Image layers read the
vector as a flattened ``(C, H, W)`` image (:mod:`.image`).
"""

from .autoregressive import MaskedAutoregressive
from .base import Bijection, Chain, Inverse
from .coupling import AffineCoupling, Coupling, half_mask, parity_mask
from .elementwise import ElementwiseAffine, Logit, Sigmoid
from .image import (
    ConvConditioner,
    Split,
    channel_mask,
    checkerboard_mask,
    squeeze,
    squeeze_shape,
)
from .linear import InvertibleConv1x1, LULinear
from .normalization import ActNorm
from .permutation import Permutation
from .transformers import Additive, Affine, RationalQuadratic, Transformer, soft_clamp

__all__ = [
    "ActNorm",
    "Additive",
    "Affine",
    "AffineCoupling",
    "Bijection",
    "Chain",
    "ConvConditioner",
    "Coupling",
    "ElementwiseAffine",
    "Inverse",
    "InvertibleConv1x1",
    "LULinear",
    "Logit",
    "MaskedAutoregressive",
    "Permutation",
    "RationalQuadratic",
    "Sigmoid",
    "Split",
    "Transformer",
    "channel_mask",
    "checkerboard_mask",
    "half_mask",
    "parity_mask",
    "soft_clamp",
    "squeeze",
    "squeeze_shape",
]
