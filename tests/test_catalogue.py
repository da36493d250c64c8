"""``genmodels list`` and ``--help`` answer without importing torch, from a catalogue that
matches the live registries."""

from __future__ import annotations

import json
import subprocess
import sys

from genmodels import catalogue


def test_catalogue_file_matches_the_registries():
    stored = json.loads(catalogue.PATH.read_text(encoding="utf-8"))
    assert stored == catalogue.build(), (
        "src/genmodels/catalogue.json is stale: run `python -m genmodels.catalogue`")


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys, json\n"
                          "print(json.dumps(sorted(sys.modules)))"],
                         capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_import_help_and_list_do_not_import_torch():
    assert "torch" not in _modules_after("import genmodels")
    for argv in (["--help"], ["list"], ["list", "--json"], ["train", "--help"]):
        code = ("import contextlib, io\nfrom genmodels.cli import main\n"
                f"with contextlib.redirect_stdout(io.StringIO()):\n"
                f"    try:\n        main({argv!r})\n    except SystemExit:\n        pass")
        assert "torch" not in _modules_after(code), argv


def test_list_json_names_every_registered_family():
    out = subprocess.run([sys.executable, "-m", "genmodels", "list", "--json"],
                         capture_output=True, text=True, check=True)
    names = {f["name"] for f in json.loads(out.stdout)["families"]}
    assert {"realnvp", "vp-sde", "wgan-gp", "vae"} <= names
