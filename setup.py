"""Builds the one optional C extension, ``genmodels.paths._auction`` (the exact OT
coupling's assignment solver). Everything else is in ``pyproject.toml``. ``optional=True``:
without a C compiler the install still succeeds and the coupling falls back to POT's
``ot.emd`` (see ``genmodels/paths/couplings.py``)."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("genmodels.paths._auction", ["src/genmodels/paths/_auction.c"],
                             extra_compile_args=["-O3"], optional=True)])
