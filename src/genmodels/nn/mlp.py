"""Plain multilayer perceptrons (networks only: nothing probabilistic)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
}


def make_activation(name: str) -> nn.Module:
    """The activation module registered as ``name`` (one of :data:`ACTIVATIONS`)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r} (known: {', '.join(ACTIVATIONS)})")
    return ACTIVATIONS[name]()


class MLP(nn.Module):
    r"""A fully connected network :math:`y = W_L \sigma(\dots \sigma(W_1 [x, c] + b_1)) + b_L`.

    The context :math:`c` (when ``context > 0``) is concatenated to the input.

    Args:
        in_features: the input dimension.
        out_features: the output dimension.
        hidden: the widths of the hidden layers (``()`` for an affine map).
        activation: ``"relu"``, ``"silu"``, ``"tanh"`` or ``"elu"``.
        context: the dimension of the context vector (0 for none).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden: Sequence[int] = (128, 128),
        activation: str = "relu",
        context: int = 0,
    ) -> None:
        super().__init__()
        self.context = context
        widths = [in_features + context, *hidden, out_features]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            if i > 0:
                layers.append(make_activation(activation))
            layers.append(nn.Linear(a, b))
        self.layers = nn.Sequential(*layers)

    @property
    def last(self) -> nn.Linear:
        """The output layer (zero it for an identity-initialised conditioner)."""
        return self.layers[-1]

    def forward(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        """Maps ``(B, in_features)`` (and ``cond``, ``(B, context)``) to ``(B, out_features)``."""
        if self.context:
            if cond is None:
                raise ValueError(f"this network needs a context of {self.context} features")
            x = torch.cat((x, cond), dim=-1)
        return self.layers(x)

