"""Errors the CLI turns into exit codes: bad input and storage failures (2), interruptions
(128 + the signal's number), non-finite training (1)."""

from __future__ import annotations

import signal


class InputError(ValueError):
    """Bad input from the user: a file, a name, a config key, a checkpoint.

    The message is one line that names the problem and where it is (file, line, column,
    key). The CLI prints it on stderr and exits with code 2, without a traceback.
    """


class StorageError(OSError):
    """A file could not be written (disk full, read-only or missing directory, quota).

    The message is one line naming the path and the reason; whatever was written before
    (the last good checkpoint above all) is left as it was. The CLI exits with code 2.
    """


class NonFiniteLossError(RuntimeError):
    """Training stopped because the loss, a gradient or a weight was not finite
    (``train.on_nan``, ``train.max_nonfinite``)."""


class TrainingInterrupted(KeyboardInterrupt):
    """Training was stopped by SIGINT (Ctrl-C) or SIGTERM after saving a checkpoint.

    A :class:`KeyboardInterrupt`, so that code catching Ctrl-C keeps working.

    Attributes:
        signum: the signal's number.
        step: the step of the checkpoint written on the way out (``None``: none written,
            e.g. the signal came before training started).
        checkpoint: the checkpoint directory written, or ``None``.
        exit_code: ``128 + signum`` (130 for SIGINT, 143 for SIGTERM), the shell convention.
    """

    def __init__(self, signum: int, step: int | None = None,
                 checkpoint: object | None = None) -> None:
        self.signum = int(signum)
        self.step = step
        self.checkpoint = checkpoint
        name = signal.Signals(self.signum).name
        where = "" if step is None else f" at step {step}"
        saved = "" if checkpoint is None else f"; checkpoint saved in {checkpoint}"
        super().__init__(f"training interrupted by {name}{where}{saved}")

    @property
    def exit_code(self) -> int:
        """``128 + signum``."""
        return 128 + self.signum
