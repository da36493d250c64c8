"""Data units: a model trained on standardised data, seen in the units of the data.

A run stores the map from data units to model units (:class:`~genmodels.data.base.Standardize`:
optional logit, then ``u = (x - μ) / s``) beside its checkpoints; the wrappers here sample and
score through it, so ``sample`` returns data-unit points and ``log_prob`` includes the map's
log-determinant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .core import DensityModel, GenerativeModel, VariationalBound
from .data.base import Standardize
from .errors import InputError

__all__ = ["BoundDataUnits", "DataUnits", "DensityDataUnits", "in_data_units",
           "load_standardize", "save_standardize"]


class DataUnits(GenerativeModel):
    """A model trained on standardised data, seen in data units.

    Sampling maps model samples back with :math:`x = \\mu + s \\odot u`.
    """

    def __init__(self, model: GenerativeModel, standardize: Standardize) -> None:
        super().__init__()
        self.inner = model
        self.standardize = standardize
        self.event_shape = tuple(model.event_shape)
        self.no_density = model.no_density

    def sample(
        self,
        n: int,
        *,
        cond: Tensor | None = None,
        generator: torch.Generator | None = None,
        **options: Any,
    ) -> Tensor:
        """Draws ``n`` points in data units (``options``: the sampler and NFE of an
        :class:`~genmodels.core.IterativeModel`)."""
        x = self.inner.sample(n, cond=cond, generator=generator, **options)
        return self.standardize.inverse(x)


class DensityDataUnits(DataUnits, DensityModel):
    """A density model seen in data units.

    .. math:: \\log p_X(x) = \\log p_U\\big((x - \\mu)/s\\big) - \\sum_i \\log s_i
    """

    def __init__(self, model: DensityModel, standardize: Standardize) -> None:
        super().__init__(model, standardize)
        self.log_prob_kind = model.log_prob_kind

    def log_prob(self, x: Tensor, *, cond: Tensor | None = None) -> Tensor:
        """Log-density in nats of points given in data units, shape ``(B,)``."""
        return self._in_data_units(self.inner.log_prob, x, cond)

    def _in_data_units(self, fn: Any, x: Tensor, cond: Tensor | None) -> Tensor:
        """``fn`` (a log-density or bound of the inner model) at ``x`` given in data units."""
        return fn(self.standardize.forward(x), cond=cond) + self.standardize.log_det(x)


class BoundDataUnits(DensityDataUnits, VariationalBound):
    """A density model with a variational bound, seen in data units (the bound moves by the
    same log-determinant as the density)."""

    def log_prob_bound(self, x: Tensor, *, cond: Tensor | None = None) -> Tensor:
        """The lower bound in nats of points given in data units, shape ``(B,)``."""
        return self._in_data_units(self.inner.log_prob_bound, x, cond)


def in_data_units(model: GenerativeModel, standardize: Standardize) -> GenerativeModel:
    """Wraps ``model`` so that it samples and scores in data units (a no-op for the identity)."""
    if standardize.is_identity:
        return model
    if isinstance(model, VariationalBound):
        return BoundDataUnits(model, standardize)
    if isinstance(model, DensityModel):
        return DensityDataUnits(model, standardize)
    return DataUnits(model, standardize)


def save_standardize(out: Path, std: Standardize) -> None:
    """Writes the standardisation statistics next to the run (atomically)."""
    from safetensors.torch import save_file

    from .train.checkpoint import atomic_write

    tensors = std.to_tensors()
    atomic_write(Path(out) / "standardize.safetensors", lambda tmp: save_file(tensors, tmp))


def load_standardize(out: Path, event_shape: tuple[int, ...] | None = None) -> Standardize:
    """Reads the standardisation statistics of a run.

    ``mean`` and ``std`` must be floating tensors of one shape that broadcasts to
    ``event_shape`` (when given), finite, with ``std > 0``; ``logit``, when present, two finite
    numbers ``(levels >= 0, 0 <= alpha < 0.5)``.
    """
    from safetensors.torch import load_file

    path = Path(out) / "standardize.safetensors"
    try:
        t = load_file(path)
    except FileNotFoundError:
        raise InputError(f"{path}: missing (not a complete run directory)") from None
    except Exception as e:  # noqa: BLE001 - safetensors raises several types for a bad file
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise InputError(f"{path}: unreadable standardisation file ({first})") from None
    for key in ("mean", "std"):
        if key not in t:
            raise InputError(f"{path}: no {key!r} tensor")
        v = t[key]
        if not v.is_floating_point() or not torch.isfinite(v).all():
            raise InputError(f"{path}: {key!r} is not a finite floating tensor")
    mean, std = t["mean"].to(torch.float32), t["std"].to(torch.float32)
    if mean.shape != std.shape or mean.numel() == 0 or not _fits(mean.shape, event_shape):
        raise InputError(f"{path}: mean {tuple(mean.shape)} and std {tuple(std.shape)} do not "
                         f"fit points of shape {tuple(event_shape or ())}")
    if not (std > 0).all():
        raise InputError(f"{path}: 'std' has a value <= 0")
    if "logit" in t:
        lg = t["logit"]
        if (lg.shape != (2,) or not lg.is_floating_point() or not torch.isfinite(lg).all()
                or lg[0] < 0 or not 0 <= lg[1] < 0.5):
            raise InputError(f"{path}: 'logit' is not [levels >= 0, 0 <= alpha < 0.5]")
    return Standardize.from_tensors({**t, "mean": mean, "std": std})


def _fits(shape: tuple[int, ...], event_shape: tuple[int, ...] | None) -> bool:
    """Whether statistics of ``shape`` broadcast to points of ``event_shape`` unchanged."""
    if event_shape is None:
        return True
    try:
        return torch.broadcast_shapes(tuple(shape), tuple(event_shape)) == tuple(event_shape)
    except RuntimeError:
        return False
