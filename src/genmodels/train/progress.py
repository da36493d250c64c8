"""A one-line progress bar on stderr (no dependencies), drawn only for a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["ProgressBar", "format_seconds"]


def format_seconds(s: float) -> str:
    """``75`` → ``1:15``; ``3725`` → ``1:02:05``."""
    s = max(0, int(s))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


class ProgressBar:
    """``step 120/2000 [##......] loss 1.234  85.1 it/s  ETA 0:22`` redrawn with ``\\r``.

    Args:
        total: the number of steps.
        enabled: ``None``: draw only when ``stream`` is a terminal; ``True``/``False`` force.
        stream: where to draw (default: ``sys.stderr``).
        min_interval: the least time between redraws in seconds.
    """

    def __init__(
        self, total: int, *, enabled: bool | None = None, stream: TextIO | None = None,
        min_interval: float = 0.1,
    ) -> None:
        self.stream = sys.stderr if stream is None else stream
        if enabled is None:
            isatty = getattr(self.stream, "isatty", None)
            enabled = bool(isatty and isatty())
        self.enabled = enabled
        self.total = total
        self.min_interval = min_interval
        self.start = time.perf_counter()
        self.start_step = 0
        self.last_draw = 0.0
        self.width = 0

    def reset(self, step: int) -> None:
        """Starts timing at ``step`` (the step a resumed run starts from)."""
        self.start = time.perf_counter()
        self.start_step = step

    def due(self) -> bool:
        """Whether a redraw is due (cheap: one clock read)."""
        return self.enabled and time.perf_counter() - self.last_draw >= self.min_interval

    def update(self, step: int, loss: float | None = None, *, force: bool = False) -> None:
        """Redraws the line for ``step`` if enough time has passed (or ``force``)."""
        if not self.enabled:
            return
        now = time.perf_counter()
        if not force and now - self.last_draw < self.min_interval:
            return
        self.last_draw = now
        elapsed = max(now - self.start, 1e-9)
        rate = (step - self.start_step) / elapsed
        eta = (self.total - step) / rate if rate > 0 else 0.0
        frac = step / self.total if self.total else 1.0
        bar = "#" * int(20 * frac)
        text = f"step {step}/{self.total} [{bar:<20}]"
        if loss is not None:
            text += f" loss {loss:.4g}"
        text += f"  {rate:.1f} it/s  ETA {format_seconds(eta)}"
        pad = " " * max(0, self.width - len(text))
        self.width = len(text)
        self.stream.write("\r" + text + pad)
        self.stream.flush()

    def close(self) -> None:
        """Ends the line."""
        if self.enabled and self.last_draw:
            self.stream.write("\n")
            self.stream.flush()
