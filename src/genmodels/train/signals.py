"""Graceful stops: SIGINT (Ctrl-C) and SIGTERM during training become a request to stop.

While :class:`StopRequest` is active, the first SIGINT or SIGTERM only records the signal; the
trainer finishes the step it is in, writes the ``last`` checkpoint and raises
:class:`~genmodels.errors.TrainingInterrupted` (the CLI exits with ``128 + signum``: 130 for
SIGINT, 143 for SIGTERM). A second SIGINT while that happens raises :class:`KeyboardInterrupt`
at once, as Python does by default (the atomic checkpoint writes make that safe too). Outside
the main thread signal handlers cannot be installed, and nothing changes.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any

__all__ = ["STOP_SIGNALS", "StopRequest"]

#: The signals that stop training gracefully.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """A context manager that records the first stop signal instead of dying of it.

    Attributes:
        signum: the signal received, or ``None``.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self._old: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now
        self.signum = signum

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for s in STOP_SIGNALS:
                try:
                    self._old[s] = signal.signal(s, self._handle)
                except (ValueError, OSError):  # e.g. an embedded interpreter
                    pass
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for s, old in self._old.items():
            signal.signal(s, old if old is not None else signal.SIG_DFL)
        self._old.clear()
