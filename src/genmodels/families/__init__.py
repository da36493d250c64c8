"""Model families; importing this package registers every built-in family."""

from . import diffusion, flows, gan, vae

from . import cnf  # isort: skip  (after the discrete flows: compare/demo pick the first flow)
from . import fm  # isort: skip

__all__ = ["cnf", "diffusion", "flows", "fm", "gan", "vae"]
