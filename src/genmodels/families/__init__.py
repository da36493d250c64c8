"""Model families; importing this package registers every built-in family."""

from . import flows

__all__ = ["flows"]
