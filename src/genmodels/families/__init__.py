"""Model families; importing this package registers every built-in family."""

from . import diffusion, flows, gan, vae

from . import cnf  # isort: skip  (after the discrete flows: compare/demo pick the first flow)

__all__ = ["cnf", "diffusion", "flows", "gan", "vae"]
