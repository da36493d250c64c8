"""Model families; importing this package registers every built-in family."""

from . import cnf, diffusion, flows, gan, vae

__all__ = ["cnf", "diffusion", "flows", "gan", "vae"]
