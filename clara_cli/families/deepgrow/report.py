"""The Dice-versus-clicks report: per-sample CSV, summary JSON, curve PNG and terminal text."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from clara_cli.errors import DataError

COLUMNS = ("case", "organ", "region", "clicks", "dice", "foreground", "background")
TABLE, SUMMARY, FIGURE = "dice_per_click.csv", "metrics_summary.json", "dice_vs_clicks.png"


def summarize_clicks(rows: Sequence[dict[str, Any]], seed: int) -> dict[str, Any]:
    """Statistics of the Dice at each click count, over all samples and per organ.

    Returns:
        ``num_samples``, ``num_cases``, ``organs``, ``clicks`` (N), ``seed``,
        ``dice_by_clicks`` (one entry per click count: mean, std, median, min, max, count),
        ``per_organ`` (organ -> samples and mean Dice per click count), ``mean_dice`` (at N)
        and ``mean_dice_first_click``.

    Raises:
        DataError: no rows (an empty validation list).
    """
    import numpy as np

    if not rows:
        raise DataError("no validation samples: the datalist's validation list is empty")
    by_click: dict[int, list[float]] = defaultdict(list)
    by_organ: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        if row["dice"] is not None:
            by_click[row["clicks"]].append(row["dice"])
            by_organ[row["organ"]][row["clicks"]].append(row["dice"])
    clicks = max(row["clicks"] for row in rows)
    table = []
    for count in range(1, clicks + 1):
        values = np.asarray(by_click.get(count, []), dtype=float)
        stats: dict[str, Any] = {"clicks": count, "count": int(values.size)}
        for name, fn in (("mean", np.mean), ("std", np.std), ("median", np.median),
                         ("min", np.min), ("max", np.max)):  # fmt: skip
            stats[name] = float(fn(values)) if values.size else None
        table.append(stats)
    samples = {(row["case"], row["organ"]) for row in rows}
    return {
        "num_samples": len(samples),
        "num_cases": len({case for case, _ in samples}),
        "organs": sorted(by_organ),
        "clicks": clicks,
        "seed": seed,
        "dice_by_clicks": table,
        "per_organ": {
            organ: {
                "samples": len({c for c, o in samples if o == organ}),
                "mean_dice_by_clicks": [
                    float(np.mean(curve[k])) if curve.get(k) else None for k in range(1, clicks + 1)
                ],
            }
            for organ, curve in sorted(by_organ.items())
        },
        "mean_dice": table[-1]["mean"],
        "mean_dice_first_click": table[0]["mean"],
    }


def write_click_report(
    rows: Sequence[dict[str, Any]], summary: dict[str, Any], output_dir: Path
) -> list[Path]:
    """Write `dice_per_click.csv`, `metrics_summary.json` and `dice_vs_clicks.png`."""
    from clara_cli.report.curves import plot_metric_curve
    from clara_cli.report.tables import write_long_table, write_summary

    output_dir.mkdir(parents=True, exist_ok=True)
    values: dict[int, list[float]] = defaultdict(list)
    for row in rows:
        values[row["clicks"]].append(float("nan") if row["dice"] is None else row["dice"])
    groups = {
        organ: {k + 1: v for k, v in enumerate(entry["mean_dice_by_clicks"]) if v is not None}
        for organ, entry in summary["per_organ"].items()
    }
    title = (
        f"DeepGrow: Dice vs clicks, {summary['num_samples']} samples "
        f"({summary['num_cases']} cases, seed {summary['seed']})"
    )
    return [
        write_long_table(rows, COLUMNS, output_dir / TABLE),
        write_summary(summary, output_dir / SUMMARY),
        plot_metric_curve(
            values,
            output_dir / FIGURE,
            groups=groups,
            title=title,
            xlabel="clicks (1 = initial seed)",
            ylabel="Dice",
        ),  # fmt: skip
    ]


def format_click_summary(summary: dict[str, Any]) -> str:
    """The terminal block: mean Dice ± sd at a few click counts, overall and per organ."""
    clicks = summary["clicks"]
    shown = sorted({k for k in (1, 2, 3, 5, 10, clicks) if k <= clicks})
    table = {entry["clicks"]: entry for entry in summary["dice_by_clicks"]}

    def fmt(value: float | None) -> str:
        return "  n/a" if value is None else f"{value:.3f}"

    lines = [
        f"DeepGrow validation: {summary['num_samples']} samples ({summary['num_cases']} cases, "
        f"{len(summary['organs'])} organs), Dice after 1..{clicks} simulated clicks",
        "  clicks        " + "  ".join(f"{k:>13}" for k in shown),
        "  mean ± sd     "
        + "  ".join(f"{fmt(table[k]['mean'])} ± {fmt(table[k]['std'])}" for k in shown),
    ]
    for organ, entry in summary["per_organ"].items():
        curve = entry["mean_dice_by_clicks"]
        lines.append(f"  {organ[:12]:<12}  " + "  ".join(f"{fmt(curve[k - 1]):>13}" for k in shown))
    return "\n".join(lines)
