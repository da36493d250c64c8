"""Model families; importing this package registers every built-in family."""

from . import diffusion, flows, gan

__all__ = ["diffusion", "flows", "gan"]
