"""Training curves for the validation report: the training's own `train_curves.png`, else
the scalars of the TensorBoard event files in the checkpoint folder (a run that was stopped
before it drew its curves still left those)."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

from clara_cli.report.figures import _pyplot, _save

log = logging.getLogger("clara")

#: Panels drawn from event files at most (loss first, then the other tags by name).
MAX_PANELS = 4


def training_curves(ckpt_dir: Path | None, output: Path) -> tuple[Path, str] | None:
    """The training curves PNG and where they came from, or None when there are none.

    `ckpt_dir/train_curves.png` when training wrote it; else the event files' scalars drawn
    into `output`.
    """
    if ckpt_dir is None or not ckpt_dir.is_dir():
        return None
    drawn = ckpt_dir / "train_curves.png"
    if drawn.is_file():
        return drawn, str(drawn)
    scalars = read_event_scalars(ckpt_dir)
    if not scalars:
        return None
    return plot_event_scalars(scalars, output), f"TensorBoard event files in {ckpt_dir}"


def read_event_scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """tag -> (step, value) sorted by step, from the event files directly in `folder`
    (a step logged twice, as by a resumed run, keeps its last value)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    merged: dict[str, dict[int, float]] = {}
    for path in sorted(folder.glob("events.out.tfevents.*")):
        try:
            events = EventAccumulator(str(path), size_guidance={"scalars": 0})
            events.Reload()
        except Exception as err:  # noqa: BLE001 - a damaged event file only loses its curves
            log.warning("cannot read the TensorBoard events %s: %s", path.name, err)
            continue
        for tag in events.Tags().get("scalars", []):
            for event in events.Scalars(tag):
                if math.isfinite(event.value):
                    merged.setdefault(tag, {})[int(event.step)] = float(event.value)
    return {tag: sorted(points.items()) for tag, points in merged.items() if points}


def plot_event_scalars(
    scalars: dict[str, list[tuple[int, float]]], path: str | os.PathLike[str]
) -> Path:
    """One panel per scalar tag (loss tags first), each against its own logged step."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    tags = sorted(scalars, key=lambda tag: ("loss" not in tag.lower(), tag))[:MAX_PANELS]
    fig, axes = plt.subplots(len(tags), 1, figsize=(8, 2.6 * len(tags) + 0.6), squeeze=False)
    for ax, tag in zip(axes[:, 0], tags, strict=True):
        steps, values = zip(*scalars[tag], strict=True)
        ax.plot(steps, values, marker="o" if len(steps) <= 30 else None, ms=3)
        ax.set_title(f"{tag} (last {values[-1]:.4f})", fontsize=10)
        ax.set_xlabel("step as logged (iterations for losses, epochs for metrics)", fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    return _save(fig, path)
