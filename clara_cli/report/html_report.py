"""`eval/report.html`: one self-contained page per validation.

Summary table (Dice mean ± sd and HD95 per class), the per-case table (files, scores,
volumes), the Dice chart, the training curves when the checkpoint folder has them, and the
overlays of the lowest-scoring cases. CSS is inline and every image is a base64 data URI, so
the file can be mailed or archived alone and opens without a network. No templating library
is used: the page is a few tables, and `html.escape` on every value is all it needs.
"""

from __future__ import annotations

import base64
import html
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from clara_cli.io.atomic import atomic_write_text
from clara_cli.report.tables import METRICS, VOLUMES, Row

#: Overlays shown in the page: the cases with the lowest mean Dice first.
MAX_OVERLAYS = 6

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:2em;
color:#1d1d1f;max-width:1400px}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;margin-top:1.8em;
border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:right;white-space:nowrap}
th{background:#f3f3f3}td.t,th.t{text-align:left}
tr.low td{background:#fff3f3}
.about{color:#555;font-size:.85em}.about td{border:none;text-align:left;padding:.1em .8em .1em 0}
figure{display:inline-block;margin:.5em 1em .5em 0;vertical-align:top}
figcaption{font-size:.8em;color:#555;max-width:640px}
img{max-width:100%;border:1px solid #eee}
.scroll{overflow-x:auto}
"""


@dataclass
class ReportInputs:
    """What the page shows besides the scores.

    Attributes:
        title: the page title (the MMAR's name).
        about: label -> value lines under the title (MMAR, config, model file, ...).
        dice_chart: the per-case Dice PNG.
        overlays: case -> its overlay PNG.
        curves: the training curves PNG, when found.
        curves_source: where they came from (train_curves.png, or the event files).
    """

    title: str
    about: dict[str, str] = field(default_factory=dict)
    dice_chart: Path | None = None
    overlays: dict[str, Path] = field(default_factory=dict)
    curves: Path | None = None
    curves_source: str = ""


def write_html_report(
    rows: Sequence[Row],
    summary: Mapping[str, Any],
    inputs: ReportInputs,
    path: str | os.PathLike[str],
) -> Path:
    """Write the validation report page to `path` (atomically) and return it."""
    classes = list(summary["class_names"])
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    about = {**inputs.about, "cases": str(summary["num_cases"]), "written": now}
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e(inputs.title)}: validation report</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{_e(inputs.title)}: validation report</h1>",
        _about_table(about),
        "<h2>Summary</h2>",
        _summary_table(summary, classes),
        "<h2>Dice per case</h2>",
        _figure(inputs.dice_chart, "Dice per case; dashed lines: class means"),
        "<h2>Training curves</h2>",
        _figure(inputs.curves, f"from {inputs.curves_source or inputs.curves}")
        if inputs.curves
        else "<p>No training curves found (train_curves.png or TensorBoard event files in "
        "MMAR_CKPT_DIR).</p>",
        "<h2>Overlays</h2>",
        _overlays(rows, inputs.overlays),
        "<h2>Cases</h2>",
        _case_table(rows, classes),
        "</body></html>",
    ]
    return atomic_write_text(Path(path), "\n".join(parts) + "\n")


def mean_dice(row: Row) -> float:
    """The case's Dice averaged over its classes (NaN when it has none)."""
    values = [float(v) for v in row["dice"].values() if not math.isnan(float(v))]
    return sum(values) / len(values) if values else math.nan


def _about_table(about: Mapping[str, str]) -> str:
    lines = "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in about.items())
    return f'<table class="about">{lines}</table>'


def _summary_table(summary: Mapping[str, Any], classes: list[str]) -> str:
    head = (
        '<tr><th class="t">class</th><th>Dice mean ± sd</th><th>median</th><th>min</th>'
        "<th>max</th><th>HD95 mm mean ± sd</th><th>HD95 median</th><th>HD95 n/a</th></tr>"
    )
    body = []
    for name in classes:
        dice = summary["per_class"][name]["dice"]
        hd95 = summary["per_class"][name]["hd95"]
        cells = [
            f"{_n(dice['mean'], 3)} ± {_n(dice['std'], 3)}",
            _n(dice["median"], 3),
            _n(dice["min"], 3),
            _n(dice["max"], 3),
            f"{_n(hd95['mean'], 2)} ± {_n(hd95['std'], 2)}",
            _n(hd95["median"], 2),
            f"{hd95['nan_count']} of {summary['num_cases']}",
        ]
        body.append(f'<tr><td class="t">{_e(name)}</td>' + "".join(_td(c) for c in cells) + "</tr>")
    overall = (
        f"<p>Mean Dice {_n(summary['mean_dice'], 3)}, mean HD95 {_n(summary['mean_hd95'], 2)} mm "
        "over all cases and classes (HD95 n/a: a structure missing from the label or the "
        "prediction).</p>"
    )
    return f"<table>{head}{''.join(body)}</table>{overall}"


def _case_table(rows: Sequence[Row], classes: list[str]) -> str:
    files = any("image" in row for row in rows)
    volumes = any("volume_ml" in row for row in rows)
    head = ['<th class="t">case</th>']
    if files:
        head += ['<th class="t">image</th>', '<th class="t">label</th>']
    head += [
        f"<th>{_e(m.upper() if m == 'hd95' else 'Dice')} {_e(c)}</th>"
        for m in METRICS
        for c in classes
    ]
    if volumes:
        head += [f"<th>{_e(k)} volume mL {_e(c)}</th>" for k in VOLUMES for c in classes]
        head.append("<th>metric grid spacing mm</th>")
    ordered = sorted(rows, key=lambda r: str(r["case"]))
    low = _low_cases(rows)
    body = []
    for row in ordered:
        cells = [f'<td class="t">{_e(row["case"])}</td>']
        if files:
            cells += [_file_cell(row.get("image", "")), _file_cell(row.get("label", ""))]
        cells += [_td(_n(row[m][c], 3 if m == "dice" else 2)) for m in METRICS for c in classes]
        if volumes:
            measured = row.get("volume_ml", {})
            cells += [_td(_n(measured.get(k, {}).get(c), 2)) for k in VOLUMES for c in classes]
            cells.append(_td(" × ".join(f"{s:g}" for s in row.get("spacing", []))))
        css = ' class="low"' if row["case"] in low else ""
        body.append(f"<tr{css}>{''.join(cells)}</tr>")
    note = (
        "<p>Volumes: voxels of each class times the voxel volume of the grid the metrics are "
        "computed on (after the post-transforms). Shaded rows: the lowest mean Dice.</p>"
        if volumes
        else ""
    )
    return f'{note}<div class="scroll"><table><tr>{"".join(head)}</tr>{"".join(body)}</table></div>'


def _overlays(rows: Sequence[Row], overlays: Mapping[str, Path]) -> str:
    shown = [r for r in sorted(rows, key=_sort_key) if r["case"] in overlays][:MAX_OVERLAYS]
    if not shown:
        return "<p>No overlays (the image was on another grid than the label).</p>"
    intro = (
        f"<p>The {len(shown)} case(s) with the lowest mean Dice (green: label, magenta: "
        "prediction; the axial slice with the largest labelled area). All cases: overlays/.</p>"
    )
    figures = [
        _figure(overlays[r["case"]], f"{r['case']}: mean Dice {_n(mean_dice(r), 3)}") for r in shown
    ]
    return intro + "".join(figures)


def _low_cases(rows: Sequence[Row]) -> set[str]:
    count = min(MAX_OVERLAYS, max(1, len(rows) // 10)) if len(rows) > 3 else 0
    return {str(r["case"]) for r in sorted(rows, key=_sort_key)[:count]}


def _sort_key(row: Row) -> tuple[float, str]:
    value = mean_dice(row)
    return (math.inf if math.isnan(value) else value, str(row["case"]))


def _figure(path: Path | None, caption: str) -> str:
    if path is None or not path.is_file():
        return "<p>(figure not written)</p>"
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (
        f'<figure><img alt="{_e(caption or path.name)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{_e(caption)}</figcaption></figure>"
    )


def _file_cell(path: str) -> str:
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    return f'<td class="t" title="{_e(path)}">{_e(name)}</td>'


def _td(text: str) -> str:
    return f"<td>{_e(text)}</td>"


def _n(value: Any, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{float(value):.{digits}f}"


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)
