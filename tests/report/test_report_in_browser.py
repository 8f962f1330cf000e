"""report.html opened in a real browser (headless Chromium): every table and case renders and
every embedded image decodes, with no network.

Chromium comes from the system's packages (`.ci/run` installs Debian's `chromium`). On a
machine without it the test is skipped, except in CI (`CI` set), where a missing browser fails.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess

import pytest

from clara_cli.report.figures import plot_case_dice
from clara_cli.report.html_report import ReportInputs, write_html_report
from clara_cli.report.tables import summarize

_BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

# Appended to a copy of the page (the report itself has no script): writes what the browser
# made of the page into the DOM that --dump-dom prints.
_PROBE = """
<script>
const images = Array.from(document.images);
document.body.setAttribute("data-images",
  images.map(i => i.complete ? i.naturalWidth + "x" + i.naturalHeight : "pending").join(","));
document.body.setAttribute("data-rows", document.querySelectorAll("tr").length);
document.body.setAttribute("data-text", document.body.innerText.length);
</script>
"""


def _browser() -> str:
    for name in _BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI"):
        pytest.fail("no headless browser in CI: .ci/run must install Debian's chromium")
    pytest.skip("no Chromium on this machine (apt-get install chromium)")


def _rows() -> list[dict]:
    rows = []
    for index, dice in enumerate([0.91, 0.42, math.nan, 0.77]):
        rows.append(
            {
                "case": f"case_{index}",
                "dice": {"spleen": 0.0 if math.isnan(dice) else dice},
                "hd95": {"spleen": math.nan if math.isnan(dice) else 3.5},
                "image": f"/data/images/case_{index}.nii.gz",
                "label": f"/data/labels/case_{index}.nii.gz",
                "spacing": [1.5, 1.5, 2.0],
                "volume_ml": {"label": {"spleen": 120.0}, "pred": {"spleen": 118.0}},
            }
        )
    return rows


def test_the_report_renders_and_its_images_decode_in_chromium(tmp_path):
    browser = _browser()
    rows = _rows()
    chart = plot_case_dice(rows, tmp_path / "dice_per_case.png")
    overlay = plot_case_dice(rows[:1], tmp_path / "overlay.png")
    inputs = ReportInputs("tiny", {"model": "/m/model.ts"}, chart, {"case_2": overlay}, None)
    report = write_html_report(rows, summarize(rows), inputs, tmp_path / "report.html")
    probe = tmp_path / "probe.html"
    probe.write_text(
        report.read_text(encoding="utf-8").replace("</body>", _PROBE + "</body>"), encoding="utf-8"
    )

    result = subprocess.run(
        [
            browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000",
            "--dump-dom", probe.as_uri(),
        ],
        capture_output=True, encoding="utf-8", errors="replace", timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    body = dom[dom.index("<body") : dom.index(">", dom.index("<body"))]
    attributes = dict(
        part.split("=", 1) for part in body.replace('"', "").split()[1:] if "=" in part
    )
    images = attributes["data-images"].split(",")
    assert len(images) == 2  # the Dice chart and the overlay
    for size in images:
        width, height = (int(v) for v in size.split("x"))
        assert width > 100 and height > 100, images  # decoded, not a broken-image icon
    assert int(attributes["data-rows"]) >= len(rows) + 2  # summary and per-case tables
    assert int(attributes["data-text"]) > 200
    for row in rows:
        assert row["case"] in dom
