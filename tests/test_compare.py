"""`genmodels compare` end to end: five models drawn from every registered family kind on
checkerboard at 200 steps each, the results files consistent with each other and the report,
the wall-clock budget, and the demo."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import pytest

from genmodels.cli import main
from genmodels.registry import FAMILIES, load_all
from genmodels.report.columns import best_values, metric_columns
from genmodels.report.compare import small_overrides
from genmodels.report.demo import _fits, demo_models

STEPS = 200
_CACHE: dict[str, Any] = {}


def pick_models(k: int = 5, data: str = "checkerboard") -> list[str]:
    """``k`` families that build on ``data``, round-robin over the registered kinds."""
    load_all()
    by_kind: dict[str, list[str]] = {}
    for name, fam in FAMILIES.items():
        if _fits(name, data) is None:
            by_kind.setdefault(fam.kind, []).append(name)
    picked: list[str] = []
    while len(picked) < k and any(by_kind.values()):
        for names in by_kind.values():
            if names and len(picked) < k:
                picked.append(names.pop(0))
    return picked


def shared_comparison(base: Path) -> dict[str, Any]:
    """Runs the comparison once per session (the other test files reuse it)."""
    if "out" not in _CACHE:
        models = pick_models()
        out = base / "cmp"
        args = ["compare", "--data", "checkerboard", "--models", ",".join(models),
                "--steps", str(STEPS), "--out", str(out), "--no-progress",
                "--set", "train.batch_size=64", "data.n_test=400", "data.n_val=200",
                "data.n_train=3000"]
        for m in models:
            args += ["--set", *(f"{m}:{o}" for o in small_overrides(m))]
        assert main(args) == 0
        _CACHE.update(out=out, models=models)
    return _CACHE


@pytest.fixture(scope="module")
def comparison(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return shared_comparison(tmp_path_factory.getbasetemp())


def test_every_kind_is_compared(comparison: dict[str, Any]) -> None:
    kinds = {FAMILIES[m].kind for m in comparison["models"]}
    registered = {f.kind for f in FAMILIES.values()}
    assert kinds == registered or len(comparison["models"]) == 5, (kinds, registered)
    assert len(comparison["models"]) == min(5, len(FAMILIES))


def test_results_json_and_csv_agree(comparison: dict[str, Any]) -> None:
    out, models = comparison["out"], comparison["models"]
    doc = json.loads((out / "results.json").read_text())
    rows = doc["rows"]
    assert [r["model"] for r in rows] == models
    assert [s["model"] for s in doc["summary"]] == models
    with open(out / "results.csv") as f:
        table = list(csv.DictReader(f))
    assert [r["model"] for r in table] == models
    for r, c in zip(rows, table):
        assert r["steps"] == STEPS and int(c["steps"]) == STEPS
        assert r["kind"] == FAMILIES[r["model"]].kind
        for k in ("w2", "w2_floor", "mmd2", "energy"):
            assert math.isfinite(r[k]) and math.isclose(float(c[k]), r[k], rel_tol=1e-9), k
        assert 0 < r["w2_floor"] < r["w2"] + 1.0
        # the run directory is an ordinary run whose evaluation.json is the row's metrics
        ev = json.loads((out / "runs" / f"{r['model']}-seed0" / "evaluation.json").read_text())
        assert ev["w2"] == r["w2"]


def test_report_has_a_row_per_model_and_marks_the_best(comparison: dict[str, Any]) -> None:
    out, models = comparison["out"], comparison["models"]
    page = (out / "report.html").read_text()
    for m in models:
        assert f'<tr data-model="{m}">' in page
    assert "src=\"http" not in page and "<link" not in page and "<script" not in page
    rows = json.loads((out / "results.json").read_text())["rows"]
    best = best_values(rows, metric_columns(rows))
    winner = min(rows, key=lambda r: r["w2"])
    assert best["w2"] == winner["w2"]
    row_html = page.split(f'<tr data-model="{winner["model"]}">')[1].split("</tr>")[0]
    assert f'<td class="best">{winner["w2"]:.4g}' in row_html
    for name in ("samples", "curves", "metrics"):
        for ext in ("png", "svg"):
            assert (out / "figures" / f"{name}.{ext}").stat().st_size > 1000, (name, ext)


def test_budget_stops_by_wall_clock(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "b"
    assert main(["compare", "--data", "moons", "--models", "nice", "--budget", "2s", "--out",
                 str(out), "--no-progress", "--set", "data.n_test=400", "layers=2",
                 "hidden=[16]"]) == 0
    row = json.loads((out / "results.json").read_text())["rows"][0]
    assert row["steps"] > 15 and row["train_s"] < 2.0 + 1.5, row
    assert "nice" in capsys.readouterr().out


def test_bad_inputs_exit_2(tmp_path: Path) -> None:
    base = ["compare", "--data", "moons", "--out", str(tmp_path / "x"), "--steps", "1"]
    assert main([*base, "--models", "nope"]) == 2
    assert main([*base, "--models", "nice,nice"]) == 2
    assert main([*base, "--models", "nice", "--set", "maf:layers=2"]) == 2
    assert main(["compare", "--data", "moons", "--models", "nice", "--steps", "5",
                 "--budget", "1m", "--out", str(tmp_path / "y")]) == 2


def test_demo_picks_one_per_kind_and_writes_one_report(tmp_path: Path) -> None:
    from genmodels.report.demo import demo

    models = demo_models()
    assert sorted(FAMILIES[m].kind for m in models) == sorted({f.kind for f in
                                                               FAMILIES.values()})
    if "realnvp" in FAMILIES:
        assert "realnvp" in models
    path = demo(out=tmp_path / "demo", steps=30, data=("checkerboard",), models=["nice"])
    page = path.read_text()
    assert '<tr data-model="nice">' in page and "every family" in page
    assert (tmp_path / "demo" / "checkerboard" / "results.json").is_file()


def test_seeds_are_rows_and_the_report_shows_their_mean(tmp_path: Path) -> None:
    out = tmp_path / "s"
    assert main(["compare", "--data", "moons", "--models", "nice", "--steps", "20", "--seeds",
                 "2", "--out", str(out), "--no-progress", "--set", "data.n_test=200",
                 "layers=2", "hidden=[16]"]) == 0
    doc = json.loads((out / "results.json").read_text())
    assert [(r["model"], r["seed"]) for r in doc["rows"]] == [("nice", 0), ("nice", 1)]
    assert doc["rows"][0]["w2"] != doc["rows"][1]["w2"]  # two seeds, two models
    (summary,) = doc["summary"]
    assert summary["seeds"] == 2
    assert math.isclose(summary["w2"], (doc["rows"][0]["w2"] + doc["rows"][1]["w2"]) / 2)
    page = (out / "report.html").read_text()
    assert page.count('<tr data-model="nice">') == 1 and "<th>seeds</th>" in page
