"""The comparison report in a real browser: headless Chromium (Debian's ``chromium``, which
``make test`` installs when missing) loads ``report.html`` from ``file://`` with the network
off; every image must have decoded and the results table must have a row per model."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest

from genmodels.report.browser import check_report, find_chromium
from test_compare import shared_comparison


@pytest.fixture(scope="module")
def comparison(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return shared_comparison(tmp_path_factory.getbasetemp())


def test_report_renders_in_chromium(comparison: dict[str, Any], tmp_path: Path) -> None:
    assert find_chromium(), "chromium is missing: `make test` installs it (apt-get install " \
        "chromium)"
    shot = tmp_path / "report.png"
    seen = check_report(comparison["out"] / "report.html", shot)
    images = seen["images"]
    assert len(images) >= 3, images  # samples, curves, metrics at least
    for img in images:
        assert img["complete"] and img["naturalWidth"] > 0 and img["naturalHeight"] > 0, img
        assert img["src"].startswith("data:image/png;base64"), img
    assert seen["tables"][0]["id"] == "results"
    assert seen["tables"][0]["models"] == comparison["models"]
    assert seen["title"].startswith("genmodels compare")
    # the screenshot is a real PNG of the window size
    head = shot.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", head[16:24])
    assert (width, height) == (1400, 2400)
    keep = Path(comparison["out"]) / "screenshot.png"
    keep.write_bytes(shot.read_bytes())


def test_broken_image_is_caught(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text('<!DOCTYPE html><html><head><title>t</title></head><body>'
                    '<img alt="bad" src="data:image/png;base64,AAAA">'
                    '<table class="results" id="results"><tbody><tr data-model="m"></tr>'
                    '</tbody></table></body></html>')
    seen = check_report(page)
    assert seen["images"][0]["naturalWidth"] == 0
    assert seen["tables"][0]["models"] == ["m"]
