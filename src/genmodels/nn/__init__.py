"""Plain networks used by the families: MLPs and masked (autoregressive) MLPs."""

from .conv import DCGANCritic, DCGANGenerator
from .made import MADE, MaskedLinear
from .mlp import ACTIVATIONS, MLP, make_activation

__all__ = ["ACTIVATIONS", "DCGANCritic", "DCGANGenerator", "MADE", "MLP", "MaskedLinear",
           "make_activation"]
