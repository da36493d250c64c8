"""Plain networks used by the families: MLPs and masked (autoregressive) MLPs."""

from .made import MADE, MaskedLinear
from .mlp import ACTIVATIONS, MLP, make_activation

__all__ = ["ACTIVATIONS", "MADE", "MLP", "MaskedLinear", "make_activation"]
