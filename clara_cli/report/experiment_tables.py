"""Results tables of an experiment queue: one CSV, and Markdown tables in a study's layout.

``results.csv`` holds every row: its settings as written, status, the metric in percent,
minutes and error. ``results.md`` shows the finished rows as the study reports them: one
table per value of a grouping column (the view axis), the other settings as columns, then
the metric. How columns, values and groups are titled comes from an optional
``results_layout.json`` next to the queue file::

    {"group_by": "axis",
     "group_titles": {"0": "Results for models trained on SAGITTAL view (axis-0):"},
     "columns": {"model": "Model", "n4": "N4 correction"},
     "values": {"n4": {"true": "Yes", "false": "No"}, "encoder": {"random": "random init."}},
     "metric": "DSC, %", "digits": 0}
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from clara_cli.errors import ConfigError
from clara_cli.io.atomic import atomic_write_text

if TYPE_CHECKING:
    from clara_cli.workflows.experiments import Experiment, Queue, RowState

LAYOUT_FILE = "results_layout.json"


@dataclass(frozen=True)
class ResultsLayout:
    """How the Markdown tables look (see the module docstring); every field optional."""

    group_by: str | None = None
    group_titles: dict[str, str] = field(default_factory=dict)
    columns: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    metric: str = "DSC, %"
    digits: int = 1


def read_layout(queue_path: Path) -> ResultsLayout:
    """The ``results_layout.json`` beside the queue file, or the plain default layout.

    Raises:
        ConfigError: the file is not valid JSON or has unknown keys.
    """
    path = queue_path.parent / LAYOUT_FILE
    if not path.is_file():
        return ResultsLayout()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return ResultsLayout(**data)
    except (json.JSONDecodeError, TypeError) as err:
        raise ConfigError(f"{path}: not a results layout: {err}") from None


def write_results(
    queue: Queue, rows: Sequence[tuple[Experiment, RowState]], output_dir: Path
) -> tuple[Path, Path]:
    """Write ``results.csv`` and ``results.md`` into `output_dir`; returns both paths."""
    layout = read_layout(queue.path)
    csv_path = atomic_write_text(output_dir / "results.csv", results_csv(queue.columns, rows))
    md_path = atomic_write_text(
        output_dir / "results.md", results_markdown(queue.columns, rows, layout)
    )
    return csv_path, md_path


def results_csv(columns: Sequence[str], rows: Sequence[tuple[Experiment, RowState]]) -> str:
    """Every row: settings as written, status, metric in percent, minutes, error, folder."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*columns, "status", "metric_percent", "minutes", "error", "folder"])
    for experiment, state in rows:
        writer.writerow(
            [
                *(experiment.cells.get(c, "") for c in columns),
                state.status,
                "" if state.metric is None else f"{100.0 * state.metric:.2f}",
                f"{state.seconds / 60.0:.1f}" if state.seconds else "",
                state.error or "",
                experiment.folder,
            ]
        )
    return buffer.getvalue()


def results_markdown(
    columns: Sequence[str],
    rows: Sequence[tuple[Experiment, RowState]],
    layout: ResultsLayout | None = None,
) -> str:
    """The Markdown tables: one per group (all rows in one table without ``group_by``).

    A row not yet finished shows "pending"/"running", a failed one "failed".
    """
    layout = layout or ResultsLayout()
    group = layout.group_by if layout.group_by in columns else None
    shown = [c for c in columns if c != group]
    groups: dict[str, list[tuple[Experiment, RowState]]] = {}
    for experiment, state in rows:
        key = experiment.cells.get(group, "") if group else ""
        groups.setdefault(key, []).append((experiment, state))
    parts = []
    for key, members in groups.items():
        if group:
            title = layout.group_titles.get(key, f"Results for {group} = {key}:")
            parts.append(f"{title}\n")
        parts.append(_table(shown, members, layout))
    return "\n".join(parts)


def _table(
    columns: Sequence[str], rows: Sequence[tuple[Experiment, RowState]], layout: ResultsLayout
) -> str:
    titles = [layout.columns.get(c, c) for c in columns] + [layout.metric]
    body = [
        [_value(layout, c, experiment.cells.get(c, "")) for c in columns] + [_metric(state, layout)]
        for experiment, state in rows
    ]
    widths = [max(len(t), *(len(r[i]) for r in body), 3) + 2 for i, t in enumerate(titles)]
    lines = ["|" + "|".join(t.ljust(w) for t, w in zip(titles, widths, strict=True)) + "|"]
    rule = ["-" * w if i == 0 else ":" + "-" * (w - 2) + ":" for i, w in enumerate(widths)]
    lines.append("|" + "|".join(rule) + "|")
    for cells in body:
        lines.append("|" + "|".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + "|")
    return "\n".join(lines) + "\n"


def _value(layout: ResultsLayout, column: str, text: str) -> str:
    return layout.values.get(column, {}).get(
        text.lower(), layout.values.get(column, {}).get(text, text)
    )


def _metric(state: RowState, layout: ResultsLayout) -> str:
    if state.status == "done" and state.metric is not None:
        return f"{100.0 * state.metric:.{layout.digits}f}"
    return {"done": "n/a"}.get(state.status, state.status)


def format_status(rows: Sequence[tuple[Experiment, RowState]], columns: Sequence[str]) -> str:
    """The queue as a terminal table: number, settings, status, metric %, minutes, error."""
    header = ["#", *columns, "status", "%", "min"]
    body = []
    for experiment, state in rows:
        metric = "" if state.metric is None else f"{100.0 * state.metric:.1f}"
        minutes = f"{state.seconds / 60.0:.1f}" if state.seconds else ""
        body.append(
            [str(experiment.number), *(experiment.cells.get(c, "") for c in columns),
             state.status, metric, minutes]
        )  # fmt: skip
    widths = [
        max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(header)
    ]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    for (_, state), cells in zip(rows, body, strict=True):
        line = "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()
        lines.append(line + (f"  ({state.error})" if state.error else ""))
    counts: dict[str, int] = {}
    for _, state in rows:
        counts[state.status] = counts.get(state.status, 0) + 1
    lines.append(", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
    return "\n".join(lines)
