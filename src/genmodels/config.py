"""Run configuration: typed dataclasses, TOML files and ``--set key=value`` overrides.

A run is described by three sections and the model's own config::

    [model]            # name + the family's config fields
    name = "realnvp"
    layers = 8
    [data]
    name = "checkerboard"
    [train]
    steps = 2000

Every key is validated: an unknown key or a value of the wrong type is an
:class:`~genmodels.errors.InputError` that names the key.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import InputError


@dataclass
class TrainConfig:
    """How to train: optimiser, schedule, budget and bookkeeping (0 turns an option off).

    Attributes:
        steps: number of training steps (one step runs every phase of the objective).
        batch_size: points per batch (per process under ``torchrun``).
        lr: peak learning rate.
        optimizer: ``"adam"`` or ``"adamw"``.
        betas: Adam's ``(β1, β2)``.
        weight_decay: decoupled weight decay (AdamW) or L2 penalty (Adam).
        warmup_steps: linear warm-up steps from 0 to ``lr``.
        schedule: ``"cosine"`` (decay to ``min_lr_ratio · lr`` at the last step) or
            ``"constant"``.
        min_lr_ratio: the final learning rate of the cosine schedule, relative to ``lr``.
        grad_clip: maximum global gradient norm; 0 for none.
        ema_decay: decay of the exponential moving average of the weights used for sampling;
            0 for none.
        accumulate: micro-batches whose gradients are summed into one optimiser step.
        val_every: validate every this many steps (0: only at the end).
        patience: stop after this many validations without improvement (0: never).
        checkpoint_every: write the ``last`` checkpoint every this many steps (0: only at
            the end).
        log_every: append to ``metrics.jsonl`` every this many steps.
        max_nonfinite: stop after this many non-finite losses in a row (each one is skipped).
        on_nan: what a non-finite loss or gradient does: ``"skip"`` (the step is skipped,
            nothing is updated, training stops after ``max_nonfinite`` in a row) or
            ``"stop"`` (training stops at once). Either way a non-finite weight, EMA weight or
            optimiser state stops training with one line, and no NaN or inf is ever written
            to a checkpoint: the last good one stays.
        seed: the seed of everything random in training.
        budget: wall-clock budget in seconds (0: none); training stops at ``steps`` or at the
            budget, whichever comes first.
        device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``.
        threads: intra-op CPU threads (0: PyTorch's default).
        loggers: extra experiment trackers besides ``metrics.jsonl``: ``"tensorboard"``
            (event files in ``<run>/tensorboard``) and ``"mlflow"`` (a local SQLite store).
        mlflow_uri: the MLflow tracking URI (default ``sqlite:///<run>/mlflow.db``).
        precision: ``"fp32"``, ``"bf16"`` (autocast to bfloat16; CPU and CUDA) or ``"fp16"``
            (autocast to float16 with dynamic loss scaling; CUDA only). See
            :mod:`genmodels.train.precision`.
        compile: run each phase's loss through :func:`torch.compile` (the first steps
            compile; worth it for long runs of large models).
    """

    steps: int = 2000
    batch_size: int = 256
    lr: float = 1e-3
    optimizer: str = field(default="adam", metadata={"choices": ("adam", "adamw")})
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    warmup_steps: int = 0
    schedule: str = field(default="cosine", metadata={"choices": ("cosine", "constant")})
    min_lr_ratio: float = 0.0
    grad_clip: float = 0.0
    ema_decay: float = 0.0
    accumulate: int = 1
    val_every: int = 0
    patience: int = 0
    checkpoint_every: int = 500
    log_every: int = 50
    max_nonfinite: int = 10
    on_nan: str = field(default="skip", metadata={"choices": ("skip", "stop")})
    seed: int = 0
    budget: float = 0.0
    device: str = field(default="auto", metadata={"choices": ("auto", "cpu", "cuda")})
    threads: int = 0
    loggers: tuple[str, ...] = ()
    mlflow_uri: str = ""
    precision: str = field(default="fp32", metadata={"choices": ("fp32", "bf16", "fp16")})
    compile: bool = False


@dataclass
class DataConfig:
    """Which data and how to prepare it.

    Attributes:
        name: a registered data set name (``genmodels list``) or a path to a file.
        n_train: training points drawn from a generated data set (2-D toys).
        n_val: validation points drawn from a generated data set.
        n_test: test points drawn from a generated data set.
        val_fraction: the share of a file's rows held out for validation.
        test_fraction: the share of a file's rows held out for testing.
        standardize: ``"auto"`` (files yes, built-in sets no), ``"yes"`` or ``"no"``;
            statistics come from the training split and are stored with the run.
        seed: the seed of data generation and of the split (kept apart from the training
            seed so that runs with different training seeds see the same data).
        columns: for a file, the columns to keep: comma-separated header names or 0-based
            indices (``"x,y"``, ``"0,2"``); ``""`` keeps all, which must then be numeric.
        logit: :math:`\\alpha` of the logit transform
            :math:`\\operatorname{logit}(\\alpha + (1 - 2\\alpha) z / K)` applied before the
            standardisation (exact log-determinant included in every score); 0 turns it off.
            RealNVP used 0.05 (CIFAR-10) and 1e-6 (MNIST).
        image_size: for an image folder, resize every image to this square size (0: keep the
            size, which must then be the same for all).
        image_mode: for an image folder, ``"L"`` (grey), ``"RGB"``, or ``"auto"`` (as stored;
            all images must then have the same channels).
    """

    name: str = "checkerboard"
    n_train: int = 20_000
    n_val: int = 2_000
    n_test: int = 5_000
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    standardize: str = field(default="auto", metadata={"choices": ("auto", "yes", "no")})
    seed: int = 0
    columns: str = ""
    logit: float = 0.0
    image_size: int = 0
    image_mode: str = field(default="auto", metadata={"choices": ("auto", "L", "RGB")})


@dataclass
class RunConfig:
    """A whole run: the model (a family name and its config), the data and the training.

    Attributes:
        model: the registered family name.
        model_config: the family's config dataclass.
        data: the data section.
        train: the training section.
    """

    model: str
    model_config: Any
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        """The nested plain-dict form (what TOML files and ``config.json`` hold)."""
        return {
            "model": {"name": self.model, **_plain(dataclasses.asdict(self.model_config))},
            "data": _plain(dataclasses.asdict(self.data)),
            "train": _plain(dataclasses.asdict(self.train)),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "config") -> RunConfig:
        """Builds and validates a run config from its nested plain-dict form."""
        from .registry import get_family

        if not isinstance(d, dict):
            raise InputError(f"{where}: expected a table, got {type(d).__name__}")
        unknown = set(d) - {"model", "data", "train"}
        if unknown:
            key = min(unknown, key=str)
            raise InputError(f"{where}: unknown config key {key!r} (sections: model, data, train)")
        for key in ("model", "data", "train"):
            if key in d and not isinstance(d[key], dict):
                raise InputError(f"{where}: [{key}] must be a table, got "
                                 f"{type(d[key]).__name__} {_short(d[key])}")
        model = dict(d.get("model", {}))
        name = model.pop("name", None)
        if not isinstance(name, str):
            raise InputError(f"{where}: model.name is required (a registered family name)")
        family = get_family(name)
        return cls(
            model=name,
            model_config=from_mapping(family.config, model, f"{where}: model"),
            data=from_mapping(DataConfig, d.get("data", {}), f"{where}: data"),
            train=from_mapping(TrainConfig, d.get("train", {}), f"{where}: train"),
        )


def _short(value: Any, limit: int = 40) -> str:
    """``repr(value)`` on one line, cut to ``limit`` characters."""
    text = " ".join(repr(value).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def from_mapping(cls: type, values: dict[str, Any], where: str) -> Any:
    """Builds dataclass ``cls`` from ``values``, checking every key and type.

    Raises:
        InputError: naming ``where.key`` for an unknown key or a value of the wrong type.
    """
    if not isinstance(values, dict):
        raise InputError(f"{where}: expected a table, got {type(values).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in values.items():
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise InputError(f"{where}: unknown config key {key!r} (known: {known})")
        kwargs[key] = coerce(value, hints[key], f"{where}.{key}")
        choices = fields[key].metadata.get("choices")
        if choices is not None and kwargs[key] not in choices:
            raise InputError(
                f"{where}.{key}: {_short(kwargs[key])} is not one of "
                f"{', '.join(map(str, choices))}"
            )
    return cls(**kwargs)


def coerce(value: Any, hint: Any, where: str) -> Any:
    """Checks ``value`` against the type ``hint`` and converts it (int → float, list → tuple)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce(value, arg, where)
            except InputError:
                continue
        raise InputError(f"{where}: {_short(value)} is not a {_name(hint)}")
    if hint is typing.Any:
        return value
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise InputError(f"{where}: {_short(value)} is not a bool (true or false)")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise InputError(f"{where}: {_short(value)} is not an int")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise InputError(f"{where}: {_short(value)} is not a float")
    if hint is str:
        if isinstance(value, str):
            return value
        raise InputError(f"{where}: {_short(value)} is not a string")
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise InputError(f"{where}: {_short(value)} is not a list")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise InputError(f"{where}: expected {len(args)} values, got {len(value)}")
            items = [coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args))]
        else:
            item = args[0] if args else typing.Any
            items = [coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if dataclasses.is_dataclass(hint):
        return from_mapping(hint, value, where)
    raise InputError(f"{where}: unsupported config type {_name(hint)}")


def _name(hint: Any) -> str:
    return getattr(hint, "__name__", str(hint))


def parse_value(text: str) -> Any:
    """Parses the value of ``--set key=value`` as a TOML value, falling back to a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def load_toml(path: str | Path) -> dict[str, Any]:
    """Reads a TOML config file; a missing file or a syntax error is an :class:`InputError`."""
    p = Path(path)
    try:
        with p.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise InputError(f"{p}: config file not found") from None
    except IsADirectoryError:
        raise InputError(f"{p}: is a directory, not a config file") from None
    except UnicodeDecodeError as e:
        raise InputError(f"{p}: not UTF-8 text (byte {e.start}), not a TOML file") from None
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"{p}: invalid TOML: {e}") from None
    except OSError as e:
        raise InputError(f"{p}: unreadable config file ({e.strerror or e})") from None


def apply_overrides(d: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Applies ``key=value`` overrides to the nested config dict ``d`` (a new dict).

    A dotted key (``train.lr=3e-4``, ``model.hidden=[64, 64]``) names its section. A bare key
    (``divergence=kl``) is looked up in the model section, then train, then data; it must
    name a field of exactly one of them.
    """
    from .registry import get_family

    if not isinstance(d, dict):
        raise InputError(f"config: expected a table, got {type(d).__name__}")
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in d.items()}
    for item in overrides:
        if "=" not in item:
            raise InputError(f"--set {item!r}: expected key=value")
        key, _, text = item.partition("=")
        key = key.strip()
        value = parse_value(text.strip())
        if "." in key:
            section, _, field_name = key.partition(".")
            if section not in ("model", "data", "train") or not field_name or "." in field_name:
                raise InputError(f"--set {key!r}: unknown config key "
                                 "(sections: model, data, train)")
        else:
            model = out.get("model", {})
            family = get_family(model.get("name", "") if isinstance(model, dict) else "")
            tables = (("model", family.config), ("train", TrainConfig), ("data", DataConfig))
            owners = [
                s for s, c in tables
                if key in {f.name for f in dataclasses.fields(c)}
                or (s == "model" and key == "name")
            ]
            if not owners:
                raise InputError(f"--set {key!r}: unknown config key")
            section, field_name = owners[0], key
        table = out.setdefault(section, {})
        if not isinstance(table, dict):
            raise InputError(f"--set {key!r}: config [{section}] is a {type(table).__name__}, "
                             "not a table")
        table[field_name] = value
    return out
