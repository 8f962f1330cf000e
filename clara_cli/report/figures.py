"""PNG figures for validation and training: per-case Dice bars, overlays and training curves.

matplotlib is imported inside each function with the non-interactive Agg backend, so these
work on headless machines and never open a window.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from clara_cli.io.atomic import atomic_path
from clara_cli.report.tables import Row

ArrayLayout = Literal["monai", "sitk"]
_DPI = 100
_LABEL_COLOUR = "#00e000"  # green: ground truth
_PRED_COLOUR = "#ff2bd6"  # magenta: prediction (distinct from green for most colour vision)
_CLASS_LINESTYLES: tuple[Literal["solid", "dashed", "dotted", "dashdot"], ...] = (
    "solid",
    "dashed",
    "dotted",
    "dashdot",
)


def plot_case_dice(rows: Sequence[Row], path: str | os.PathLike[str]) -> Path:
    """Bar chart of Dice per case: one bar per class in each case's group, dashed class means.

    The figure widens with the number of cases and the case names are rotated so that 50+
    cases stay readable.

    Args:
        rows: per-case rows with ``"case"`` and ``"dice": {class: value}``.
        path: destination PNG.
    """
    plt = _pyplot()
    cases = [str(row["case"]) for row in rows]
    class_names = list(rows[0]["dice"]) if rows else []
    num_classes = max(len(class_names), 1)
    width_in = min(max(6.0, 1.5 + len(cases) * (0.16 + 0.1 * num_classes)), 60.0) + 1.8
    longest = max((len(case) for case in cases), default=4)
    height_in = 4.5 + min(longest, 40) * 0.07

    fig, ax = plt.subplots(figsize=(width_in, height_in), dpi=_DPI)
    positions = np.arange(len(cases))
    bar_width = 0.8 / num_classes
    colours = plt.get_cmap("tab10")
    for index, name in enumerate(class_names):
        values = np.array([float(row["dice"][name]) for row in rows])
        offset = (index - (num_classes - 1) / 2) * bar_width
        colour = colours(index % 10)
        ax.bar(positions + offset, values, bar_width, color=colour, label=name)
        mean = float(np.nanmean(values)) if values.size else math.nan
        if not math.isnan(mean):
            ax.axhline(
                mean, color=colour, linestyle="--", linewidth=1.3, label=f"mean {name} {mean:.3f}"
            )
    ax.set_xticks(positions)
    rotation = 0 if len(cases) <= 8 and longest <= 10 else 90
    ax.set_xticklabels(cases, rotation=rotation, fontsize=9 if len(cases) <= 60 else 7)
    ax.set_xlim(-0.6, len(cases) - 0.4)
    ax.set_ylim(0.0, 1.08)
    ax.set_ylabel("Dice")
    ax.set_xlabel("case")
    ax.set_title(f"Dice per case ({len(cases)} cases)", loc="left")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    # Outside the axes, so the legend never hides a bar.
    ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=9, frameon=False)
    return _save(fig, path)


def plot_overlay(
    image: np.ndarray,
    label: np.ndarray,
    pred: np.ndarray,
    path: str | os.PathLike[str],
    title: str,
    *,
    layout: ArrayLayout = "monai",
    spacing: Sequence[float] | None = None,
    class_names: Sequence[str] | None = None,
) -> Path:
    """Draw one axial slice of ``image`` with label and prediction contours.

    The slice is the one with the largest label area, else the largest prediction area, else
    the middle slice. The image is windowed to its 1st-99th percentiles on that slice.

    Args:
        image: intensity volume (3D) or image (2D), no channel axis.
        label: integer label map of the same shape (0 is background), or for a multi-label
            model a stack of K binary region masks shaped (K, *image.shape), each drawn as
            its own contour (regions may overlap, like BraTS's TC/WT/ET).
        pred: integer prediction (or region stack) shaped like `label`.
        path: destination PNG.
        title: first title line, e.g. ``"spleen_3  Dice 0.912"``; the slice index is appended.
        layout: ``"monai"`` for RAS-oriented arrays in (x, y[, z]) order, as MONAI gives them
            after ``Orientationd(axcodes="RAS")`` (axial = last axis); ``"sitk"`` for
            SimpleITK's ([z,] y, x) order of an LPS image (axial = first). Both are shown in
            the radiological convention: anterior up, the patient's right on the left.
        spacing: voxel size per array axis, used to keep the displayed aspect ratio true.
        class_names: names of label values 1..K (or of the K regions) for the legend (only
            used with 2+ classes).
    """
    plt = _pyplot()
    from matplotlib.lines import Line2D

    image, label, pred = (np.asarray(array) for array in (image, label, pred))
    regions = label.ndim == image.ndim + 1
    if (
        label.shape != pred.shape
        or image.shape != (label.shape[1:] if regions else label.shape)
        or image.ndim not in (2, 3)
    ):
        raise ValueError(
            "plot_overlay needs 2D or 3D image, label and prediction of one shape (or region "
            f"stacks with one more axis first), not {image.shape}, {label.shape}, {pred.shape}"
        )
    axis = (-1 if layout == "monai" else 0) if image.ndim == 3 else None
    if axis is None:
        index = None
    elif regions:
        index = select_overlay_slice(np.any(label, axis=0), np.any(pred, axis=0), axis)
    else:
        index = select_overlay_slice(label, pred, axis)
    image_2d = _display_plane(image, axis, index, layout)
    label_2d, pred_2d = (
        np.stack([_display_plane(c, axis, index, layout) for c in array])
        if regions
        else _display_plane(array, axis, index, layout)
        for array in (label, pred)
    )
    # Classes anywhere in the volume get a legend entry, even when absent from this slice.
    values = None if regions else sorted((set(np.unique(label)) | set(np.unique(pred))) - {0})
    structures = _structures(label_2d, pred_2d, values, class_names)
    aspect = _display_aspect(spacing, image.ndim, axis, layout)

    # Fit the figure to the slice's displayed shape, so a wide body is not lost in margins.
    rows, columns = image_2d.shape
    height = min(max(6.4 * rows * aspect / max(columns, 1), 3.6), 9.0) + 0.9
    fig, ax = plt.subplots(figsize=(6.4, height), dpi=_DPI)
    low, high = np.percentile(image_2d, [1, 99]) if image_2d.size else (0.0, 1.0)
    if high <= low:
        high = low + 1.0
    ax.imshow(image_2d, cmap="gray", vmin=low, vmax=high, aspect=aspect, interpolation="nearest")
    for order, (_, label_mask, pred_mask) in enumerate(structures):
        style = _CLASS_LINESTYLES[order % len(_CLASS_LINESTYLES)]
        for mask, colour in ((label_mask, _LABEL_COLOUR), (pred_mask, _PRED_COLOUR)):
            if mask.any():
                ax.contour(
                    mask.astype(float),
                    levels=[0.5],
                    colors=[colour],
                    linewidths=1.6,
                    linestyles=style,
                )
    handles = [
        Line2D([], [], color=_LABEL_COLOUR, linewidth=2, label="label"),
        Line2D([], [], color=_PRED_COLOUR, linewidth=2, label="prediction"),
    ]
    if len(structures) > 1:
        for order, (name, _, _) in enumerate(structures):
            style = _CLASS_LINESTYLES[order % len(_CLASS_LINESTYLES)]
            handles.append(Line2D([], [], color="white", linestyle=style, label=name))
    if not label_2d.any():
        handles.append(Line2D([], [], linestyle="none", label="(no label on this slice)"))
    legend = ax.legend(handles=handles, loc="upper right", fontsize=9, framealpha=0.8)
    legend.get_frame().set_facecolor("#303030")
    for text in legend.get_texts():
        text.set_color("white")
    where = "" if index is None or axis is None else f"\naxial slice {index} of {image.shape[axis]}"
    ax.set_title(f"{title}{where}", fontsize=11)
    _orientation_letters(ax)
    ax.set_axis_off()
    return _save(fig, path)


def _structures(
    label: np.ndarray,
    pred: np.ndarray,
    values: list[Any] | None,
    class_names: Sequence[str] | None,
) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(legend name, label mask, prediction mask) of each class value, or of each region of
    a region stack (`values` None), on the displayed slice."""
    if values is None:
        return [
            (_class_name(k + 1, class_names), label[k] > 0, pred[k] > 0)
            for k in range(label.shape[0])
        ]
    return [(_class_name(int(v), class_names), label == v, pred == v) for v in values]


def select_overlay_slice(label: np.ndarray, pred: np.ndarray, axis: int) -> int:
    """Index along ``axis`` with the largest label area, else prediction area, else the middle."""
    other_axes = tuple(a for a in range(label.ndim) if a != axis % label.ndim)
    for volume in (label, pred):
        areas = np.count_nonzero(volume, axis=other_axes)
        if areas.any():
            return int(np.argmax(areas))
    return label.shape[axis] // 2


def plot_train_curves(
    history: Sequence[Mapping[str, Any]],
    path: str | os.PathLike[str],
    metric_key: str | None = None,
) -> Path:
    """Two stacked panels sharing the epoch axis: training loss, and the validation metric.

    Args:
        history: one dict per epoch, e.g. ``{"epoch": 3, "loss": 0.41, "val_mean_dice": 0.62}``;
            the metric may be missing on epochs without validation.
        path: destination PNG (``train_curves.png`` in MMAR_CKPT_DIR).
        metric_key: the validation key metric; by default the first key other than
            ``epoch`` and ``loss`` found in the history.
    """
    plt = _pyplot()
    metric_key = metric_key or _guess_metric_key(history)
    loss_points = [(e["epoch"], e["loss"]) for e in history if _is_number(e.get("loss"))]
    metric_points = (
        [(e["epoch"], e[metric_key]) for e in history if _is_number(e.get(metric_key))]
        if metric_key
        else []
    )

    fig, (loss_ax, metric_ax) = plt.subplots(2, 1, sharex=True, figsize=(8, 6.5), dpi=_DPI)
    if loss_points:
        epochs, losses = zip(*loss_points, strict=True)
        loss_ax.plot(epochs, losses, color="tab:blue", marker="o" if len(epochs) <= 30 else None)
        loss_ax.set_title(f"training loss (last {losses[-1]:.4f})", fontsize=11)
    else:
        loss_ax.text(
            0.5, 0.5, "no loss recorded", ha="center", va="center", transform=loss_ax.transAxes
        )
    loss_ax.set_ylabel("loss")
    loss_ax.grid(alpha=0.3)

    label = metric_key or "validation metric"
    if metric_points:
        epochs, values = zip(*metric_points, strict=True)
        metric_ax.plot(epochs, values, color="tab:orange", marker="o")
        best = int(np.argmax(values))
        metric_ax.plot(epochs[best], values[best], marker="*", markersize=16, color="tab:red")
        metric_ax.annotate(
            f"best {values[best]:.4f} (epoch {epochs[best]})",
            (epochs[best], values[best]),
            textcoords="offset points",
            xytext=(0, -18),
            ha="right" if best > len(epochs) / 2 else "left",
            fontsize=9,
        )
        metric_ax.set_title(f"validation {label}", fontsize=11)
    else:
        metric_ax.text(
            0.5, 0.5, "no validation run", ha="center", va="center", transform=metric_ax.transAxes
        )
    metric_ax.set_ylabel(label)
    metric_ax.set_xlabel("epoch")
    metric_ax.grid(alpha=0.3)
    from matplotlib.ticker import MaxNLocator

    metric_ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return _save(fig, path)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: str | os.PathLike[str]) -> Path:
    import matplotlib.pyplot as plt

    try:
        fig.tight_layout()
        with atomic_path(path, suffix=".png") as temp:
            fig.savefig(temp, dpi=_DPI)
    finally:
        plt.close(fig)
    return Path(path)


