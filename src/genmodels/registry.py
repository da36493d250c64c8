"""The registries: families, data sets and metrics, registered by name in plain dicts.

The CLI, the comparison runner and the shared conformance tests are driven by these dicts,
so a family, a data set or a metric that registers here is reachable everywhere at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import InputError

if TYPE_CHECKING:
    from .core import GenerativeModel, Objective
    from .data.base import Dataset


@dataclass(frozen=True)
class DataInfo:
    """What a family needs to know about the data to build a model.

    Attributes:
        event_shape: the shape ``D`` of one point (``(2,)`` for 2-D toys, ``(1, 8, 8)`` for
            digits).
        levels: the number of discrete levels per coordinate for discrete data (17 for the
            8×8 digits, 256 for 8-bit images), ``None`` for continuous data.
        n_classes: the number of label classes, when the data has labels.
    """

    event_shape: tuple[int, ...]
    levels: int | None = None
    n_classes: int | None = None


@dataclass(frozen=True)
class Family:
    """A model family: its config type and how to build a model and its objective.

    Attributes:
        name: the registered name (``"realnvp"``).
        description: one line for ``genmodels list``.
        kind: the family group: ``"flow"``, ``"vae"``, ``"gan"``, ``"diffusion"`` or
            ``"flow-matching"``.
        config: a dataclass type whose fields all have defaults; ``--set`` overrides them.
        build: ``build(config, info) -> (model, objective)``.
        standardize_discrete: whether ``data.standardize = "auto"`` standardises discrete
            data (images) for this family; ``False`` for families whose likelihood lives on
            the data's own level scale (a VAE's categorical decoder).
    """

    name: str
    description: str
    kind: str
    config: type
    build: Callable[[Any, DataInfo], tuple[GenerativeModel, Objective]]
    standardize_discrete: bool = True


@dataclass(frozen=True)
class DatasetEntry:
    """A registered data set.

    Attributes:
        name: the registered name (``"checkerboard"``).
        description: one line for ``genmodels list``.
        load: ``load(config) -> Dataset`` with ``config`` a :class:`genmodels.config.DataConfig`.
    """

    name: str
    description: str
    load: Callable[[Any], Dataset]


@dataclass(frozen=True)
class MetricEntry:
    """A registered evaluation metric.

    Attributes:
        name: the registered name (``"w2"``).
        description: one line for ``genmodels list``.
        compute: the metric function; its signature is defined by :mod:`genmodels.metrics`.
    """

    name: str
    description: str
    compute: Callable[..., dict[str, float]]


FAMILIES: dict[str, Family] = {}
DATASETS: dict[str, DatasetEntry] = {}
METRICS: dict[str, MetricEntry] = {}


def _register(table: dict[str, Any], entry: Any) -> Any:
    if entry.name in table and table[entry.name] is not entry:
        raise ValueError(f"{entry.name!r} is registered twice")
    table[entry.name] = entry
    return entry


def register_family(entry: Family) -> Family:
    """Adds a family to :data:`FAMILIES`."""
    return _register(FAMILIES, entry)


def register_dataset(entry: DatasetEntry) -> DatasetEntry:
    """Adds a data set to :data:`DATASETS`."""
    return _register(DATASETS, entry)


def register_metric(entry: MetricEntry) -> MetricEntry:
    """Adds a metric to :data:`METRICS`."""
    return _register(METRICS, entry)


def _lookup(table: dict[str, Any], name: str, what: str) -> Any:
    load_all()
    if not isinstance(name, str) or name not in table:
        known = ", ".join(sorted(table))
        raise InputError(f"unknown {what} {name!r} (known: {known})")
    return table[name]


def get_family(name: str) -> Family:
    """The family registered as ``name``; an :class:`InputError` listing the known ones if none."""
    return _lookup(FAMILIES, name, "model")


def get_dataset(name: str) -> DatasetEntry:
    """The data set registered as ``name``."""
    return _lookup(DATASETS, name, "data set")


def get_metric(name: str) -> MetricEntry:
    """The metric registered as ``name``."""
    return _lookup(METRICS, name, "metric")


def load_all() -> None:
    """Imports the modules that register the built-in families, data sets and metrics."""
    from . import data, families, metrics  # noqa: F401
