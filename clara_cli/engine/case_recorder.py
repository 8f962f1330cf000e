"""Per-case scores during evaluation, gathered over ranks for `clara validate`'s report."""

from __future__ import annotations

from typing import Any

import numpy as np


def to_label_map(value: Any) -> np.ndarray:
    """A channel-first prediction or label (one-hot or single channel) as an integer map."""
    array = value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
    if array.ndim >= 3 and array.shape[0] > 1:
        return np.asarray(array.argmax(axis=0), dtype=np.int16)
    if array.ndim >= 3 and array.shape[0] == 1:
        array = array[0]
    return np.rint(array).astype(np.int16)


def spacing_of(value: Any, spatial_dims: int) -> tuple[float, ...]:
    """Voxel spacing (mm) of a MetaTensor, or 1.0 per axis when it carries none."""
    pixdim = getattr(value, "pixdim", None)
    if pixdim is not None:
        values = [float(v) for v in (pixdim.tolist() if hasattr(pixdim, "tolist") else pixdim)]
        if len(values) >= spatial_dims:
            return tuple(values[:spatial_dims])
    return (1.0,) * spatial_dims


def source_file(value: Any) -> str:
    """The file a MetaTensor was read from (the first of several channels), or ""."""
    meta = getattr(value, "meta", None) or {}
    name = meta.get("filename_or_obj")
    if isinstance(name, (list, tuple)):
        name = name[0] if name else None
    return str(name) if name else ""


def volumes_ml(masks: Any, spacing: tuple[float, ...], names: list[str]) -> dict[str, float]:
    """Volume in mL of each class (a label map: value k is class k) or region (a mask stack),
    from the voxel count and the voxel size of the grid the masks are on."""
    voxel_ml = float(np.prod(spacing)) / 1000.0  # mm^3 -> mL
    masks = np.asarray(masks)
    if masks.dtype == bool:  # (K, spatial...) region masks
        return {n: float(masks[k].sum()) * voxel_ml for k, n in enumerate(names)}
    return {n: float(np.count_nonzero(masks == k + 1)) * voxel_ml for k, n in enumerate(names)}


def case_files_and_volumes(
    item: dict[str, Any],
    pred: np.ndarray,
    label: np.ndarray,
    spacing: tuple[float, ...],
    names: list[str],
) -> dict[str, Any]:
    """A report row's image/label paths, the metric grid's spacing and the volumes (mL)."""
    return {
        "image": source_file(item.get("image")),
        "label": source_file(item.get("label")),
        "spacing": [float(s) for s in spacing],
        "volume_ml": {
            "label": volumes_ml(label, spacing, names),
            "pred": volumes_ml(pred, spacing, names),
        },
    }


def case_name(item: dict[str, Any], index: int) -> str:
    """The case's file stem (`spleen_12`), from MetaTensor metadata when present."""
    for key in ("image", "pred", "label"):
        meta = getattr(item.get(key), "meta", None) or {}
        name = meta.get("filename_or_obj")
        if isinstance(name, (list, tuple)):
            name = name[0] if name else None
        if name:
            stem = str(name).replace("\\", "/").rsplit("/", 1)[-1]
            for ext in (".nii.gz", ".nii", ".nrrd", ".mha", ".mhd"):
                if stem.endswith(ext):
                    return stem[: -len(ext)]
            return stem
    return f"case_{index:04d}"


class CaseRecorder:
    """Scores each case of an evaluator run (Dice and HD95 per class), with the case's
    image and label files and each class's volume (mL) in the label and the prediction, on
    the grid the scores are computed on (the prediction's, after the post-transforms).

    Also keeps, per case, the image/label/prediction slice with the largest label area
    (not whole volumes), for overlay figures.

    Args:
        class_names: names of classes 1..K (background excluded).
        keep_slices: whether to keep overlay slices.
    """

    def __init__(self, class_names: list[str], keep_slices: bool = True) -> None:
        self.class_names = class_names
        self.keep_slices = keep_slices
        self.rows: list[dict[str, Any]] = []
        self.slices: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def attach(self, engine: Any) -> None:
        from ignite.engine import Events

        engine.add_event_handler(Events.ITERATION_COMPLETED, self)

    def __call__(self, engine: Any) -> None:
        from clara_cli.report.case_metrics import case_scores

        output = engine.state.output
        items = output if isinstance(output, list) else [output]
        for item in items:
            if "label" not in item:
                continue
            pred = to_label_map(item["pred"])
            label = to_label_map(item["label"])
            spacing = spacing_of(item["pred"], pred.ndim)
            name = case_name(item, len(self.rows))
            scores = case_scores(pred, label, spacing, self.class_names)
            extras = case_files_and_volumes(item, pred, label, spacing, self.class_names)
            self.rows.append({"case": name, **scores, **extras})
            if self.keep_slices and "image" in item:
                kept = _overlay_slice(item["image"], label, pred)
                if kept is not None:
                    self.slices[name] = kept


def _overlay_slice(
    image: Any, label: np.ndarray, pred: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The slice with the largest label area; None when the image is on another grid than
    the label (post-transforms such as Invertd moved the label and prediction back to the
    input's grid, the image stays on the network's)."""
    array = image.detach().cpu().numpy() if hasattr(image, "detach") else np.asarray(image)
    if array.ndim == label.ndim + 1:
        array = array[0]
    if array.shape != label.shape:
        return None
    if label.ndim == 2:
        return array, label, pred
    area = (label > 0).sum(axis=(0, 1))
    if not area.any():
        area = (pred > 0).sum(axis=(0, 1))
    k = int(area.argmax()) if area.any() else label.shape[2] // 2
    # (x, y) planes, as `report.figures.plot_overlay(layout="monai")` expects; it orients them.
    return array[:, :, k], label[:, :, k], pred[:, :, k]