def _display_plane(
    array: np.ndarray, axis: int | None, index: int | None, layout: ArrayLayout
) -> np.ndarray:
    plane = array if axis is None or index is None else np.take(array, index, axis=axis)
    if layout == "monai":
        # A RAS plane is (x: towards the right, y: towards anterior). Radiological display puts
        # anterior at the top and the patient's right on the left: rows run posterior, columns
        # run left, so transpose and reverse both axes. LPS (sitk) planes already run that way.
        return plane.T[::-1, ::-1]
    return plane


def _orientation_letters(ax: Any) -> None:
    from matplotlib import patheffects

    outline = [patheffects.withStroke(linewidth=2.5, foreground="black")]
    style = {
        "color": "#ffd400",
        "fontsize": 12,
        "fontweight": "bold",
        "transform": ax.transAxes,
        "path_effects": outline,
    }
    ax.text(0.5, 0.99, "A", ha="center", va="top", **style)
    ax.text(0.5, 0.01, "P", ha="center", va="bottom", **style)
    ax.text(0.01, 0.5, "R", ha="left", va="center", **style)
    ax.text(0.99, 0.5, "L", ha="right", va="center", **style)


def _display_aspect(
    spacing: Sequence[float] | None, ndim: int, axis: int | None, layout: ArrayLayout
) -> float:
    if spacing is None or len(spacing) != ndim:
        return 1.0
    in_plane = [s for a, s in enumerate(spacing) if axis is None or a != axis % ndim]
    rows, columns = (in_plane[1], in_plane[0]) if layout == "monai" else (in_plane[0], in_plane[1])
    return float(rows) / float(columns)


def _class_name(value: int, class_names: Sequence[str] | None) -> str:
    if class_names and 1 <= value <= len(class_names):
        return str(class_names[value - 1])
    return f"class {value}"


def _guess_metric_key(history: Sequence[Mapping[str, Any]]) -> str | None:
    for epoch in history:
        for key, value in epoch.items():
            if key not in ("epoch", "loss") and _is_number(value):
                return key
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
