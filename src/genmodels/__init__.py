"""genmodels: deep generative models under one API and one CLI.

Families (normalizing flows, VAEs, GANs, score-based diffusion, flow matching) are trained,
sampled, scored and compared the same way::

    import genmodels as gm

    run = gm.fit({"model": {"name": "realnvp"}, "data": {"name": "moons"},
                    "train": {"steps": 500}}, out="runs/moons")
    x = run.model.sample(1000)
    print(run.model.log_prob(x[:5]))

Heavy optional dependencies are imported only where they are used.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

from .config import DataConfig, RunConfig, TrainConfig
from .errors import InputError

# torch is imported on first use of these (or of any submodule that needs it), not by
# ``import genmodels``: ``genmodels --help`` and ``genmodels list`` stay fast.
_CORE_API = {"Batch", "DensityModel", "GenerativeModel", "LatentVariableModel", "LossOutput",
             "Objective"}

_SUBMODULES = {
    "bijections", "cli", "core", "data", "distributions", "divergences", "families", "metrics",
    "nn", "registry", "report", "testing", "train", "units",
}
_RUN_API = {"fit", "load", "Run"}

__all__ = [
    "Batch", "DataConfig", "DensityModel", "GenerativeModel", "InputError", "LatentVariableModel",
    "LossOutput", "Objective", "Run", "RunConfig", "TrainConfig", "__version__", "fit", "load",
]


def __getattr__(name: str) -> Any:
    if name in _CORE_API:
        return getattr(importlib.import_module(".core", __name__), name)
    if name in _RUN_API:
        module = {"fit": ".fitting", "load": ".rundir", "Run": ".run"}[name]
        return getattr(importlib.import_module(module, __name__), name)
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'genmodels' has no attribute {name!r}")
