"""MADE: a masked MLP whose output ``i`` depends only on the inputs before ``i`` in an order."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .made_incremental import MADEIncremental, MADESequential
from .mlp import make_activation


class MaskedLinear(nn.Linear):
    r"""A linear layer with a fixed binary connectivity mask: :math:`y = (W \odot M) x + b`.

    Args:
        mask: the mask :math:`M`, shape ``(out_features, in_features)``.
    """

    def __init__(self, mask: Tensor) -> None:
        super().__init__(mask.shape[1], mask.shape[0])
        self.register_buffer("mask", mask.to(self.weight.dtype), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


class MADE(nn.Module):
    r"""A masked autoencoder for distribution estimation: an autoregressive MLP.

    With :math:`o` the order (``order[i]`` is the position of coordinate ``i``), every output
    attached to coordinate :math:`i` depends only on the inputs :math:`x_j` with
    :math:`o_j < o_i` (and on the whole context). Hidden unit :math:`k` has a degree
    :math:`m_k`; it sees input :math:`j` iff :math:`m_k \ge o_j + 1`, and output ``i`` sees
    unit :math:`k` iff :math:`o_i + 1 > m_k`. The context has degree 0 (it reaches every unit).

    References:
        MADE: Masked Autoencoder for Distribution Estimation (Germain et al., 2015),
        https://arxiv.org/abs/1502.03509

    Args:
        features: the dimension :math:`d` of the input.
        params: outputs per coordinate; the output has shape ``(B, params, d)``.
        hidden: the widths of the hidden layers.
        activation: ``"relu"``, ``"silu"``, ``"tanh"`` or ``"elu"``.
        context: the dimension of the context vector (0 for none).
        order: a permutation of ``range(d)`` (the default is ``0, 1, …, d-1``).
    """

    def __init__(
        self,
        features: int,
        params: int = 2,
        hidden: Sequence[int] = (128, 128),
        activation: str = "relu",
        context: int = 0,
        order: Tensor | None = None,
    ) -> None:
        super().__init__()
        self.features, self.params, self.context = features, params, context
        order = torch.arange(features) if order is None else torch.as_tensor(order).long()
        if not torch.equal(order.sort().values, torch.arange(features)):
            raise ValueError(f"order is not a permutation of range({features})")
        self.register_buffer("order", order, persistent=False)
        # sorted_order[p]: the coordinate at position p
        self.register_buffer("sorted_order", torch.argsort(order), persistent=False)
        deg_in = torch.cat((order + 1, torch.zeros(context, dtype=torch.long)))
        low = min(1, features - 1)
        layers: list[nn.Module] = []
        prev = deg_in
        self.hidden_degrees: list[Tensor] = []  # structure (CPU), not state
        for width in hidden:
            deg = torch.arange(width) % max(features - 1, 1) + low
            layers += [MaskedLinear(deg[:, None] >= prev[None, :]), make_activation(activation)]
            self.hidden_degrees.append(deg)
            prev = deg
        deg_out = (order + 1).repeat(params)
        layers.append(MaskedLinear(deg_out[:, None] > prev[None, :]))
        self.layers = nn.Sequential(*layers)

    @property
    def last(self) -> MaskedLinear:
        """The output layer (zero it for an identity-initialised transformer)."""
        return self.layers[-1]

    def _input(self, x: Tensor, cond: Tensor | None) -> Tensor:
        if self.context:
            if cond is None:
                raise ValueError(f"this network needs a context of {self.context} features")
            x = torch.cat((x, cond), dim=-1)
        return x

    def forward(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        """Maps ``(B, d)`` (and ``cond``, ``(B, context)``) to ``(B, params, d)``."""
        return self.layers(self._input(x, cond)).unflatten(-1, (self.params, self.features))

    def sequential(self, cond: Tensor | None, like: Tensor) -> MADESequential:
        """An autograd evaluation that fills the input in position order (positions ``0, 1, …``).

        Sequential inversion (sampling a MAF, scoring an IAF) needs, at step ``p``, only the
        outputs of position ``p``, which read only the hidden units of degree ``<= p``; those
        are final once positions ``< p`` are set. Step ``p`` computes the units of degree
        exactly ``p`` in every layer and position ``p``'s outputs, so the ``d`` steps together
        do the work of one masked pass (see :mod:`.made_incremental`). Requires at least one
        hidden layer.
        """
        if not self.hidden_degrees:
            raise ValueError("incremental evaluation needs a MADE with a hidden layer")
        return MADESequential(self, cond, like)

    def incremental(self, batch: int, cond: Tensor | None, like: Tensor) -> MADEIncremental:
        """An evaluation that fills the input in position order, computing each unit once.

        Without autograd (see :mod:`.made_incremental`): the schedule of :meth:`sequential` in
        preallocated ``(units, B)`` buffers written in place, with cached weights.
        Requires at least one hidden layer.
        """
        if not self.hidden_degrees:
            raise ValueError("incremental evaluation needs a MADE with a hidden layer")
        return MADEIncremental(self, batch, cond, like)
