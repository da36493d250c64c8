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
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .config import RunConfig, apply_overrides, load_toml
from .core import DensityModel, GenerativeModel, IterativeModel, LabelConditional, VariationalBound
from .core.model import with_label_counts
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
        label: int | Tensor | None = None,
        guidance: float | None = None,
    ) -> Tensor:
        """Draws ``n`` points in data units (seeded by ``seed`` or ``generator``).

        ``sampler`` and ``nfe`` choose the solver of an ODE/SDE model
        (:class:`~genmodels.core.IterativeModel`); other models refuse them. ``label`` (one
        class, or ``(n,)`` classes) samples a class-conditional model
        (:class:`~genmodels.core.LabelConditional` trained with ``model.conditional=true``)
        with classifier-free guidance weight ``guidance`` (default: the run's
        ``model.guidance``; 0 is conditional sampling).
        """
        if generator is None and seed is not None:
            generator = torch.Generator(device=self.model.device).manual_seed(seed)
        options: dict[str, Any] = {}
        cond = None
        if label is not None or guidance is not None:
            self._conditional()
            cond = None if label is None else self._labels(label, n)
            if guidance is not None:
                options["guidance"] = guidance
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
            options.update(sampler=sampler, nfe=nfe)
        with torch.no_grad():
            return self.model.sample(n, cond=cond, generator=generator, **options)

    def log_prob(self, x: Tensor, *, batch_size: int = 4096, bound: bool = False,
                 label: int | Tensor | None = None) -> Tensor:
        """Log-density in nats of points in data units (an exact value, bound or estimate,
        as ``model.log_prob_kind`` says), shape ``(B,)``; with ``bound``, the model's
        variational lower bound instead (diffusion models).

        ``label`` (one class, or ``(B,)`` classes) gives the class-conditional density
        :math:`\\log p_\\theta(x \\mid c)` of a run trained with ``model.conditional=true``
        (the unguided conditional field; without it, the null label's density, or the
        label mixture :math:`\\log\\sum_c\\pi_c p_\\theta(x \\mid c)` of a run trained with
        ``model.p_uncond=0``)."""
        if not isinstance(self.model, DensityModel):
            if self.model.no_density:
                raise InputError(f"model {self.config.model!r}: {self.model.no_density}")
            raise InputError(
                f"model {self.config.model!r} has no density: `score` needs a flow, VAE, "
                "diffusion or flow-matching model"
            )
        if bound and not isinstance(self.model, VariationalBound):
            raise InputError(f"--bound: model {self.config.model!r} has no variational bound "
                             "(diffusion models and VAEs have one)")
        check_points(x, self.model.event_shape, "input")
        cond = None if label is None else self._labels(label, x.shape[0])
        fn = self.model.log_prob_bound if bound else self.model.log_prob
        out = []
        with torch.no_grad():
            xs = torch.split(x.to(self.model.device, torch.float32), batch_size)
            cs = [None] * len(xs) if cond is None else torch.split(cond, batch_size)
            for chunk, c in zip(xs, cs, strict=True):
                out.append((fn(chunk) if c is None else fn(chunk, cond=c)).cpu())
        return torch.cat(out) if out else torch.zeros(0)

    def _conditional(self) -> int:
        """The number of classes of a class-conditional run; refuses a run trained without
        labels in one line."""
        inner = self.family_model
        if not (isinstance(inner, LabelConditional) and inner.n_classes):
            raise InputError(f"--label/guidance: run {self.config.model!r} was trained "
                             "without labels (train it with model.conditional=true)")
        return inner.n_classes

    def _labels(self, label: int | Tensor, n: int) -> Tensor:
        """``(n,)`` labels on the model's device (refused out of range, in one line)."""
        from .paths.guidance import as_labels

        return as_labels(label, n, self._conditional()).to(self.model.device)

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
        labels: Tensor | None = None,
        save: bool = True,
    ) -> dict[str, float]:
        """Evaluates the model against ``test`` (default: the run's own test split, with its
        labels: a class-conditional run draws one sample per test label).

        Returns one flat dict (see :func:`genmodels.metrics.evaluate`) and, when ``save``,
        writes it to ``evaluation.json`` in the run directory.
        """
        from .metrics import evaluate

        if test is None:
            data = self.dataset()
            test, levels = data.test, data.levels
            entropy, entropy_se = data.entropy, data.entropy_se
            dataset, labels = data.name, data.test_labels
        check_points(test, self.model.event_shape, "test data")
        generator = torch.Generator(device=self.model.device).manual_seed(seed)
        with torch.no_grad():
            result = evaluate(
                self.model, test, metrics=metrics, generator=generator, levels=levels,
                entropy=entropy, entropy_se=entropy_se, dataset=dataset, labels=labels,
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
        check_no_links(out)
        cfg = read_run_config(out)
    else:
        cfg = resolve_config(config, overrides=overrides, **sections)

    data = load_dataset(cfg.data)
    family = get_family(cfg.model)
    if family.kind == "flow" and data.levels is None:
        _refuse_constant_columns(data.train, cfg)
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
        std = load_standardize(out, read_data_info(out).event_shape)
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
        # a fresh run that fails leaves nothing behind, unless it wrote a checkpoint (a stopped
        # or interrupted run is kept, to be inspected or resumed)
        if created and out is not None and not resume and not _has_checkpoint(store):
            shutil.rmtree(out, ignore_errors=True)
        raise
    if store is not None:
        model = _load_weights(store, model)
    elif trainer.ema is not None:  # no checkpoint holds the average: take it from memory
        model.load_state_dict(trainer.ema.state_dict())
    model.eval()
    return Run(cfg, in_data_units(model, std), std, Path(out) if out else None, result)


def _refuse_constant_columns(x: Any, cfg: RunConfig, chunk: int = 1 << 16) -> None:
    """Refuses continuous training data with a coordinate of zero spread for a flow.

    A flow fits a density by maximum likelihood; on a constant coordinate the density is a
    point mass and the likelihood is unbounded (the flow's scale there shrinks without end:
    RealNVP on moons plus a constant column reached a loss of 3e16 in 200 steps). GANs,
    diffusion and VAEs (bounded objectives) train on such data as it is.
    """
    n = len(x)
    if n < 2:
        return
    lo = hi = None
    for start in range(0, n, chunk):
        part = x[start:start + chunk]
        t = (part if isinstance(part, Tensor) else torch.as_tensor(part)).reshape(len(part), -1)
        pmin, pmax = t.min(0).values, t.max(0).values
        lo = pmin if lo is None else torch.minimum(lo, pmin)
        hi = pmax if hi is None else torch.maximum(hi, pmax)
    assert lo is not None and hi is not None
    flat = torch.nonzero(hi == lo).flatten()
    if len(flat):
        j = int(flat[0])
        more = f" (and {len(flat) - 1} more)" if len(flat) > 1 else ""
        raise InputError(
            f"data {cfg.data.name}: column {j}{more} is constant ({float(lo[j]):g}) in the "
            f"training split; the likelihood of flow {cfg.model!r} is unbounded there: drop "
            f"the column, or train a GAN, diffusion or VAE model"
        )


def _has_checkpoint(store: Any) -> bool:
    try:
        return store is not None and store.has_checkpoint("last")
    except Exception:  # an unreadable store counts as none
        return False


MAX_POINT_SIZE = 2**26
"""The most coordinates per point a run may record (a 4096 x 4096 RGB image is ~2**25.6)."""

MAX_LEVELS = 2**16
"""The most discrete levels per coordinate a run may record (16-bit data)."""


def read_json(path: Path, what: str) -> Any:
    """A JSON file of a run; anything unreadable is an :class:`InputError` naming it."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: missing (not a complete run directory: no {what})") from None
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not UTF-8 text (byte {e.start}); not a {what}") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: invalid JSON at line {e.lineno}, col {e.colno}") from None
    except (OSError, RecursionError, ValueError) as e:
        raise InputError(f"{path}: unreadable {what} ({type(e).__name__})") from None


def check_no_links(out: Path) -> None:
    """Refuses a run directory that holds a symbolic link (anything read or written through
    it would leave the run)."""
    try:
        for p in sorted(out.rglob("*")):
            if p.is_symlink():
                raise InputError(f"{p}: a symbolic link inside the run directory; refusing "
                                 "it (a run holds only its own files)")
    except OSError as e:
        raise InputError(f"{out}: unreadable run directory ({e.strerror or e})") from None


def read_run_config(out: Path) -> RunConfig:
    """The validated config of a run; a problem is an :class:`InputError` naming config.json."""
    path = out / "config.json"
    try:
        return resolve_config(read_json(path, "run config"))
    except InputError as e:
        msg = str(e)
        raise InputError(msg if msg.startswith(str(path)) else f"{path}: {msg}") from None


def read_data_info(out: Path) -> Any:
    """The :class:`~genmodels.registry.DataInfo` of a run's ``data.json``, checked: the event
    shape is 1 to 4 positive integers of at most :data:`MAX_POINT_SIZE` coordinates in all
    (a forged ``[1e12]`` never builds a model), levels and classes positive integers."""
    from .registry import DataInfo

    path = out / "data.json"
    record = read_json(path, "data record")
    if not isinstance(record, dict):
        raise InputError(f"{path}: expected a JSON object, got {type(record).__name__}")
    shape = record.get("event_shape")
    ok = (isinstance(shape, list) and 1 <= len(shape) <= 4
          and all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in shape))
    if not ok:
        raise InputError(f"{path}: event_shape {_short(shape)} is not a list of 1 to 4 "
                         "positive integers")
    if math.prod(shape) > MAX_POINT_SIZE:
        raise InputError(f"{path}: event_shape {shape} has {math.prod(shape)} coordinates "
                         f"per point, more than {MAX_POINT_SIZE}")
    for key, least, most in (("levels", 2, MAX_LEVELS), ("n_classes", 1, MAX_LEVELS)):
        v = record.get(key)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool)
                              or not least <= v <= most):
            raise InputError(f"{path}: {key} {_short(v)} is not null or an integer in "
                             f"[{least}, {most}]")
    return DataInfo(tuple(shape), record.get("levels"), record.get("n_classes"))


def _short(value: Any, limit: int = 40) -> str:
    text = " ".join(repr(value).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _check_metadata(store: Any, which: str, cfg: RunConfig, info: Any) -> None:
    """Refuses a checkpoint whose metadata names another family or event shape."""
    d = store.checkpoint_dir(which)
    path = d / "model.safetensors"
    _, meta = store.load_model_weights(which=which, ema=False)
    family = meta.get("family")
    if family is not None and family != cfg.model:
        raise InputError(f"{path}: a {family!r} checkpoint, but config.json says model "
                         f"{cfg.model!r}")
    shape = meta.get("event_shape")
    if shape is not None:
        try:
            recorded = json.loads(shape)
        except (json.JSONDecodeError, RecursionError):
            recorded = shape
        if recorded != list(info.event_shape):
            raise InputError(f"{path}: a checkpoint for points of shape {_short(recorded)}, "
                             f"but data.json says {list(info.event_shape)}")


def _check_same_data(out: Path, cfg: RunConfig, data: Dataset) -> None:
    record = read_json(out / "data.json", "data record")
    if not isinstance(record, dict):
        raise InputError(f"{out / 'data.json'}: expected a JSON object")
    path = Path(cfg.data.name)
    if "sha256" in record and path.is_file() and file_sha256(path) != record["sha256"]:
        raise InputError(f"{path}: the data file changed since the run started (SHA-256)")
    if list(data.event_shape) != record["event_shape"]:
        raise InputError(f"{out}: the data's shape changed since the run started")


def _model_overrides(overrides: list[str] | tuple[str, ...]) -> list[str]:
    """``model.``-prefixed overrides (a bare key means the model's); refuses others."""
    out = []
    for item in overrides:
        key = item.partition("=")[0].strip()
        if "." in key and not key.startswith("model."):
            raise InputError(f"--set {key}: only model.* settings change at sampling time")
        out.append(item if "." in key else f"model.{item.strip()}")
    return out


def _load_weights(store: Any, model: GenerativeModel, which: str = "best") -> GenerativeModel:
    if which == "best" and not store.has_checkpoint("best"):
        which = "last"
    state, _ = store.load_model_weights(which=which, ema=True)
    model.load_state_dict(with_label_counts(model, state))
    return model


def load(path: str | Path, *, which: str = "best", device: str = "cpu",
         overrides: list[str] | tuple[str, ...] = ()) -> Run:
    """Loads a trained run from its directory, ready to sample, score and evaluate.

    Args:
        path: the run directory.
        which: ``"best"`` (falls back to ``"last"`` when there is no best) or ``"last"``.
        device: where to put the model.
        overrides: ``model.*`` ``--set`` overrides applied before the model is rebuilt
            (sampling knobs such as ``model.guidance=2`` or ``model.nfe=50``; a change of
            architecture no longer fits the checkpoint and is refused).
    """
    from .train import RunStore

    out = Path(path)
    if not out.is_dir():
        raise InputError(f"{out}: no such run directory")
    check_no_links(out)
    cfg = read_run_config(out)
    info = read_data_info(out)
    std = load_standardize(out, info.event_shape)
    if overrides:
        cfg = resolve_config(cfg, overrides=_model_overrides(overrides))
    store = RunStore(out)
    if not store.has_checkpoint("last"):
        raise InputError(f"{out}: the run has no checkpoint yet")
    if which == "best" and not store.has_checkpoint("best"):
        which = "last"
    _check_metadata(store, which, cfg, info)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.train.seed)
        model, _ = get_family(cfg.model).build(cfg.model_config, info)
    try:
        model = _load_weights(store, model, which)
    except (RuntimeError, KeyError, ValueError) as e:
        if isinstance(e, InputError):
            raise
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise InputError(f"{out}: checkpoint does not fit the model ({first})") from None
    model.to(device).eval()
    return Run(cfg, in_data_units(model, std), std, out)
