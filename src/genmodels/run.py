"""The high-level API: train a run, load it back, sample, score and evaluate in data units.

A *run* is a directory::

    runs/<name>/
      config.json              the resolved config (model, data, train)
      data.json                where the data came from (name or file and its SHA-256), shape
      standardize.safetensors  the training split's mean and std (identity when not used)
      metrics.jsonl            training curves
      checkpoints/             last and best checkpoints (safetensors + plain-tensor state)
      evaluation.json          the last `evaluate`

Training (:func:`~genmodels.fitting.fit`) lives in :mod:`genmodels.fitting`, reading a run
directory back (:func:`~genmodels.rundir.load`) in :mod:`genmodels.rundir`; both return the
:class:`Run` defined here (``genmodels.fit`` / ``genmodels.load``, and ``genmodels.run.fit`` /
``genmodels.run.load`` as before). The CLI is a thin layer over these modules.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .config import RunConfig, apply_overrides, load_toml
from .core import DensityModel, GenerativeModel, IterativeModel, LabelConditional, VariationalBound
from .data.base import Dataset, Standardize
from .errors import InputError
from .train.checkpoint import write_json
from .units import DataUnits, in_data_units

__all__ = ["DataUnits", "Run", "check_points", "in_data_units", "resolve_config"]


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


def __getattr__(name: str) -> Any:
    """``genmodels.run.fit`` and ``genmodels.run.load``, which live in their own modules."""
    if name == "fit":
        from .fitting import fit

        return fit
    if name == "load":
        from .rundir import load

        return load
    raise AttributeError(f"module 'genmodels.run' has no attribute {name!r}")
