"""Start-up cost: wall time of ``import torch``, ``import genmodels``, ``genmodels --help`` and
``genmodels list`` as fresh interpreters, run in turns, median of 7, in the same process.

``import genmodels``, ``--help`` and ``list`` must not import torch (``list`` answers from
``genmodels/catalogue.json``); the ratio column is ``import torch`` time / the row's time.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import interleaved, write_table  # noqa: E402

COMMANDS = {
    "python -c pass": ["-c", "pass"],
    "import torch": ["-c", "import torch"],
    "import genmodels": ["-c", "import genmodels"],
    "genmodels --help": ["-m", "genmodels", "--help"],
    "genmodels list": ["-m", "genmodels", "list"],
    "genmodels train --help": ["-m", "genmodels", "train", "--help"],
}


def _runner(args: list[str]):
    def run() -> None:
        subprocess.run([sys.executable, *args], check=True, stdout=subprocess.DEVNULL)
    return run


def main() -> None:
    times = interleaved({k: _runner(v) for k, v in COMMANDS.items()}, repeats=7)
    torch_s = times["import torch"]
    rows = [[k, f"{t:.3f}", f"{torch_s / t:.1f}×"] for k, t in times.items()]
    write_table("import", "Start-up wall time (fresh interpreter, median of 7)",
                ["command", "seconds", "import torch / this"], rows,
                notes="Includes the interpreter's own start-up (first row).")


if __name__ == "__main__":
    main()
