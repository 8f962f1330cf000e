from __future__ import annotations

import math

import numpy as np
import pytest

from clara_cli.errors import DataError
from clara_cli.report.case_metrics import case_scores


def _cube(shape, corner, size, value=1):
    volume = np.zeros(shape, dtype=np.uint8)
    slices = tuple(slice(c, c + s) for c, s in zip(corner, size, strict=True))
    volume[slices] = value
    return volume


def test_dice_known_answer_for_half_overlap():
    label = _cube((10, 10, 10), (2, 2, 2), (4, 4, 4))
    pred = _cube((10, 10, 10), (2, 2, 4), (4, 4, 4))  # shifted by 2 along the last axis
    scores = case_scores(pred, label, (1.0, 1.0, 1.0), ["organ"])
    # overlap 4*4*2 = 32 voxels of 64 each: Dice = 2*32 / 128
    assert scores["dice"]["organ"] == pytest.approx(0.5)


def test_hd95_uses_anisotropic_spacing_along_the_shifted_axis():
    label = _cube((10, 10, 12), (2, 2, 2), (2, 2, 2))
    pred = _cube((10, 10, 12), (2, 2, 6), (2, 2, 2))  # 4 voxels further along the last axis
    isotropic = case_scores(pred, label, (1.0, 1.0, 1.0), ["organ"])
    anisotropic = case_scores(pred, label, (0.7, 0.7, 2.5), ["organ"])
    assert isotropic["hd95"]["organ"] == pytest.approx(4.0)
    assert anisotropic["hd95"]["organ"] == pytest.approx(4 * 2.5)
    # the in-plane spacing does not matter for a shift along z only
    assert case_scores(pred, label, (3.0, 3.0, 2.5), ["organ"])["hd95"]["organ"] == pytest.approx(
        10.0
    )


def test_identical_maps_give_dice_one_and_hd95_zero_in_2d():
    label = _cube((16, 16), (3, 3), (5, 7))
    scores = case_scores(label, label, (0.5, 2.0), ["lesion"])
    assert scores == {"dice": {"lesion": 1.0}, "hd95": {"lesion": 0.0}}


def test_multiclass_scores_are_per_class():
    label = _cube((12, 12, 12), (1, 1, 1), (3, 3, 3), value=1) + _cube(
        (12, 12, 12), (7, 7, 7), (3, 3, 3), value=2
    )
    pred = label.copy()
    pred[pred == 2] = 0  # class 2 missed entirely
    scores = case_scores(pred, label, (1.0, 1.0, 1.0), ["liver", "tumour"])
    assert scores["dice"] == {"liver": 1.0, "tumour": 0.0}
    assert scores["hd95"]["liver"] == 0.0
    assert math.isnan(scores["hd95"]["tumour"])


@pytest.mark.parametrize(
    ("pred_empty", "label_empty", "dice"),
    [(True, True, 1.0), (True, False, 0.0), (False, True, 0.0)],
)
def test_empty_structure_conventions(pred_empty, label_empty, dice):
    blob = _cube((8, 8, 8), (2, 2, 2), (3, 3, 3))
    empty = np.zeros_like(blob)
    scores = case_scores(
        empty if pred_empty else blob, empty if label_empty else blob, (1, 1, 1), ["x"]
    )
    assert scores["dice"]["x"] == dice
    assert math.isnan(scores["hd95"]["x"])


def test_shape_mismatch_is_a_clear_error():
    with pytest.raises(DataError, match=r"shapes differ: \(4, 4\) vs \(4, 5\)"):
        case_scores(np.zeros((4, 4)), np.zeros((4, 5)), (1, 1), ["x"])


def test_values_outside_the_class_range_are_rejected():
    label = np.zeros((4, 4), dtype=np.uint8)
    label[1, 1] = 3
    with pytest.raises(DataError, match=r"label holds values \[3\] outside the classes 0..1"):
        case_scores(np.zeros((4, 4)), label, (1, 1), ["x"])


def test_spacing_length_must_match_dimensions():
    with pytest.raises(DataError, match="one value per axis"):
        case_scores(np.zeros((4, 4, 4)), np.zeros((4, 4, 4)), (1, 1), ["x"])
