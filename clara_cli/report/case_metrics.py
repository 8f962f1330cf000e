"""Per-case segmentation scores: Dice and 95th-percentile Hausdorff distance (HD95) in mm.

Conventions for empty structures (a class absent from the prediction and/or the label):

=====================  ==========  ==========
prediction / label     Dice        HD95
=====================  ==========  ==========
both non-empty         MONAI       MONAI, in mm
both empty             1.0         NaN
exactly one empty      0.0         NaN
=====================  ==========  ==========

HD95 is undefined when either surface is missing, so it is NaN rather than an arbitrary
large number; `clara_cli.report.tables.summarize` leaves NaN out of the means and counts it.
Dice is never NaN: an empty prediction of an absent structure is a correct answer (1.0), and
missing or hallucinating a structure is a complete miss (0.0).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import TypedDict

import numpy as np
import torch
from monai.metrics import compute_dice, compute_hausdorff_distance

from clara_cli.errors import DataError


class CaseScores(TypedDict):
    """Scores of one case, keyed by class name. A row of the report adds ``"case": str``."""

    dice: dict[str, float]
    hd95: dict[str, float]


def case_scores(
    pred: np.ndarray,
    label: np.ndarray,
    spacing: Sequence[float],
    class_names: Sequence[str],
) -> CaseScores:
    """Compute Dice and HD95 (mm) per foreground class for one case.

    Args:
        pred: integer label map predicted by the model, spatial shape only (2D or 3D, no
            channel axis); 0 is background, 1..K are the classes.
        label: ground-truth integer label map of the same shape.
        spacing: voxel size in mm for each axis, in the same axis order as the arrays. Note
            that SimpleITK's ``GetSpacing()`` is (x, y, z) while ``GetArrayFromImage`` is
            (z, y, x): reverse it for such arrays.
        class_names: names of classes 1..K, in order (``class_names[0]`` is label value 1).

    Returns:
        ``{"dice": {name: float}, "hd95": {name: float}}``, see the module docstring for the
        conventions on empty structures.

    Raises:
        DataError: shapes differ, spacing has the wrong length, or a map holds values
            outside 0..K.

    Example:
        >>> row = {"case": "spleen_3", **case_scores(pred, label, (0.8, 0.8, 2.5), ["spleen"])}
    """
    pred = np.asarray(pred)
    label = np.asarray(label)
    num_classes = len(class_names)
    _check_inputs(pred, label, spacing, class_names)

    pred_onehot = _one_hot(pred, num_classes)
    label_onehot = _one_hot(label, num_classes)
    # ignore_empty=False gives MONAI's own 1.0 (both empty) / 0.0 (one empty) convention.
    dice = compute_dice(pred_onehot, label_onehot, include_background=False, ignore_empty=False)

    dice_by_class: dict[str, float] = {}
    hd95_by_class: dict[str, float] = {}
    for index, name in enumerate(class_names):
        pred_empty = not bool(pred_onehot[0, index + 1].any())
        label_empty = not bool(label_onehot[0, index + 1].any())
        dice_by_class[name] = float(dice[0, index])
        if pred_empty or label_empty:
            hd95_by_class[name] = math.nan
        else:
            hd95_by_class[name] = _hd95(pred_onehot, label_onehot, index + 1, spacing)
    return {"dice": dice_by_class, "hd95": hd95_by_class}


def _check_inputs(
    pred: np.ndarray, label: np.ndarray, spacing: Sequence[float], class_names: Sequence[str]
) -> None:
    num_classes = len(class_names)
    if num_classes < 1:
        raise DataError("case_scores needs at least one class name, not an empty list")
    if pred.shape != label.shape:
        raise DataError(
            f"prediction and label shapes differ: {pred.shape} vs {label.shape}\n"
            "  resample the prediction onto the label grid (Invertd) before scoring"
        )
    if pred.ndim not in (2, 3):
        raise DataError(
            f"label maps must be 2D or 3D without a channel axis, not shape {pred.shape}"
        )
    if len(spacing) != pred.ndim:
        raise DataError(f"spacing must have one value per axis ({pred.ndim}), not {tuple(spacing)}")
    for what, array in (("prediction", pred), ("label", label)):
        values = np.unique(array)
        bad = values[(values < 0) | (values > num_classes) | (values != np.round(values))]
        if bad.size:
            raise DataError(
                f"{what} holds values {bad[:5].tolist()} outside the classes 0..{num_classes}\n"
                f"  class names given: {list(class_names)}; "
                "pass one name per foreground label value (1..K)"
            )


def _one_hot(label_map: np.ndarray, num_classes: int) -> torch.Tensor:
    values = torch.as_tensor(label_map.astype(np.int64))
    onehot = torch.nn.functional.one_hot(values, num_classes + 1)
    # (spatial..., C) -> (1, C, spatial...): MONAI metrics want batch and channel first.
    return onehot.movedim(-1, 0).unsqueeze(0).float()


def _hd95(
    pred_onehot: torch.Tensor,
    label_onehot: torch.Tensor,
    channel: int,
    spacing: Sequence[float],
) -> float:
    channels = [0, channel]
    with warnings.catch_warnings():
        # MONAI 1.5+ warns about its own internal use of a deprecated argument.
        warnings.filterwarnings("ignore", message=".*always_return_as_numpy")
        distance = compute_hausdorff_distance(
            pred_onehot[:, channels],
            label_onehot[:, channels],
            include_background=False,
            percentile=95,
            spacing=[float(value) for value in spacing],
        )
    return float(distance[0, 0])


def region_scores(
    pred: np.ndarray,
    label: np.ndarray,
    spacing: Sequence[float],
    region_names: Sequence[str],
) -> CaseScores:
    """Dice and HD95 (mm) per region of a multi-label case (regions may overlap).

    Each region is scored on its own as a binary mask, with the conventions of
    :func:`case_scores` for empty structures (BraTS's TC/WT/ET are nested, so a voxel of ET
    counts in all three).

    Args:
        pred: predicted masks, one channel per region: shape (K, spatial...), values 0/1.
        label: ground-truth masks of the same shape.
        spacing: voxel size in mm per spatial axis.
        region_names: names of the K channels, in order.

    Raises:
        DataError: shapes differ, the channel count is not K, or a mask is not binary.

    Example:
        >>> row = {"case": "brats_007", **region_scores(pred, label, (1, 1, 1), ["TC", "WT", "ET"])}
    """
    pred = np.asarray(pred)
    label = np.asarray(label)
    if pred.shape != label.shape:
        raise DataError(f"prediction and label shapes differ: {pred.shape} vs {label.shape}")
    if pred.ndim < 1 or pred.shape[0] != len(region_names):
        raise DataError(
            f"expected one channel per region {list(region_names)}, not shape {pred.shape}\n"
            "  class_names must name every output channel of a multi-label model, in order"
        )
    scores: CaseScores = {"dice": {}, "hd95": {}}
    for index, name in enumerate(region_names):
        one = case_scores(pred[index], label[index], spacing, [name])
        scores["dice"][name] = one["dice"][name]
        scores["hd95"][name] = one["hd95"][name]
    return scores
