"""Shared set-up of the hostile-input (fuzz) tests: hypothesis settings and the one property.

The property every fuzz test checks: a loader given hostile input either succeeds or raises
the library's :class:`~genmodels.errors.InputError` with a one-line message that names the
place (the file or the key); never another exception type, never code run from a pickle
(the :class:`Marker` file never appears) and never a partial output file.

``settings`` are derandomized (the same examples on every run, so CI is deterministic) and
small by default (:data:`EXAMPLES` = 60 per property, the whole default run well under a
minute on one core). ``GENMODELS_FUZZ=full`` raises every property to 1,000 examples.
"""

from __future__ import annotations

import builtins
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings

from genmodels.errors import InputError

FULL = os.environ.get("GENMODELS_FUZZ", "").strip().lower() == "full"
EXAMPLES = 1000 if FULL else 60
"""Examples per property: 60 by default, 1,000 under ``GENMODELS_FUZZ=full``."""

FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    print_blob=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture],
)
"""The hypothesis settings of every fuzz property."""


def few(n: int) -> settings:
    """Settings for a slow property (one that trains or starts a process): ``n`` examples by
    default, ten times as many (at most :data:`EXAMPLES`) under ``GENMODELS_FUZZ=full``."""
    return settings(FUZZ, max_examples=max(n, EXAMPLES) if FULL else n)


def check_message(e: InputError, *places: str) -> str:
    """Checks that an :class:`InputError`'s message is one non-empty line naming a place.

    Args:
        e: the error.
        places: strings of which at least one must occur in the message (a file path, a
            file name, a key); none: only the one-line shape is checked.
    """
    msg = str(e)
    assert msg.strip(), f"empty message from {type(e).__name__}"
    assert "\n" not in msg and "\r" not in msg, f"multi-line message: {msg!r}"
    assert len(msg) < 2000, f"message of {len(msg)} characters"
    if places:
        assert any(p in msg for p in places), f"message names none of {places}: {msg!r}"
    return msg


def outcome(fn: Callable[..., Any], *args: Any, places: tuple[str, ...] = (),
            **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``: its result, or the checked :class:`InputError` it raised.

    Any other exception propagates, and so fails the property that calls this.
    """
    try:
        return fn(*args, **kwargs)
    except InputError as e:
        check_message(e, *places)
        return e


class Marker:
    """An object whose unpickling creates the file ``path`` (the proof that code ran)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (builtins.open, (self.path, "a"))


def marker_pickle(path: str | Path, protocol: int = 2) -> bytes:
    """Pickle bytes that create ``path`` when unpickled (inside a dict, like a state)."""
    return pickle.dumps({"weights": Marker(path), "step": 1}, protocol=protocol)


def files_under(root: Path) -> set[str]:
    """Every path under ``root`` (files, links and directories), relative, as strings."""
    return {str(p.relative_to(root)) for p in root.rglob("*")}
