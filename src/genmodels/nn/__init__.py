"""Plain networks used by the families: MLPs and masked (autoregressive) MLPs."""

from .conv import DCGANCritic, DCGANGenerator
from .made import MADE, MaskedLinear
from .mlp import ACTIVATIONS, MLP, make_activation

__all__ = ["ACTIVATIONS", "DCGANCritic", "DCGANGenerator", "MADE", "MLP", "MaskedLinear",
           "make_activation"]
from .time import LabelEmbedding, SinusoidalEmbedding, TimeEmbedding, TimeMLP  # noqa: E402
from .unet import UNet  # noqa: E402

__all__ += ["LabelEmbedding", "SinusoidalEmbedding", "TimeEmbedding", "TimeMLP", "UNet"]
