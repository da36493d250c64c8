"""Model families; importing this package registers every built-in family."""

from . import diffusion, flows, gan, vae

__all__ = ["diffusion", "flows", "gan", "vae"]
