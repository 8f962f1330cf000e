"""The BraTS report extra: each region and the mean over regions, per case and overall.

The generic report (metrics_per_case.csv, metrics_summary.json) already has Dice and HD95 per
region in the config's ``class_names`` order (TC, WT, ET, as the model card reports them).
BraTS papers and the card also give the mean over the regions, per case and overall ("Average
0.8267"); the generic table has no column for it, so this writes it beside:
``metrics_regions.csv`` (``dice_TC ... dice_mean, hd95_TC ... hd95_mean`` per case) and
``metrics_regions.json`` (the mean per region and their average), and logs one line.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger("clara")

REGION_TABLE = "metrics_regions.csv"
REGION_SUMMARY = "metrics_regions.json"


def write_region_report(
    rows: Sequence[Mapping[str, Any]],
    summary: Mapping[str, Any],
    output_dir: Path,
    variables: Mapping[str, Any],
) -> None:
    """Family report hook (``Family.report``): write the region table and summary."""
    from clara_cli.report.tables import write_case_table, write_summary

    regions = list(summary["class_names"])
    with_mean = [
        {
            "case": row["case"],
            "dice": {**row["dice"], "mean": _mean(row["dice"][r] for r in regions)},
            "hd95": {**row["hd95"], "mean": _mean(row["hd95"][r] for r in regions)},
        }
        for row in rows
    ]
    write_case_table(with_mean, output_dir / REGION_TABLE)
    overall = region_summary(summary)
    write_summary(overall, output_dir / REGION_SUMMARY)
    dice = overall["dice"]
    log.info(
        "regions (Dice): %s, average %s",
        ", ".join(f"{r} {_fmt(dice[r])}" for r in regions),
        _fmt(dice["average"]),
    )


def region_summary(summary: Mapping[str, Any]) -> dict[str, Any]:
    """Mean Dice and HD95 of each region and their average (the card's "Average").

    The average is over the region means, so every region weighs the same whatever its
    number of undefined HD95 values.
    """
    regions = list(summary["class_names"])
    result: dict[str, Any] = {"regions": regions, "num_cases": summary["num_cases"]}
    for metric in ("dice", "hd95"):
        means = {r: summary["per_class"][r][metric]["mean"] for r in regions}
        result[metric] = {**means, "average": _mean(means.values())}
    return result


def _mean(values: Any) -> float:
    finite = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    return sum(finite) / len(finite) if finite else math.nan


def _fmt(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3f}"
