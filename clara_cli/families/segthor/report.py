"""The validation report laid out like the entry's leaderboard rows: date, oesophagus, heart,
trachea, aorta (the family's ``report`` hook, called by ``clara validate`` on rank 0).

Writes ``leaderboard.md`` and ``leaderboard.csv`` next to the per-case table: this run's mean
3D Dice and HD95 (mm) per organ, under the entry's own two SegTHOR test-set submissions for
comparison (those are real CT; a phantom run is not comparable to them).
"""

from __future__ import annotations

import csv
import datetime
import io
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger("clara")

#: The leaderboard's organ columns, in its order (SegTHOR labels 1-4).
COLUMNS = ("oesophagus", "heart", "trachea", "aorta")

#: The entry's submissions (SegTHOR 2019 test set, Dice), as its card lists them.
ENTRY_ROWS = (
    ("2019-03-17 entry (SegTHOR test, Dice)", (0.8452, 0.9328, 0.9039, 0.9115)),
    ("2019-03-22 entry (SegTHOR test, Dice)", (0.8513, 0.9457, 0.9083, 0.9175)),
)


def leaderboard_rows(
    summary: Mapping[str, Any], date: str | None = None
) -> list[tuple[str, list[float | None]]]:
    """This run's Dice and HD95 rows (mean per organ; None where the run has no value)."""
    date = date or datetime.date.today().isoformat()
    per_class = summary.get("per_class", {})
    cases = summary.get("num_cases", 0)
    rows = []
    for metric, label in (("dice", "Dice"), ("hd95", "HD95 mm")):
        values = [per_class.get(organ, {}).get(metric, {}).get("mean") for organ in COLUMNS]
        rows.append((f"{date} this run ({cases} cases, {label})", values))
    return rows


def format_leaderboard(rows: Sequence[tuple[str, Sequence[float | None]]]) -> str:
    """A markdown table: date | oesophagus | heart | trachea | aorta."""
    lines = [
        "| date | " + " | ".join(COLUMNS) + " |",
        "|:---|" + "---:|" * len(COLUMNS),
    ]
    for name, values in rows:
        cells = ["-" if v is None else f"{v:.4f}" for v in values]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_leaderboard(
    rows: Sequence[Mapping[str, Any]],
    summary: Mapping[str, Any],
    output_dir: Path,
    variables: Mapping[str, Any],
) -> list[Path]:
    """Family report hook: write ``leaderboard.md`` / ``leaderboard.csv``, log the table.

    Organs the run does not score (other ``class_names``) show as "-".
    """
    from clara_cli.io.atomic import atomic_write_text

    table = leaderboard_rows(summary) + list(ENTRY_ROWS)
    text = format_leaderboard(table)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["date", *COLUMNS])
    for name, values in table:
        writer.writerow([name, *("" if v is None else f"{v:.4f}" for v in values)])
    output_dir = Path(output_dir)
    written = [
        atomic_write_text(output_dir / "leaderboard.md", text),
        atomic_write_text(output_dir / "leaderboard.csv", buffer.getvalue()),
    ]
    log.info("SegTHOR leaderboard layout (%s):\n%s", output_dir / "leaderboard.md", text)
    return written
