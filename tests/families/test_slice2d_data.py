"""slice2d.data: on-the-fly 2D slices from 3D volumes, empty-slice weighting."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from clara_cli.families.slice2d.data import RandSlicesd, parse_axes, slice_occupancy, take_slice


def _volume(shape=(6, 7, 20), labelled=range(5, 8)):
    image = torch.arange(np.prod(shape), dtype=torch.float32).reshape(1, *shape)
    label = torch.zeros(1, *shape)
    for k in labelled:
        label[0, 2:4, 3:5, k] = 1 + k % 2
    return {"image": image, "label": label, "case": "c1"}


def test_parse_axes():
    assert parse_axes(2) == (2,)
    assert parse_axes("012") == (0, 1, 2)
    assert parse_axes([1, 0]) == (1, 0)
    for bad in (3, "00", "", "x", True):
        with pytest.raises(ValueError, match="slice axis"):
            parse_axes(bad)


def test_occupancy_per_axis():
    label = _volume()["label"]
    assert slice_occupancy(label, 2).nonzero().flatten().tolist() == [5, 6, 7]
    assert slice_occupancy(label, 0).nonzero().flatten().tolist() == [2, 3]


def test_slices_match_the_volume_and_no_empty_slice_at_fraction_zero():
    data = _volume()
    sampler = RandSlicesd(["image", "label"], axis=2, num_samples=40, empty_fraction=0.0)
    sampler.set_random_state(0)
    samples = sampler(data)
    assert len(samples) == 40
    for s in samples:
        k = s["slice_index"]
        assert s["image"].shape == (1, 6, 7) and s["slice_axis"] == 2
        assert torch.equal(torch.as_tensor(s["image"]), data["image"][..., k])
        assert torch.equal(torch.as_tensor(s["label"]), data["label"][..., k])
        assert s["label"].any() and s["case"] == "c1"


def test_empty_fraction_weights_the_empty_slices():
    # 3 labelled slices, 17 empty: at fraction f an empty slice is drawn with weight f,
    # so the expected share of empty samples is 17 f / (3 + 17 f).
    sampler = RandSlicesd(["image", "label"], num_samples=4000, empty_fraction=0.3)
    sampler.set_random_state(1)
    share = np.mean([not s["label"].any() for s in sampler(_volume())])
    assert share == pytest.approx(17 * 0.3 / (3 + 17 * 0.3), abs=0.03)


def test_axes_012_and_metatensor_affine():
    data = _volume()
    data["image"] = MetaTensor(data["image"], affine=torch.diag(torch.tensor([2.0, 3.0, 4.0, 1.0])))
    sampler = RandSlicesd(["image", "label"], axis="012", num_samples=60)
    sampler.set_random_state(2)
    samples = sampler(data)
    assert {s["slice_axis"] for s in samples} == {0, 1, 2}
    for s in samples:
        plane = [n for a, n in enumerate((6, 7, 20)) if a != s["slice_axis"]]
        assert list(s["image"].shape[1:]) == plane
        spacing = [v for a, v in enumerate((2.0, 3.0, 4.0)) if a != s["slice_axis"]]
        assert s["image"].affine.diagonal()[:2].tolist() == spacing


def test_volume_without_labels_still_yields_samples():
    sampler = RandSlicesd(["image", "label"], num_samples=3, empty_fraction=0.0)
    assert len(sampler(_volume(labelled=[]))) == 3


def test_bad_arguments_and_inputs():
    with pytest.raises(ValueError, match="empty_fraction"):
        RandSlicesd("image", empty_fraction=1.5)
    with pytest.raises(ValueError, match="slices would not match"):
        RandSlicesd(["image", "label"])(
            {"image": torch.zeros(1, 4, 4, 5), "label": torch.zeros(1, 4, 4, 4)}
        )
    with pytest.raises(ValueError, match="channel-first 3D"):
        RandSlicesd(["image", "label"])(
            {"image": torch.zeros(1, 4, 4), "label": torch.zeros(1, 4, 4)}
        )


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_take_slice_affine_is_monais(axis):
    from monai.transforms import SpatialCrop, SqueezeDim

    rotation = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    affine = torch.eye(4, dtype=torch.float64)
    affine[:3, :3] = (rotation * torch.tensor([2.0, 3.0, 4.0])).double()
    affine[:3, 3] = torch.tensor([10.0, -5.0, 7.0])
    volume = MetaTensor(torch.randn(2, 5, 6, 7), affine=affine)
    roi = [slice(None)] * 3
    roi[axis] = slice(3, 4)
    expected = SqueezeDim(dim=axis + 1)(SpatialCrop(roi_slices=roi)(volume))
    mine = take_slice(volume, axis, 3)
    assert torch.equal(mine.as_tensor(), expected.as_tensor())
    assert torch.allclose(mine.affine, expected.affine)
