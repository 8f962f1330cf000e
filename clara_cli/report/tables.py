"""Per-case CSV table, summary statistics, summary JSON and the terminal summary block.

A *row* is one case: ``{"case": "spleen_3", "dice": {"spleen": 0.93}, "hd95": {"spleen": 4.1}}``
(`clara_cli.report.case_metrics.case_scores` plus a ``"case"`` key). NaN scores (see the
conventions in `case_metrics`) are written as empty CSV cells and JSON ``null``, left out of
every statistic, and counted in ``nan_count``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from clara_cli.errors import DataError
from clara_cli.io.atomic import atomic_write_text

Row = Mapping[str, Any]
METRICS = ("dice", "hd95")
STATISTICS = ("mean", "median", "min", "max", "std")
#: Volume columns of the per-case table: the reference label's, then the prediction's.
VOLUMES = ("label", "pred")


def write_case_table(rows: Sequence[Row], path: str | os.PathLike[str]) -> Path:
    """Write one CSV line per case: ``case, dice_<class>..., hd95_<class>...``.

    Rows recorded by `clara validate` also carry their files and volumes; the table then
    reads ``case, image, label, dice_..., hd95_..., label_volume_ml_<class>...,
    pred_volume_ml_<class>..., metric_spacing_mm``: the volumes (mL) of each class in the
    reference label and in the prediction, counted on the grid the metrics are computed on,
    whose voxel size ``metric_spacing_mm`` gives (x y z, after the post-transforms).

    Args:
        rows: per-case rows (see the module docstring); all must have the same classes.
        path: destination CSV, replaced atomically.

    Returns:
        The path written.
    """
    class_names = _class_names(rows)
    files = any("image" in row for row in rows)
    volumes = any("volume_ml" in row for row in rows)
    header = ["case"] + (["image", "label"] if files else [])
    header += [f"{metric}_{name}" for metric in METRICS for name in class_names]
    if volumes:
        header += [f"{kind}_volume_ml_{name}" for kind in VOLUMES for name in class_names]
        header.append("metric_spacing_mm")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        cells = [row["case"]] + ([row.get("image", ""), row.get("label", "")] if files else [])
        values = [row[metric][name] for metric in METRICS for name in class_names]
        cells += [_format_cell(value) for value in values]
        if volumes:
            measured = row.get("volume_ml", {})
            cells += [
                _format_cell(measured.get(kind, {}).get(name, math.nan))
                for kind in VOLUMES
                for name in class_names
            ]
            cells.append(" ".join(f"{s:g}" for s in row.get("spacing", [])))
        writer.writerow(cells)
    return atomic_write_text(Path(path), buffer.getvalue())


def write_long_table(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str], path: str | os.PathLike[str]
) -> Path:
    """Write rows of plain values as a CSV with `columns` (None and NaN as empty cells).

    For reports with one line per measurement (DeepGrow: one per sample and click count)
    rather than one per case. The file is replaced atomically.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(list(columns))
    for row in rows:
        cells = [row.get(column) for column in columns]
        writer.writerow(
            [
                ""
                if cell is None or (isinstance(cell, float) and math.isnan(cell))
                else repr(cell)
                if isinstance(cell, float)
                else cell
                for cell in cells
            ]
        )
    return atomic_write_text(Path(path), buffer.getvalue())


