"""Errors that the CLI turns into exit code 2: bad input named with its place."""

from __future__ import annotations


class InputError(ValueError):
    """Bad input from the user: a file, a name, a config key, a checkpoint.

    The message is one line that names the problem and where it is (file, line, column,
    key). The CLI prints it on stderr and exits with code 2, without a traceback.
    """


class NonFiniteLossError(RuntimeError):
    """Training stopped because the loss was not finite for too many steps in a row."""
