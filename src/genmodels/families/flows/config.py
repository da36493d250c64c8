"""Configs of the flow families (every field has a default; ``--set`` overrides them).

Fields left at their "auto" value (``hidden=()``, ``channels=0``, ``layers=0``) are chosen
from the data's event shape when the model is built (:mod:`.defaults`): 2-D points, tabular
vectors and images ``(C, H, W)`` get different sizes. The fields every flow shares live on
:class:`FlowConfig`; those of flows with a multiscale image form on :class:`ImageFlowConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

_ACTIVATIONS = {"choices": ("relu", "silu", "tanh", "elu")}
_BASES = {"choices": ("standard", "diag", "mixture")}
_MASKS = {"choices": ("halves", "parity")}
_PERMS = {"choices": ("none", "reverse", "random")}
_ORDERS = {"choices": ("reverse", "random")}


@dataclass
class FlowConfig:
    """What every flow preset has.

    Attributes:
        layers: number of layers (per mask kind and scale on images; 0: auto).
        hidden: hidden widths of each conditioner MLP or MADE (``()``: auto).
        activation: the conditioner's activation.
        base: ``"standard"`` normal, ``"diag"`` (learnable) or ``"mixture"`` of Gaussians.
        components: the number of components of a ``"mixture"`` base.
        context: the dimension of a condition vector (0: unconditional).
        seed: the seed of random permutations, orders and linear maps' initial rotations.
    """

    layers: int = 0
    hidden: tuple[int, ...] = ()
    activation: str = field(default="relu", metadata=_ACTIVATIONS)
    base: str = field(default="standard", metadata=_BASES)
    components: int = 8
    context: int = 0
    seed: int = 0


@dataclass
class ImageFlowConfig(FlowConfig):
    """A flow with a multiscale form on images (squeeze, couplings, split at each scale).

    Attributes:
        channels: hidden channels of the conv conditioners on images (0: auto).
        scales: the most scales of a multiscale image flow (each squeezes and splits).
    """

    channels: int = 0
    scales: int = 3


@dataclass
class RealNVPConfig(ImageFlowConfig):
    """RealNVP: affine coupling layers, each after an optional ActNorm.

    On images: multiscale (checkerboard couplings, squeeze, channel couplings, split) with
    conv conditioners, ``layers`` couplings of each kind per scale.

    Attributes:
        actnorm: an ActNorm (data-initialised) before each coupling.
        scale_bound: soft bound of each log-scale, ``β·tanh(s/β)`` (0: unbounded).
        mask: ``"halves"`` (first/second half) or ``"parity"`` (even/odd coordinates).
        permutation: ``"none"`` (the mask flips from layer to layer), ``"reverse"`` or
            ``"random"`` (a fixed mask and that permutation between layers).
    """

    actnorm: bool = True
    scale_bound: float = 3.0
    mask: str = field(default="halves", metadata=_MASKS)
    permutation: str = field(default="none", metadata=_PERMS)


@dataclass
class NICEConfig(ImageFlowConfig):
    """NICE: additive (volume-preserving) couplings, then a learnable diagonal scaling.

    Attributes:
        mask: ``"halves"`` or ``"parity"``.
        permutation: ``"none"`` (alternating masks), ``"reverse"`` or ``"random"``.
    """

    mask: str = field(default="halves", metadata=_MASKS)
    permutation: str = field(default="none", metadata=_PERMS)


@dataclass
class GlowConfig(ImageFlowConfig):
    """Glow: steps of ActNorm → invertible linear (LU 1×1 conv on images) → coupling.

    On images: multiscale (squeeze, ``layers`` steps with channel couplings, split) with
    conv conditioners; on vectors the linear map is a dense LU matrix and the coupling
    splits the vector in halves.

    Attributes:
        coupling: ``"affine"`` or ``"additive"``.
        scale_bound: soft bound of each log-scale (0: unbounded).
    """

    coupling: str = field(default="affine", metadata={"choices": ("affine", "additive")})
    scale_bound: float = 3.0


@dataclass
class MAFConfig(FlowConfig):
    """MAF / IAF: affine autoregressive layers on MADE conditioners (after optional ActNorms).

    ``iaf`` uses the same config: its layers are the inverses (one-pass sampling,
    ``d``-pass density).

    Attributes:
        actnorm: an ActNorm (data-initialised) before each layer.
        scale_bound: soft bound of each log-scale (0: unbounded).
        order: ``"reverse"`` (the order reverses from layer to layer) or ``"random"``.
    """

    actnorm: bool = True
    scale_bound: float = 3.0
    order: str = field(default="reverse", metadata=_ORDERS)


@dataclass
class NSFConfig(ImageFlowConfig):
    """Neural spline flows: monotone rational-quadratic splines with identity tails.

    ``nsf`` is autoregressive (MADE conditioners, orders reversing or random);
    ``nsf-coupling`` uses couplings (halves alternating, with an LU linear map between
    layers on vectors; multiscale conv couplings on images).

    Attributes:
        bins: spline bins :math:`K`.
        bound: the spline domain :math:`[-B, B]` (identity outside; standardise the data).
        actnorm: an ActNorm (data-initialised) before each layer.
        order: ``"reverse"`` or ``"random"`` orders between autoregressive layers.
    """

    bins: int = 8
    bound: float = 5.0
    actnorm: bool = False
    order: str = field(default="reverse", metadata=_ORDERS)