def summarize(rows: Sequence[Row]) -> dict[str, Any]:
    """Aggregate per-case rows into the validation summary.

    Returns:
        ``{"num_cases", "class_names", "mean_dice", "mean_hd95", "per_class"}`` where
        ``mean_dice``/``mean_hd95`` average all non-NaN (case, class) scores and
        ``per_class[name][metric]`` holds mean, median, min, max, std (population, ddof=0),
        ``count`` (non-NaN values) and ``nan_count``. A statistic with no values is None.

    Raises:
        DataError: no rows, or rows with different classes.
    """
    class_names = _class_names(rows)
    per_class: dict[str, dict[str, dict[str, Any]]] = {}
    pooled: dict[str, list[float]] = {metric: [] for metric in METRICS}
    for name in class_names:
        per_class[name] = {}
        for metric in METRICS:
            values = np.array([float(row[metric][name]) for row in rows], dtype=float)
            finite = values[~np.isnan(values)]
            pooled[metric].extend(finite.tolist())
            per_class[name][metric] = _statistics(finite, nan_count=int(values.size - finite.size))
    return {
        "num_cases": len(rows),
        "class_names": list(class_names),
        "mean_dice": _mean_or_none(pooled["dice"]),
        "mean_hd95": _mean_or_none(pooled["hd95"]),
        "per_class": per_class,
    }


def write_summary(summary: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write the summary as indented JSON (NaN as null), replacing ``path`` atomically."""
    text = json.dumps(_nan_to_none(summary), indent=2, allow_nan=False) + "\n"
    return atomic_write_text(Path(path), text)


def format_summary(summary: Mapping[str, Any]) -> str:
    """Render the summary as a compact block for the terminal.

    Example::

        Validation: 50 cases, mean Dice 0.606, mean HD95 12.62 mm
          class   Dice mean ± std    min    max  HD95 mm median  HD95 n/a
          spleen  0.763 ± 0.136    0.540  0.974            8.94   0 of 50
          tumour  0.449 ± 0.280    0.007  0.895           16.32   8 of 50
    """
    cases = summary["num_cases"]
    lines = [
        f"Validation: {cases} case{'s' if cases != 1 else ''}, "
        f"mean Dice {_fmt(summary['mean_dice'], 3)}, "
        f"mean HD95 {_fmt(summary['mean_hd95'], 2)} mm"
    ]
    width = max([5] + [len(name) for name in summary["class_names"]])
    lines.append(
        f"  {'class':<{width}}  {'Dice mean ± std':<15}  {'min':>5}  {'max':>5}  "
        f"{'HD95 mm median':>14}  {'HD95 n/a':>8}"
    )
    for name in summary["class_names"]:
        dice = summary["per_class"][name]["dice"]
        hd95 = summary["per_class"][name]["hd95"]
        mean_std = f"{_fmt(dice['mean'], 3)} ± {_fmt(dice['std'], 3)}"
        lines.append(
            f"  {name:<{width}}  {mean_std:<15}  {_fmt(dice['min'], 3):>5}  "
            f"{_fmt(dice['max'], 3):>5}  {_fmt(hd95['median'], 2):>14}  "
            f"{str(hd95['nan_count']) + ' of ' + str(cases):>8}"
        )
    return "\n".join(lines)


def _class_names(rows: Sequence[Row]) -> list[str]:
    if not rows:
        raise DataError(
            "no cases to report: the validation datalist produced no rows\n"
            "  check the validation subset of the datalist and data_file_base_dir"
        )
    names = list(rows[0]["dice"])
    for row in rows:
        for metric in METRICS:
            if list(row[metric]) != names:
                raise DataError(
                    f"case {row['case']!r} has {metric} classes {list(row[metric])}, "
                    f"expected {names} like the first case"
                )
    return names


def _statistics(values: np.ndarray, nan_count: int) -> dict[str, Any]:
    stats: dict[str, Any] = {key: None for key in STATISTICS}
    if values.size:
        stats.update(
            mean=float(np.mean(values)),
            median=float(np.median(values)),
            min=float(np.min(values)),
            max=float(np.max(values)),
            std=float(np.std(values)),
        )
    stats["count"] = int(values.size)
    stats["nan_count"] = nan_count
    return stats


def _mean_or_none(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _nan_to_none(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_nan_to_none(item) for item in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _fmt(value: float | None, digits: int) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _format_cell(value: float) -> str:
    return "" if math.isnan(value) else repr(float(value))


def _parse_cell(text: str) -> float:
    return math.nan if text == "" else float(text)
