"""A metric against a step count, with its spread: the Dice-versus-clicks curve of interactive
models, or any score measured after 1, 2, ... N steps on many samples."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from clara_cli.report.figures import _pyplot, _save


def plot_metric_curve(
    values: Mapping[int, Sequence[float]],
    path: str | os.PathLike[str],
    *,
    groups: Mapping[str, Mapping[int, float]] | None = None,
    title: str = "",
    xlabel: str = "steps",
    ylabel: str = "score",
    ylim: tuple[float, float] | None = (0.0, 1.0),
) -> Path:
    """Mean with a ±1 sd band and a min-max band over the samples at each step; thin lines
    for group means (one per organ, say).

    Args:
        values: step -> the samples' scores at that step (NaN ignored).
        path: the PNG to write (atomically).
        groups: group name -> step -> the group's mean.
        title, xlabel, ylabel: texts.
        ylim: the y range; None fits the data.
    """
    plt = _pyplot()
    steps = sorted(values)
    arrays = [np.asarray(values[s], dtype=float) for s in steps]
    arrays = [a[~np.isnan(a)] for a in arrays]
    shown = [s for s, a in zip(steps, arrays, strict=True) if a.size]
    arrays = [a for a in arrays if a.size]
    mean = np.array([a.mean() for a in arrays])
    std = np.array([a.std() for a in arrays])
    low, high = np.array([a.min() for a in arrays]), np.array([a.max() for a in arrays])
    fig, ax = plt.subplots(figsize=(7.0, 4.5))
    ax.fill_between(shown, low, high, color="#1f77b4", alpha=0.12, lw=0, label="min-max")
    ax.fill_between(shown, mean - std, mean + std, color="#1f77b4", alpha=0.28, lw=0, label="±1 sd")
    for name, curve in sorted((groups or {}).items()):
        xs = [s for s in shown if s in curve]
        ax.plot(xs, [curve[s] for s in xs], lw=0.9, alpha=0.8, label=name)
    count = max((a.size for a in arrays), default=0)
    ax.plot(shown, mean, color="black", lw=2.2, marker="o", ms=3.5, label=f"mean (n={count})")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_xticks(shown if len(shown) <= 20 else shown[:: max(1, len(shown) // 10)])
    ax.grid(True, alpha=0.3)
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=7, ncol=2)
    return _save(fig, path)
