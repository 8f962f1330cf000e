"""BraTS regions <-> labels, and `clara infer`'s label maps from the three sigmoid channels."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from monai.data import MetaTensor
from monai.transforms import ConvertToMultiChannelBasedOnBratsClasses

from clara_cli.errors import DataError
from clara_cli.families.brats.regions import REGIONS, RegionLabelsd, regions_to_labels
from clara_cli.io.prediction import REGION_LABELS_KEY, Grid, write_prediction


def _label_map() -> np.ndarray:
    labels = np.zeros((12, 10, 8), dtype=np.uint8)
    labels[2:10, 2:8, 1:7] = 2  # oedema
    labels[4:8, 3:7, 2:6] = 4  # enhancing rim
    labels[5:7, 4:6, 3:5] = 1  # necrotic core
    return labels


def test_monai_gives_the_regions_in_the_model_cards_order():
    regions = np.asarray(ConvertToMultiChannelBasedOnBratsClasses()(_label_map()))
    labels = _label_map()
    assert REGIONS == ("TC", "WT", "ET")
    assert np.array_equal(regions[0], np.isin(labels, (1, 4)))  # tumour core
    assert np.array_equal(regions[1], labels > 0)  # whole tumour
    assert np.array_equal(regions[2], labels == 4)  # enhancing tumour


def test_regions_back_to_brats_labels_by_the_nesting_rule():
    labels = _label_map()
    regions = np.asarray(ConvertToMultiChannelBasedOnBratsClasses()(labels)).astype(np.float32)
    assert np.array_equal(regions_to_labels(regions), labels)
    # Probabilities threshold at 0.5; ET wins over TC, TC over WT where they overlap.
    probabilities = np.zeros((3, 1, 1, 4), dtype=np.float32)
    probabilities[:, 0, 0, 0] = (0.2, 0.9, 0.1)  # WT only: oedema
    probabilities[:, 0, 0, 1] = (0.7, 0.9, 0.3)  # TC in WT: necrotic core
    probabilities[:, 0, 0, 2] = (0.7, 0.9, 0.8)  # ET: enhancing
    probabilities[:, 0, 0, 3] = (0.4, 0.4, 0.4)  # nothing
    assert regions_to_labels(probabilities)[0, 0].tolist() == [2, 1, 4, 0]


def _grid(shape: tuple[int, ...]) -> Grid:
    # An LPS-flipped grid (RAS-stored array), as many BraTS NIfTI files are.
    return Grid(shape, (1.0, 1.0, 1.0), (10.0, -5.0, 3.0), (-1, 0, 0, 0, -1, 0, 0, 0, 1))


def _marked_prediction(shape: tuple[int, ...]) -> MetaTensor:
    regions = ConvertToMultiChannelBasedOnBratsClasses()(_label_map()).astype(np.float32)
    pred = MetaTensor(torch.as_tensor(regions * 0.8 + 0.1), affine=_grid(shape).ras_affine)
    return RegionLabelsd(keys="pred")({"pred": pred})["pred"]


def test_infer_writes_a_brats_label_map_and_the_probabilities(tmp_path):
    shape = (12, 10, 8)
    pred = _marked_prediction(shape)
    assert pred.meta[REGION_LABELS_KEY] == [[1, 2], [0, 1], [2, 4]]
    seg, prob = write_prediction(
        pred, _grid(shape), tmp_path / "c_seg.nii.gz", tmp_path / "c_prob.nii.gz"
    )
    written = sitk.ReadImage(str(seg))
    assert written.GetPixelID() == sitk.sitkUInt8
    assert written.GetDirection() == (-1, 0, 0, 0, -1, 0, 0, 0, 1)
    # ITK arrays are (z, y, x); the prediction is (x, y, z).
    assert np.array_equal(sitk.GetArrayFromImage(written).transpose(2, 1, 0), _label_map())
    soft = sitk.ReadImage(str(prob))
    assert soft.GetNumberOfComponentsPerPixel() == 3
    values = sitk.GetArrayFromImage(soft)
    assert np.isclose(values.min(), 0.1) and np.isclose(values.max(), 0.9)


def test_a_resampled_region_prediction_keeps_the_rule(tmp_path):
    shape = (12, 10, 8)
    pred = _marked_prediction(shape)
    finer = Grid((24, 20, 16), (0.5, 0.5, 0.5), (9.75, -5.25, 2.75), _grid(shape).direction)
    seg, _ = write_prediction(pred, finer, tmp_path / "c_seg.nii.gz")
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(seg)))
    assert set(np.unique(labels).tolist()) == {0, 1, 2, 4}
    # Twice as fine on every axis: 8 output voxels per input voxel of each label.
    for value in (1, 2, 4):
        assert (
            abs((labels == value).sum() - 8 * (_label_map() == value).sum())
            <= 0.25 * 8 * (_label_map() == value).sum()
        )


def test_logits_marked_as_regions_are_refused(tmp_path):
    shape = (12, 10, 8)
    pred = _marked_prediction(shape) * 8.0 - 4.0  # logits, not probabilities
    with pytest.raises(DataError, match=r"probabilities or masks in \[0, 1\]"):
        write_prediction(pred, _grid(shape), tmp_path / "c_seg.nii.gz")


def test_region_pairs_must_name_existing_channels(tmp_path):
    shape = (12, 10, 8)
    pred = _marked_prediction(shape)
    pred.meta[REGION_LABELS_KEY] = [[3, 4]]
    with pytest.raises(DataError, match=r"channel in 0\.\.2"):
        write_prediction(pred, _grid(shape), tmp_path / "c_seg.nii.gz")
