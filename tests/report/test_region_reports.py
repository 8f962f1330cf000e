"""Multi-label (region) scores and overlays: channels that overlap, like BraTS's TC/WT/ET."""

from __future__ import annotations

import math

import numpy as np
import pytest

from clara_cli.errors import DataError
from clara_cli.report.case_metrics import region_scores
from clara_cli.report.figures import _structures, plot_overlay

NAMES = ["TC", "WT", "ET"]


def _nested(shift: int = 0) -> np.ndarray:
    masks = np.zeros((3, 20, 20, 10), dtype=bool)
    masks[1, 4 + shift : 16 + shift, 4:16, 2:8] = True  # WT
    masks[0, 7 + shift : 13 + shift, 7:13, 3:7] = True  # TC inside WT
    masks[2, 8 + shift : 12 + shift, 8:12, 4:6] = True  # ET inside TC
    return masks


def test_each_overlapping_region_is_scored_on_its_own():
    label = _nested()
    pred = label.copy()
    pred[2] = False  # ET missed; TC and WT exact
    scores = region_scores(pred, label, (1.0, 1.0, 1.0), NAMES)
    assert list(scores["dice"]) == NAMES
    assert scores["dice"]["TC"] == 1.0 and scores["dice"]["WT"] == 1.0
    assert scores["dice"]["ET"] == 0.0 and math.isnan(scores["hd95"]["ET"])
    shifted = region_scores(_nested(shift=2), label, (2.0, 1.0, 1.0), NAMES)
    # A 2-voxel shift along x at 2 mm: TC's 6 rows overlap on 4 (Dice 2/3), boundary 4 mm off.
    assert shifted["dice"]["TC"] == pytest.approx(2 / 3)
    assert shifted["hd95"]["TC"] == pytest.approx(4.0)


def test_region_scores_need_one_binary_channel_per_name():
    label = _nested()
    with pytest.raises(DataError, match="one channel per region"):
        region_scores(label[:2], label[:2], (1, 1, 1), NAMES)
    with pytest.raises(DataError, match="shapes differ"):
        region_scores(label, label[:, :10], (1, 1, 1), NAMES)
    with pytest.raises(DataError, match="outside the classes 0..1"):
        region_scores(label * 2, label, (1, 1, 1), NAMES)


def test_region_overlay_outlines_every_region(tmp_path):
    label = _nested()
    image = np.random.default_rng(0).normal(size=label.shape[1:])
    path = plot_overlay(image, label, _nested(1), tmp_path / "o.png", "case", class_names=NAMES)
    assert path.stat().st_size > 0
    plane_label, plane_pred = label[:, :, :, 5], _nested(1)[:, :, :, 5]
    structures = _structures(plane_label, plane_pred, None, NAMES)
    assert [name for name, _, _ in structures] == NAMES
    # Regions overlap: the WT outline holds the TC one, unlike one-hot classes.
    assert (structures[1][1] & structures[0][1]).sum() == structures[0][1].sum() > 0


def test_region_overlay_checks_the_stack_shape(tmp_path):
    label = _nested()
    with pytest.raises(ValueError, match="region"):
        plot_overlay(np.zeros((20, 20, 9)), label, label, tmp_path / "o.png", "case")
