"""The names, kinds and one-line descriptions of what is registered, without importing torch.

``genmodels list`` answers from ``catalogue.json``, a file derived from the live registries
(:mod:`genmodels.registry`), so it does not pay for ``import torch`` and every family module.
``tests/test_catalogue.py`` fails when the file and the registries differ; regenerate it with::

    python -m genmodels.catalogue
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["PATH", "build", "read", "write"]

PATH = Path(__file__).with_name("catalogue.json")


def build() -> dict[str, list[dict[str, str]]]:
    """The catalogue of the live registries (imports every family, data set and metric)."""
    from .registry import DATASETS, FAMILIES, METRICS, load_all

    load_all()
    return {
        "families": [
            {"name": f.name, "kind": f.kind, "description": f.description}
            for f in sorted(FAMILIES.values(), key=lambda f: (f.kind, f.name))
        ],
        "datasets": [{"name": d.name, "description": d.description} for d in DATASETS.values()],
        "metrics": [{"name": m.name, "description": m.description} for m in METRICS.values()],
    }


def read() -> dict[str, Any]:
    """The stored catalogue; the live one when the file is missing or unreadable."""
    try:
        return json.loads(PATH.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return build()


def write(path: Path = PATH) -> Path:
    """Writes the live catalogue to ``path`` (sorted, indented JSON) and returns the path."""
    path.write_text(json.dumps(build(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


if __name__ == "__main__":
    print(write())
