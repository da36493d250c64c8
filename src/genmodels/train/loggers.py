"""Metric loggers: the run store's JSON lines, TensorBoard and MLflow (optional extras)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

__all__ = ["JsonlLogger", "Logger", "MLflowLogger", "TensorBoardLogger"]


@runtime_checkable
class Logger(Protocol):
    """Receives a record of scalars per log step."""

    def log(self, step: int, record: dict[str, Any]) -> None:
        """Logs ``record`` (name → number) at ``step``."""

    def close(self) -> None:
        """Flushes and releases resources."""


def _scalars(record: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in record.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "step"}


class JsonlLogger:
    """Appends records to the run store's ``metrics.jsonl``.

    Args:
        store: a :class:`~genmodels.train.RunStore`.
    """

    def __init__(self, store: Any) -> None:
        self.store = store

    def log(self, step: int, record: dict[str, Any]) -> None:
        """Appends ``{"step": step, **record}``."""
        self.store.append_metrics({"step": step, **record})

    def close(self) -> None:
        """Nothing to release (every record is flushed when written)."""


class TensorBoardLogger:
    """Writes scalars with ``torch.utils.tensorboard.SummaryWriter``.

    Args:
        log_dir: the event-file directory (e.g. ``<run>/tensorboard``).

    Raises:
        ImportError: when the ``tensorboard`` package is missing.
    """

    def __init__(self, log_dir: str | Path) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as e:
            raise ImportError(
                "TensorBoard logging needs the tensorboard package: "
                "pip install 'genmodels[tensorboard]'"
            ) from e
        self.writer = SummaryWriter(log_dir=str(log_dir))

    def log(self, step: int, record: dict[str, Any]) -> None:
        """Adds every numeric value of ``record`` as a scalar."""
        for k, v in _scalars(record).items():
            self.writer.add_scalar(k, v, step)

    def close(self) -> None:
        """Flushes and closes the event file."""
        self.writer.flush()
        self.writer.close()


class MLflowLogger:
    """Logs metrics to MLflow with a local SQLite backend (no server).

    Args:
        tracking_uri: e.g. ``"sqlite:///runs/x/mlflow.db"``.
        experiment: the experiment name.
        run_name: the MLflow run name.
        params: parameters to log once (flattened config values).

    Raises:
        ImportError: when ``mlflow`` is missing.
    """

    def __init__(
        self, tracking_uri: str, experiment: str = "genmodels", run_name: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        try:
            import mlflow
        except ImportError as e:
            raise ImportError(
                "MLflow logging needs mlflow: pip install 'genmodels[mlflow]'"
            ) from e
        self.client = mlflow.tracking.MlflowClient(tracking_uri=tracking_uri)
        exp = self.client.get_experiment_by_name(experiment)
        if exp is not None:
            exp_id = exp.experiment_id
        else:
            exp_id = self.client.create_experiment(experiment)
        self.run_id = self.client.create_run(exp_id, run_name=run_name).info.run_id
        for k, v in (params or {}).items():
            self.client.log_param(self.run_id, k, str(v)[:500])

    def log(self, step: int, record: dict[str, Any]) -> None:
        """Logs every numeric value of ``record`` as a metric at ``step``."""
        for k, v in _scalars(record).items():
            self.client.log_metric(self.run_id, k.replace("/", "_"), v, step=step)

    def close(self) -> None:
        """Ends the MLflow run."""
        self.client.set_terminated(self.run_id)
