"""The ``genmodels`` command line: a thin layer over :mod:`genmodels.run`.

Exit codes: 0 success, 2 bad input (one line on stderr naming the problem and its place,
nothing half-written), 1 internal error.
"""

from __future__ import annotations

import os
import sys
import traceback

from ..errors import InputError, NonFiniteLossError
from .parser import build_parser

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Runs the CLI; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "handler", None):
            parser.print_help(sys.stderr)
            return 2
        return int(args.handler(args) or 0)
    except InputError as e:
        print(f"genmodels: error: {_one_line(str(e))}", file=sys.stderr)
        return 2
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


def _one_line(text: str) -> str:
    return " ".join(text.split())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
