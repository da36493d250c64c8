"""The ``genmodels`` command line: a thin layer over :mod:`genmodels.run`.

Exit codes: 0 success, 2 bad input or a failed write (one line on stderr naming the problem
and its place, nothing half-written, the last good checkpoint kept), 1 internal error or a
training stopped by a non-finite loss, 130 after SIGINT (Ctrl-C) and 143 after SIGTERM (a
training run saves its ``last`` checkpoint first; continue it with ``--resume``).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import traceback
from types import FrameType

from ..errors import InputError, NonFiniteLossError, StorageError, TrainingInterrupted
from .parser import build_parser

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Runs the CLI; returns the exit code."""
    parser = build_parser()
    old = _terminate_as_exception()
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "handler", None):
            parser.print_help(sys.stderr)
            return 2
        return int(args.handler(args) or 0)
    except (InputError, StorageError) as e:
        print(f"genmodels: error: {_one_line(str(e))}", file=sys.stderr)
        return 2
    except TrainingInterrupted as e:
        resume = ""
        if e.checkpoint is not None:
            run = os.path.dirname(os.path.dirname(os.fspath(e.checkpoint)))
            resume = f" (continue with: genmodels train --resume {run})"
        print(f"genmodels: {_one_line(str(e))}{resume}", file=sys.stderr)
        return e.exit_code
    except NonFiniteLossError as e:
        print(f"genmodels: error: {_one_line(str(e))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("genmodels: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:  # an internal error: say what, and where to look
        if os.environ.get("GENMODELS_DEBUG"):
            traceback.print_exc()
        else:
            tb = traceback.extract_tb(e.__traceback__)[-1]
            where = f"{os.path.basename(tb.filename)}:{tb.lineno}"
            print(
                f"genmodels: internal error: {type(e).__name__}: {_one_line(str(e))} "
                f"(at {where}; set GENMODELS_DEBUG=1 for the traceback)",
                file=sys.stderr,
            )
        return 1
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise TrainingInterrupted(signum)


def _terminate_as_exception() -> object | None:
    """SIGTERM raises :class:`TrainingInterrupted` (exit 143 after clean-up) instead of
    killing the process; the trainer refines this into a checkpoint and a clean stop.
    Returns the previous handler (``None`` where none could be installed)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        return signal.signal(signal.SIGTERM, _raise_terminated)
    except (ValueError, OSError):
        return None


def _one_line(text: str) -> str:
    return " ".join(text.split())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
