"""Configs of the flow families (every field has a default; ``--set`` overrides them)."""

from __future__ import annotations

from dataclasses import dataclass, field

_ACTIVATIONS = {"choices": ("relu", "silu", "tanh", "elu")}
_BASES = {"choices": ("standard", "diag")}


@dataclass
class RealNVPConfig:
    """RealNVP: affine coupling layers, each after an optional ActNorm.

    Attributes:
        layers: number of coupling layers.
        hidden: hidden widths of each coupling's conditioner MLP.
        activation: the conditioner's activation.
        actnorm: an ActNorm (data-initialised) before each coupling.
        scale_bound: soft bound of each log-scale, ``β·tanh(s/β)`` (0: unbounded).
        mask: ``"halves"`` (first/second half) or ``"parity"`` (even/odd coordinates).
        permutation: ``"none"`` (the mask flips from layer to layer), ``"reverse"`` or
            ``"random"`` (a fixed mask and that permutation between layers).
        base: ``"standard"`` normal or ``"diag"`` (learnable mean and scale).
        context: the dimension of a condition vector (0: unconditional).
        seed: the seed of random permutations.
    """

    layers: int = 8
    hidden: tuple[int, ...] = (128, 128)
    activation: str = field(default="relu", metadata=_ACTIVATIONS)
    actnorm: bool = True
    scale_bound: float = 3.0
    mask: str = field(default="halves", metadata={"choices": ("halves", "parity")})
    permutation: str = field(default="none", metadata={"choices": ("none", "reverse", "random")})
    base: str = field(default="standard", metadata=_BASES)
    context: int = 0
    seed: int = 0


@dataclass
class NICEConfig:
    """NICE: additive (volume-preserving) couplings, then a learnable diagonal scaling.

    Attributes:
        layers: number of coupling layers.
        hidden: hidden widths of each coupling's conditioner MLP.
        activation: the conditioner's activation.
        mask: ``"halves"`` or ``"parity"``.
        permutation: ``"none"`` (alternating masks), ``"reverse"`` or ``"random"``.
        base: ``"standard"`` or ``"diag"``.
        context: the dimension of a condition vector (0: unconditional).
        seed: the seed of random permutations.
    """

    layers: int = 4
    hidden: tuple[int, ...] = (128, 128, 128)
    activation: str = field(default="relu", metadata=_ACTIVATIONS)
    mask: str = field(default="halves", metadata={"choices": ("halves", "parity")})
    permutation: str = field(default="none", metadata={"choices": ("none", "reverse", "random")})
    base: str = field(default="standard", metadata=_BASES)
    context: int = 0
    seed: int = 0


@dataclass
class MAFConfig:
    """MAF: affine autoregressive layers on MADE conditioners, each after an optional ActNorm.

    Attributes:
        layers: number of autoregressive layers.
        hidden: hidden widths of each MADE.
        activation: the MADE's activation.
        actnorm: an ActNorm (data-initialised) before each layer.
        scale_bound: soft bound of each log-scale (0: unbounded).
        order: ``"reverse"`` (the order reverses from layer to layer) or ``"random"``.
        base: ``"standard"`` or ``"diag"``.
        context: the dimension of a condition vector (0: unconditional).
        seed: the seed of random orders.
    """

    layers: int = 5
    hidden: tuple[int, ...] = (128, 128)
    activation: str = field(default="relu", metadata=_ACTIVATIONS)
    actnorm: bool = True
    scale_bound: float = 3.0
    order: str = field(default="reverse", metadata={"choices": ("reverse", "random")})
    base: str = field(default="standard", metadata=_BASES)
    context: int = 0
    seed: int = 0
