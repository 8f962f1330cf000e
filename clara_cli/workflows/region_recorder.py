"""Per-case scores of multi-label models (one sigmoid channel per region, regions overlap).

The engine's :class:`~clara_cli.engine.case_recorder.CaseRecorder` reads predictions as
one-hot class scores (argmax), which would score BraTS's nested TC/WT/ET channels wrongly.
A validation config selects this recorder with ``"multi_label": true``; its ``class_names``
then name the output channels in order.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from clara_cli.engine.case_recorder import (
    CaseRecorder,
    case_files_and_volumes,
    case_name,
    spacing_of,
)
from clara_cli.errors import DataError


def to_region_masks(value: Any, where: str) -> np.ndarray:
    """A channel-first multi-label prediction or label as boolean masks (K, spatial...).

    Raises:
        DataError: the values are not thresholded masks (0/1): the post_transforms must
            binarise the prediction (AsDiscreted threshold=0.5) before it is scored.
    """
    array = value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
    if array.dtype != bool and not np.isin(array, (0, 1)).all():
        raise DataError(
            f"multi-label {where} must be 0/1 masks, one channel per region, but holds other "
            "values\n  end the post_transforms with AsDiscreted(keys='pred', threshold=0.5)"
        )
    return array.astype(bool)


class RegionCaseRecorder(CaseRecorder):
    """Scores each case of a multi-label evaluator run: Dice and HD95 per region.

    Keeps, per case, the image's first channel and the label and prediction region masks
    (K, x, y) on the axial slice with the largest labelled area (summed over the regions),
    for overlay figures.
    """

    def __call__(self, engine: Any) -> None:
        from clara_cli.report.case_metrics import region_scores

        output = engine.state.output
        items = output if isinstance(output, list) else [output]
        for item in items:
            if "label" not in item:
                continue
            pred = to_region_masks(item["pred"], "prediction")
            label = to_region_masks(item["label"], "label")
            spacing = spacing_of(item["pred"], pred.ndim - 1)
            name = case_name(_named_by_label(item), len(self.rows))
            scores = region_scores(pred, label, spacing, self.class_names)
            extras = case_files_and_volumes(item, pred, label, spacing, self.class_names)
            self.rows.append({"case": name, **scores, **extras})
            if self.keep_slices and "image" in item:
                self.slices[name] = _region_slice(item["image"], label, pred)


def _named_by_label(item: dict[str, Any]) -> dict[str, Any]:
    # A multi-file image carries its first channel's file name (brats_001_t1c); the label
    # file names the case (brats_001).
    meta = getattr(item["label"], "meta", None) or {}
    return {"label": item["label"]} if meta.get("filename_or_obj") else item


def _region_slice(image: Any, label: np.ndarray, pred: np.ndarray) -> tuple[Any, Any, Any]:
    array = image.detach().cpu().numpy() if hasattr(image, "detach") else np.asarray(image)
    if array.ndim == label.ndim:
        array = array[0]  # the first input channel
    if label.ndim == 3:
        return array, label, pred
    # Areas summed over the regions: the slice that shows the most of every region.
    area = label.sum(axis=(0, 1, 2))
    if not area.any():
        area = pred.sum(axis=(0, 1, 2))
    k = int(area.argmax()) if area.any() else label.shape[3] // 2
    # (x, y) planes, as `report.figures.plot_overlay(layout="monai")` expects.
    return array[:, :, k], label[:, :, :, k], pred[:, :, :, k]
