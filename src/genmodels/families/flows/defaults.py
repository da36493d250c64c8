"""Sizes chosen from the data's event shape when a config field is left at "auto".

Three regimes: 2-D (or 1-D) points, tabular vectors, images ``(C, H, W)``. Coupling families
treat images with conv conditioners and multiscale squeezes; autoregressive ones flatten.
"""

from __future__ import annotations

import math

#: family → default number of layers for (points, vectors, images).
LAYERS: dict[str, tuple[int, int, int]] = {
    "realnvp": (8, 8, 3),
    "nice": (4, 6, 3),
    "glow": (8, 8, 4),
    "maf": (5, 5, 5),
    "iaf": (5, 5, 3),
    "nsf": (5, 5, 4),
    "nsf-coupling": (6, 6, 2),
}


def regime(event_shape: tuple[int, ...]) -> int:
    """0 for points (``d ≤ 2``), 1 for other vectors and tables, 2 for images ``(C, H, W)``."""
    if len(event_shape) == 3:
        return 2
    return 0 if math.prod(event_shape) <= 2 else 1


def layers(family: str, value: int, event_shape: tuple[int, ...]) -> int:
    """``value`` or the family's default for this event shape."""
    return value or LAYERS[family][regime(event_shape)]


def hidden(value: tuple[int, ...], event_shape: tuple[int, ...]) -> tuple[int, ...]:
    """``value`` or two hidden layers of ``clamp(4d, 128, 512)`` units (MADEs and MLPs)."""
    if value:
        return tuple(value)
    d = math.prod(event_shape)
    width = 128 if d <= 2 else min(512, max(128, 4 * d))
    return width, width


def channels(value: int, event_shape: tuple[int, ...]) -> int:
    """``value`` or the conv conditioners' width: 64 up to 8×8 images, 96 above."""
    if value:
        return value
    return 64 if math.prod(event_shape[1:]) <= 64 else 96
