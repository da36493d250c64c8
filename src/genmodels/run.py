"""The high-level API: train a run, load it back, sample, score and evaluate in data units.

A *run* is a directory::

    runs/<name>/
      config.json              the resolved config (model, data, train)
      data.json                where the data came from (name or file and its SHA-256), shape
      standardize.safetensors  the training split's mean and std (identity when not used)
      metrics.jsonl            training curves
      checkpoints/             last and best checkpoints (safetensors + plain-tensor state)
      evaluation.json          the last `evaluate`

The CLI is a thin layer over this module.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .config import RunConfig, apply_overrides, load_toml
from .core import DensityModel, GenerativeModel, IterativeModel, VariationalBound
from .data.base import Dataset, Standardize
from .data.preprocess import training_data
from .errors import InputError
from .registry import get_family
from .train.checkpoint import write_json
from .units import DataUnits, in_data_units, load_standardize, save_standardize

__all__ = ["DataUnits", "Run", "fit", "in_data_units", "load", "resolve_config"]


@dataclass
class Run:
    """A trained model with its config, data transform and run directory.

    Attributes:
        config: the resolved run config.
        model: the trained model in data units (EMA weights when EMA was on), in eval mode.
        standardize: the map from data units to model units.
        path: the run directory, or ``None`` for a run trained without one.
        fit_result: the trainer's summary, for a run trained in this process.
    """

    config: RunConfig
    model: GenerativeModel
    standardize: Standardize
    path: Path | None = None
    fit_result: Any = None

    @property
    def family_model(self) -> GenerativeModel:
        """The family's own model, in model units (without the data-units wrapper)."""
        return self.model.inner if isinstance(self.model, DataUnits) else self.model

    def sample(
        self,
        n: int,
        *,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        sampler: str | None = None,
        nfe: int | None = None,
    ) -> Tensor:
        """Draws ``n`` points in data units (seeded by ``seed`` or ``generator``).

        ``sampler`` and ``nfe`` choose the solver of an ODE/SDE model
        (:class:`~genmodels.core.IterativeModel`); other models refuse them.
        """
        if generator is None and seed is not None:
            generator = torch.Generator(device=self.model.device).manual_seed(seed)
        options: dict[str, Any] = {}
        if sampler is not None or nfe is not None:
            inner = self.family_model
            if not isinstance(inner, IterativeModel):
                raise InputError(
                    f"--sampler/--nfe: model {self.config.model!r} samples exactly in one pass "
                    "and takes no sampler options"
                )
            if sampler is not None and sampler not in inner.samplers:
                raise InputError(f"--sampler {sampler!r}: unknown for model "
                                 f"{self.config.model!r} (known: {', '.join(inner.samplers)})")
            if nfe is not None and nfe < 1:
                raise InputError(f"--nfe {nfe}: must be >= 1")
            options = {"sampler": sampler, "nfe": nfe}
        with torch.no_grad():
            return self.model.sample(n, generator=generator, **options)

    def log_prob(self, x: Tensor, *, batch_size: int = 4096, bound: bool = False) -> Tensor:
        """Log-density in nats of points in data units (an exact value, bound or estimate,
        as ``model.log_prob_kind`` says), shape ``(B,)``; with ``bound``, the model's
        variational lower bound instead (diffusion models)."""
        if not isinstance(self.model, DensityModel):
            raise InputError(
                f"model {self.config.model!r} has no density: `score` needs a flow, VAE, "
                "diffusion or flow-matching model"
            )
        if bound and not isinstance(self.model, VariationalBound):
            raise InputError(f"--bound: model {self.config.model!r} has no variational bound "
                             "(diffusion models and VAEs have one)")
        check_points(x, self.model.event_shape, "input")
        fn = self.model.log_prob_bound if bound else self.model.log_prob
        out = []
        with torch.no_grad():
            for chunk in torch.split(x.to(self.model.device, torch.float32), batch_size):
                out.append(fn(chunk).cpu())
        return torch.cat(out) if out else torch.zeros(0)

    def dataset(self) -> Dataset:
        """Reloads the run's data set (same config, same splits)."""
        from .data import load_dataset

        return load_dataset(self.config.data)

    def evaluate(
        self,
        test: Tensor | None = None,
        *,
        metrics: list[str] | None = None,
        seed: int = 0,
        levels: int | None = None,
        entropy: float | None = None,
        entropy_se: float | None = None,
        dataset: str | None = None,
        save: bool = True,
    ) -> dict[str, float]:
        """Evaluates the model against ``test`` (default: the run's own test split).

        Returns one flat dict (see :func:`genmodels.metrics.evaluate`) and, when ``save``,
        writes it to ``evaluation.json`` in the run directory.
        """
        from .metrics import evaluate

        if test is None:
            data = self.dataset()
            test, levels = data.test, data.levels
            entropy, entropy_se = data.entropy, data.entropy_se
            dataset = data.name
        check_points(test, self.model.event_shape, "test data")
        generator = torch.Generator(device=self.model.device).manual_seed(seed)
        with torch.no_grad():
            result = evaluate(
                self.model, test, metrics=metrics, generator=generator, levels=levels,
                entropy=entropy, entropy_se=entropy_se, dataset=dataset,
            )
        if save and self.path is not None and int(os.environ.get("RANK", "0")) == 0:
            write_json(self.path / "evaluation.json", result)
        return result


