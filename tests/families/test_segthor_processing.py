"""SegTHOR data processing: auto crop around the body centre, CT windows, largest component."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from clara_cli.families.segthor.crop import BodyCentreCropd, body_centre, box_around
from clara_cli.families.segthor.postprocess import (
    LargestComponentPerOrgand,
    keep_largest_per_organ,
)
from clara_cli.families.segthor.windowing import (
    MaskWindowd,
    WindowRule,
    apply_windows,
    organ_windows,
)


def _ct(shape=(60, 50, 8), centre=(35.0, 20.0), radii=(12, 9)):
    """Air, an elliptic 'body' (0 HU) at a known in-plane centre, and a bright table."""
    x, y = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    body = ((x - centre[0]) / radii[0]) ** 2 + ((y - centre[1]) / radii[1]) ** 2 <= 1
    volume = np.full(shape, -1000.0, dtype=np.float32)
    volume[body] = 0.0
    volume[:, 45:47, :] = 300.0  # table: brighter, separate, must not move the centre
    return volume[None]


def test_body_centre_ignores_the_table():
    centre = body_centre(_ct())
    assert centre[0] == pytest.approx(35.0, abs=0.01) and centre[1] == pytest.approx(20.0, abs=0.01)
    with pytest.raises(ValueError, match="at or below -500.0 HU"):
        body_centre(np.full((1, 4, 4, 4), -1000.0))
    with pytest.raises(ValueError, match="intensity normalisation"):
        body_centre(np.random.default_rng(0).uniform(0, 1, (1, 4, 4, 4)))


def test_box_around_keeps_whole_axes():
    assert box_around((35.0, 20.0, 3.5), (32, 16, -1), (60, 50, 8)) == ([19, 12, 0], [51, 28, 8])


def test_crop_follows_the_body_and_pads_outside():
    affine = torch.diag(torch.tensor([2.0, 2.0, 3.0, 1.0]))
    affine[:3, 3] = torch.tensor([-10.0, 5.0, 7.0])
    image = MetaTensor(torch.as_tensor(_ct()), affine=affine)
    label = MetaTensor((image > -500).float(), affine=affine)
    out = BodyCentreCropd(["image", "label"], roi_size=(32, 48, -1), pad_value=[-1024, 0])(
        {"image": image, "label": label}
    )
    assert out["image"].shape == (1, 32, 48, 8) and out["label"].shape == (1, 32, 48, 8)
    # x: start 19 (inside); y: start -4 (4 rows of padding), so voxel (0, 0) sits at (19, -4)
    assert torch.allclose(
        out["image"].affine[:3, 3], torch.tensor([-10.0 + 38, 5.0 - 8, 7.0]).double()
    )
    assert (out["image"][0, :, :4] == -1024).all() and (out["label"][0, :, :4] == 0).all()
    # the body is centred in the box
    body = np.argwhere(out["label"][0, :, :, 0].numpy() > 0)
    assert body.mean(axis=0) == pytest.approx([15.5, 23.5], abs=0.6)
    assert torch.equal(out["image"][0, 16, 24:], image[0, 35, 20:44])


def test_windows_from_known_hu_inside_masks():
    hu = torch.full((1, 10, 10, 4), -1000.0)
    mask = torch.zeros(1, 10, 10, 4, dtype=torch.int64)
    mask[0, :5, :2] = 1
    hu[0, :5, 0], hu[0, :5, 1] = 0.0, 100.0  # organ 1: half 0 HU, half 100 HU
    mask[0, 6:, 6:] = 2
    hu[0, 6:, 6:] = 40.0  # organ 2: uniform
    rule = WindowRule(width_sigmas=3.0, min_width=80.0, fallback=(40.0, 400.0))
    windows = organ_windows(hu, mask, [1, 2, 3], rule)
    # mean 50, sd 50 -> width 2 x 3 x 50; uniform -> min width; absent organ 3 -> fallback
    assert windows == [(50.0, 300.0), (40.0, 80.0), (40.0, 400.0)]
    channels = apply_windows(torch.tensor([[-100.0, 50.0, 200.0, 400.0]]), windows)
    assert channels.shape == (3, 4)
    assert torch.allclose(channels[0], torch.tensor([0.0, 0.5, 1.0, 1.0]))
    assert torch.allclose(channels[1], torch.tensor([0.0, 0.625, 1.0, 1.0]))
    assert torch.allclose(channels[2], torch.tensor([0.15, 0.525, 0.9, 1.0]))


def test_mask_window_transform_makes_one_channel_per_organ():
    hu = MetaTensor(torch.linspace(-200, 300, 6 * 6 * 3).reshape(1, 6, 6, 3))
    label = torch.zeros(1, 6, 6, 3)
    label[0, :3] = 1
    label[0, 3:] = 2
    out = MaskWindowd("image", organs=[1, 2, 3, 4])({"image": hu, "label": label})
    assert out["image"].shape == (4, 6, 6, 3) and isinstance(out["image"], MetaTensor)
    assert torch.equal(out["label"], label)
    expected = apply_windows(hu, organ_windows(hu, label, [1, 2, 3, 4]))
    assert torch.allclose(out["image"], expected)
    with pytest.raises(KeyError, match="two-stage inferer"):
        MaskWindowd("image")({"image": hu})
    with pytest.raises(ValueError, match="positive"):
        WindowRule(min_width=0.0)


def test_largest_component_per_organ():
    label = torch.zeros(1, 12, 12, 4, dtype=torch.int64)
    label[0, 1:5, 1:5, 1:3] = 1  # big
    label[0, 9, 9, 3] = 1  # island
    label[0, 7:9, 1:3] = 2
    cleaned = keep_largest_per_organ(label, [1, 2])
    assert (cleaned == 1).sum() == 32 and (cleaned == 2).sum() == 16 and cleaned[0, 9, 9, 3] == 0
    onehot = torch.nn.functional.one_hot(label[0], 3).permute(3, 0, 1, 2).float()
    out = LargestComponentPerOrgand("pred", organs=[1, 2])({"pred": MetaTensor(onehot)})["pred"]
    assert isinstance(out, MetaTensor) and out.dtype == torch.float32
    assert torch.equal(out.argmax(0), cleaned[0]) and torch.equal(out.sum(0), torch.ones(12, 12, 4))
