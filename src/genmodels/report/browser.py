"""Loading a report in a real browser: headless Chromium, no network, no new dependencies.

:func:`check_report` copies ``report.html`` beside itself with a small script appended that,
once the page has loaded, writes what it sees into the DOM as JSON (every ``<img>`` with its
``naturalWidth``, every results table with its model rows); Chromium's ``--dump-dom`` prints
the DOM after the page's virtual time budget has run out, and the JSON is read back. A
second run takes a screenshot. The report itself stays free of scripts.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

#: Where Debian's ``chromium`` package puts the browser.
CHROMIUM = "/usr/bin/chromium"

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--mute-audio")

_PROBE = """<script>
window.addEventListener("load", function () {
  var imgs = Array.prototype.map.call(document.images, function (i) {
    return {alt: i.alt, naturalWidth: i.naturalWidth, naturalHeight: i.naturalHeight,
            complete: i.complete, src: i.src.slice(0, 22)};
  });
  var tables = Array.prototype.map.call(document.querySelectorAll("table.results"),
    function (t) {
      return {id: t.id, models: Array.prototype.map.call(t.querySelectorAll("tbody tr"),
        function (r) { return r.getAttribute("data-model"); })};
    });
  var out = document.createElement("pre");
  out.id = "genmodels-probe";
  out.textContent = "PROBE" + JSON.stringify({images: imgs, tables: tables,
    title: document.title, scripts: document.scripts.length - 1}) + "PROBE";
  document.body.appendChild(out);
});
</script>"""


def find_chromium() -> str | None:
    """The Chromium binary: ``$CHROMIUM``, ``/usr/bin/chromium`` or one on ``PATH``."""
    for cand in (os.environ.get("CHROMIUM"), CHROMIUM, shutil.which("chromium"),
                 shutil.which("chromium-browser")):
        if cand and Path(cand).is_file() and os.access(cand, os.X_OK):
            return cand
    return None


def _chromium(binary: str, args: list[str], timeout: float) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="genmodels-chromium-") as profile:
        cmd = [binary, *FLAGS, f"--user-data-dir={profile}", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "HOME": profile})


def check_report(report: Path, screenshot: Path | None = None, *, width: int = 1400,
                 height: int = 2400, timeout: float = 90.0) -> dict[str, Any]:
    """Loads ``report`` (as a ``file://`` URL) in headless Chromium; returns what it saw.

    Returns:
        ``{"images": [{"alt", "naturalWidth", ...}], "tables": [{"id", "models"}],
        "title": str}``; writes a PNG screenshot to ``screenshot`` when given.

    Raises:
        FileNotFoundError: no Chromium binary.
        RuntimeError: Chromium ran but printed no probe result.
    """
    binary = find_chromium()
    if binary is None:
        raise FileNotFoundError("chromium not found (Debian: apt-get install chromium)")
    report = Path(report).resolve()
    text = report.read_text(encoding="utf-8")
    probe = report.with_name(f".probe-{report.name}")
    probe.write_text(text.replace("</body>", _PROBE + "\n</body>"), encoding="utf-8")
    try:
        p = _chromium(binary, ["--virtual-time-budget=10000", "--dump-dom",
                               probe.as_uri()], timeout)
    finally:
        probe.unlink(missing_ok=True)
    m = re.search(r"PROBE(\{.*?\})PROBE", p.stdout, re.S)
    if not m:
        raise RuntimeError(f"chromium printed no probe (rc {p.returncode}): {p.stderr[-800:]}")
    result = json.loads(m.group(1))
    if screenshot is not None:
        screenshot = Path(screenshot).resolve()
        _chromium(binary, [f"--screenshot={screenshot}", f"--window-size={width},{height}",
                           "--virtual-time-budget=5000", report.as_uri()], timeout)
        result["screenshot"] = str(screenshot) if screenshot.is_file() else None
    return result
