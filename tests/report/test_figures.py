from __future__ import annotations

import math
import struct

import numpy as np
import pytest

from clara_cli.report.figures import (
    plot_case_dice,
    plot_overlay,
    plot_train_curves,
    select_overlay_slice,
)


def _png_size(path):
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


def _rows(count):
    rng = np.random.default_rng(0)
    return [
        {"case": f"case_{i:03d}", "dice": {"a": float(rng.uniform()), "b": float(rng.uniform())}}
        for i in range(count)
    ]


def test_case_dice_chart_widens_with_the_number_of_cases(tmp_path):
    small = plot_case_dice(_rows(3), tmp_path / "small.png")
    large = plot_case_dice(_rows(50), tmp_path / "large.png")
    small_width, small_height = _png_size(small)
    large_width, _ = _png_size(large)
    assert small_width >= 600 and small_height >= 450
    assert large_width > 2 * small_width


def test_overlay_png_for_3d_2d_and_empty_inputs(tmp_path):
    image = np.random.default_rng(0).normal(size=(20, 16, 8)).astype(np.float32)
    label = np.zeros(image.shape, dtype=np.uint8)
    label[5:10, 4:9, 3] = 1
    pred = np.roll(label, 1, axis=0)
    paths = [
        plot_overlay(image, label, pred, tmp_path / "o3d.png", "case 3D  Dice 0.8"),
        plot_overlay(image[..., 3], label[..., 3], pred[..., 3], tmp_path / "o2d.png", "2D"),
        plot_overlay(image, 0 * label, 0 * pred, tmp_path / "empty.png", "empty"),
        plot_overlay(
            image, label, pred, tmp_path / "sitk.png", "sitk", layout="sitk", spacing=(2, 1, 1)
        ),
    ]
    for path in paths:
        width, height = _png_size(path)
        assert width == 640 and 450 <= height <= 990


def test_overlay_figure_follows_the_slice_shape(tmp_path):
    wide = np.zeros((40, 10, 3), dtype=np.float32)  # x, y, z: a wide, flat slice
    label = np.zeros(wide.shape, dtype=np.uint8)
    label[10:20, 2:5, 1] = 1
    _, wide_height = _png_size(plot_overlay(wide, label, label, tmp_path / "w.png", "wide"))
    tall = np.ascontiguousarray(wide.transpose(1, 0, 2))
    tall_label = np.ascontiguousarray(label.transpose(1, 0, 2))
    _, tall_height = _png_size(plot_overlay(tall, tall_label, tall_label, tmp_path / "t.png", "t"))
    assert wide_height < tall_height


def test_ras_and_lps_arrays_of_one_volume_display_alike():
    """A MONAI (RAS, x-y-z) array and SimpleITK's (LPS, z-y-x) array of the same image give
    the same radiological picture: anterior up, the patient's right on the left."""
    from clara_cli.report.figures import _display_plane

    rng = np.random.default_rng(0)
    lps = rng.normal(size=(4, 6, 9))  # SimpleITK order (z, y, x) of an identity-direction image
    ras = np.flip(lps.transpose(2, 1, 0), axis=(0, 1))  # (x: right, y: anterior, z)
    for k in range(4):
        shown_sitk = _display_plane(lps, 0, k, "sitk")
        assert np.array_equal(_display_plane(ras, -1, k, "monai"), shown_sitk)
    # The most anterior row (largest RAS y) is drawn at the top.
    assert np.array_equal(_display_plane(ras, -1, 0, "monai")[0], ras[::-1, -1, 0])


def test_overlay_slice_is_the_largest_label_then_prediction_then_middle():
    label = np.zeros((6, 6, 10), dtype=np.uint8)
    label[1:3, 1:3, 2] = 1
    label[0:5, 0:5, 7] = 1  # the largest area
    pred = np.zeros_like(label)
    pred[:, :, 4] = 1
    assert select_overlay_slice(label, pred, axis=-1) == 7
    assert select_overlay_slice(0 * label, pred, axis=-1) == 4
    assert select_overlay_slice(0 * label, 0 * pred, axis=-1) == 5
    # along axis 0, rows 1 and 2 cut both blobs (5 + 2 voxels) and tie: the first wins
    assert select_overlay_slice(label, pred, axis=0) == 1


def test_overlay_rejects_mismatched_shapes(tmp_path):
    with pytest.raises(ValueError, match="one shape"):
        plot_overlay(np.zeros((4, 4)), np.zeros((4, 5)), np.zeros((4, 4)), tmp_path / "x.png", "x")


def test_train_curves_with_sparse_and_missing_validation(tmp_path):
    history = [
        {"epoch": e, "loss": 1.0 / e, **({"val_mean_dice": e / 10} if e % 2 == 0 else {})}
        for e in range(1, 8)
    ]
    history[2]["val_mean_dice"] = math.nan  # a NaN metric must not break the plot
    path = plot_train_curves(history, tmp_path / "ckpt" / "train_curves.png")
    assert _png_size(path) == (800, 650)
    no_validation = plot_train_curves([{"epoch": 1, "loss": 0.5}], tmp_path / "nv.png")
    assert no_validation.stat().st_size > 5000