def check_points(x: Tensor, event_shape: tuple[int, ...], what: str) -> None:
    """Raises :class:`InputError` unless ``x`` is a finite batch of shape ``(B, *event_shape)``."""
    if tuple(x.shape[1:]) != tuple(event_shape):
        raise InputError(
            f"{what}: points of shape {tuple(x.shape[1:])}, but the model was trained on "
            f"shape {tuple(event_shape)}"
        )
    if not torch.isfinite(x).all():
        bad = torch.nonzero(~torch.isfinite(x.reshape(len(x), -1)))[0].tolist()
        raise InputError(f"{what}: non-finite value at row {bad[0]}, column {bad[1]}")


def resolve_config(
    config: RunConfig | dict[str, Any] | str | Path | None = None,
    *,
    overrides: list[str] | tuple[str, ...] = (),
    **sections: dict[str, Any],
) -> RunConfig:
    """Builds a validated :class:`RunConfig` from a TOML path, a nested dict or a config.

    Later sources win: the file or dict, then ``sections`` (``model={"name": "realnvp"}``,
    ``train={"steps": 100}``), then ``overrides`` (``"train.lr=3e-4"``, ``"layers=4"``).
    """
    if isinstance(config, RunConfig):
        d = config.to_dict()
    elif isinstance(config, (str, Path)):
        d = load_toml(config)
    else:
        d = dict(config or {})
    d = {k: dict(v) if isinstance(v, dict) else v for k, v in d.items()}
    for section, values in sections.items():
        d.setdefault(section, {})
        if not isinstance(d[section], dict):
            raise InputError(f"config: [{section}] must be a table")
        d[section].update(values)
    if overrides:
        d = apply_overrides(d, list(overrides))
    return RunConfig.from_dict(d)


def _data_record(config: RunConfig, data: Dataset) -> dict[str, Any]:
    record: dict[str, Any] = {
        "name": config.data.name,
        "event_shape": list(data.event_shape),
        "levels": data.levels,
        "n_classes": data.n_classes,
        "n_train": int(len(data.train)),
        "n_test": int(len(data.test)),
    }
    path = Path(config.data.name)
    if path.is_file():
        record["sha256"] = file_sha256(path)
    return record


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _choose_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError("train.device = 'cuda' but no CUDA device is available")
    return torch.device(name)


def _fresh_run_dir(out: Path) -> bool:
    """Creates ``out``; returns whether it was created here. Refuses an existing run."""
    if (out / "config.json").exists():
        raise InputError(f"{out}: a run exists here already (use --resume {out} or another --out)")
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a directory")
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    return created


