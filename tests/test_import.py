"""`import genmodels` is fast and pulls in no heavy optional library."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("matplotlib", "sklearn", "ot", "torchdiffeq", "pandas", "scipy", "tensorboard", "mlflow")

SCRIPT = f"""
import json, sys, time
t = time.perf_counter()
import genmodels
genmodels.registry.load_all()
dt = time.perf_counter() - t
print(json.dumps({{"seconds": dt, "heavy": [m for m in {HEAVY!r} if m in sys.modules]}}))
"""


def test_import_is_light_and_fast() -> None:
    runs = []
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                             check=True)
        runs.append(json.loads(out.stdout))
    assert runs[0]["heavy"] == [], f"import genmodels imported {runs[0]['heavy']}"
    best = min(r["seconds"] for r in runs)
    assert best < 1.5, f"import genmodels (with every registration) took {best:.2f} s"