def fit(
    config: RunConfig | dict[str, Any] | str | Path | None = None,
    *,
    out: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    progress: bool | None = None,
    resume: bool = False,
    **sections: dict[str, Any],
) -> Run:
    """Trains a model and returns the :class:`Run` (in data units).

    Args:
        config: a :class:`RunConfig`, a nested dict, or a TOML path; ignored when resuming.
        out: the run directory; ``None`` trains in memory without writing anything.
        overrides: ``--set``-style ``key=value`` strings.
        progress: show a progress bar (``None``: when stderr is a terminal).
        resume: continue the run in ``out`` from its last checkpoint, exactly.
        **sections: section updates, e.g. ``train={"steps": 100}``.

    Example:
        >>> import genmodels as gm
        >>> run = gm.fit(model={"name": "realnvp"}, data={"name": "moons"},
        ...              train={"steps": 20, "batch_size": 64})
        >>> run.sample(5, seed=0).shape
        torch.Size([5, 2])
    """
    from .data import load_dataset
    from .train import RunStore, Trainer

    if resume:
        if out is None:
            raise InputError("resume needs the run directory")
        out = Path(out)
        if not (out / "config.json").is_file():
            raise InputError(f"{out}: not a run directory (no config.json)")
        cfg = resolve_config(json.loads((out / "config.json").read_text()))
    else:
        cfg = resolve_config(config, overrides=overrides, **sections)

    data = load_dataset(cfg.data)
    family = get_family(cfg.model)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    device = _choose_device(cfg.train.device)
    mode = cfg.data.standardize
    want_std = mode == "yes" or (mode == "auto" and data.standardize and (
        data.levels is None or family.standardize_discrete))
    created = False
    store = None
    main_rank = int(os.environ.get("RANK", "0")) == 0
    if resume:
        assert out is not None
        std = load_standardize(out)
        _check_same_data(out, cfg, data)
        store = RunStore(out)
    else:
        std = Standardize.fit(data.train, levels=data.levels, logit_alpha=cfg.data.logit or None,
                              standardize=want_std, seed=cfg.data.seed)
        if out is not None:
            out = Path(out)
            created = _fresh_run_dir(out) if main_rank else False
    try:
        if out is not None and not resume:
            store = RunStore(out)
            if main_rank:
                store.write_config(cfg.to_dict())
                write_json(out / "data.json", _data_record(cfg, data))
                save_standardize(out, std)
        torch.manual_seed(cfg.train.seed)
        model, objective = family.build(cfg.model_config, data.info)
        model = model.to(device)
        metadata = {
            "family": cfg.model,
            "config": json.dumps(cfg.to_dict(), sort_keys=True),
            "event_shape": json.dumps(list(data.event_shape)),
        }
        trainer = Trainer(cfg.train, store=store, progress=progress, metadata=metadata)
        train, val = training_data(data, std)
        result = trainer.fit(model, objective, train, val=val, resume=resume)
    except BaseException:
        if created and out is not None and not resume:
            shutil.rmtree(out, ignore_errors=True)
        raise
    if store is not None:
        model = _load_weights(store, model)
    elif trainer.ema is not None:  # no checkpoint holds the average: take it from memory
        model.load_state_dict(trainer.ema.state_dict())
    model.eval()
    return Run(cfg, in_data_units(model, std), std, Path(out) if out else None, result)


def _check_same_data(out: Path, cfg: RunConfig, data: Dataset) -> None:
    record = json.loads((out / "data.json").read_text())
    path = Path(cfg.data.name)
    if "sha256" in record and path.is_file() and file_sha256(path) != record["sha256"]:
        raise InputError(f"{path}: the data file changed since the run started (SHA-256)")
    if list(data.event_shape) != record["event_shape"]:
        raise InputError(f"{out}: the data's shape changed since the run started")


def _load_weights(store: Any, model: GenerativeModel, which: str = "best") -> GenerativeModel:
    if which == "best" and not store.has_checkpoint("best"):
        which = "last"
    state, _ = store.load_model_weights(which=which, ema=True)
    model.load_state_dict(state)
    return model


def load(path: str | Path, *, which: str = "best", device: str = "cpu") -> Run:
    """Loads a trained run from its directory, ready to sample, score and evaluate.

    Args:
        path: the run directory.
        which: ``"best"`` (falls back to ``"last"`` when there is no best) or ``"last"``.
        device: where to put the model.
    """
    from .train import RunStore

    out = Path(path)
    if not out.is_dir():
        raise InputError(f"{out}: no such run directory")
    cfg_path = out / "config.json"
    try:
        cfg = resolve_config(json.loads(cfg_path.read_text()))
    except FileNotFoundError:
        raise InputError(f"{out}: not a run directory (no config.json)") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{cfg_path}: invalid JSON at line {e.lineno}, col {e.colno}") from None
    try:
        record = json.loads((out / "data.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        raise InputError(f"{out / 'data.json'}: missing or invalid") from None
    from .registry import DataInfo

    info = DataInfo(tuple(record["event_shape"]), record.get("levels"), record.get("n_classes"))
    std = load_standardize(out)
    store = RunStore(out)
    if not store.has_checkpoint("last"):
        raise InputError(f"{out}: the run has no checkpoint yet")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.train.seed)
        model, _ = get_family(cfg.model).build(cfg.model_config, info)
    try:
        model = _load_weights(store, model, which)
    except RuntimeError as e:
        first = str(e).splitlines()[0]
        raise InputError(f"{out}: checkpoint does not fit the model ({first})") from None
    model.to(device).eval()
    return Run(cfg, in_data_units(model, std), std, out)
