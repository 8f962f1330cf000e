from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from clara_cli.errors import DataError
from clara_cli.families.spleen.phantom import PhantomOptions, make_spleen_phantom, synthesize_spleen

SMALL = PhantomOptions(in_plane_size=48)


def arrays(folder, name):
    image = sitk.ReadImage(str(folder / "imagesTr" / name))
    label = sitk.ReadImage(str(folder / "labelsTr" / name))
    return image, label


def test_same_seed_gives_identical_arrays():
    a_img, a_lab = make_spleen_phantom((3, 1), SMALL)
    b_img, b_lab = make_spleen_phantom((3, 1), SMALL)
    c_img, _ = make_spleen_phantom((4, 1), SMALL)
    assert sitk.GetArrayFromImage(a_img).tobytes() == sitk.GetArrayFromImage(b_img).tobytes()
    assert sitk.GetArrayFromImage(a_lab).tobytes() == sitk.GetArrayFromImage(b_lab).tobytes()
    assert a_img.GetOrigin() == b_img.GetOrigin()
    assert sitk.GetArrayFromImage(a_img).shape != sitk.GetArrayFromImage(c_img).shape or not (
        np.array_equal(sitk.GetArrayFromImage(a_img), sitk.GetArrayFromImage(c_img))
    )


@pytest.mark.parametrize("case", range(1, 7))
def test_phantom_is_ct_like(case):
    image, label = make_spleen_phantom((0, case))
    hu = sitk.GetArrayFromImage(image)
    spleen = sitk.GetArrayFromImage(label)
    assert hu.dtype == np.int16 and spleen.dtype == np.uint8
    assert set(np.unique(spleen)) == {0, 1}
    # air in the corners, bone present but bounded, spleen contrast-enhanced
    corners = hu[:, :8, :8]
    assert -1030 < corners.mean() < -970 and 10 < corners.std() < 30
    assert hu.min() >= -1024 and 450 < hu.max() < 1100
    core = sitk.GetArrayFromImage(sitk.BinaryErode(label, [2, 2, 1])) == 1
    assert 105 < hu[core].mean() < 145
    # a learnable spleen: several ml, and sized 15-40 mm in-plane
    voxel_ml = np.prod(image.GetSpacing()) / 1000
    assert 10 < spleen.sum() * voxel_ml < 80
    # geometry as specified, identical for image and label
    sx, sy, sz = image.GetSpacing()
    assert sx == sy and 0.7 <= sx <= 0.9 and 2.5 <= sz <= 5.0
    assert image.GetSize()[:2] == (128, 128)
    assert 85 <= image.GetSize()[2] * sz <= 125
    for getter in ("GetSize", "GetSpacing", "GetOrigin", "GetDirection"):
        assert getattr(image, getter)() == getattr(label, getter)()


def test_some_cases_have_flipped_axes():
    directions = {make_spleen_phantom((0, i), SMALL)[0].GetDirection() for i in range(1, 13)}
    assert (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0) in directions
    assert len(directions) > 1


def test_spleen_is_on_the_patients_left_whatever_the_direction():
    for i in range(1, 9):
        _, label = make_spleen_phantom((0, i), SMALL)
        stats = sitk.LabelShapeStatisticsImageFilter()
        stats.Execute(label)
        centre = np.array(stats.GetCentroid(1))
        size = np.array(label.GetSize()) - 1
        volume_centre = np.array(label.TransformContinuousIndexToPhysicalPoint((size / 2).tolist()))
        assert centre[0] > volume_centre[0] + 5  # LPS: +x is the patient's left


def test_dataset_layout_and_datalist(tmp_path):
    datalist_path = synthesize_spleen(tmp_path / "spleen", num_cases=5, seed=1, options=SMALL)
    root = tmp_path / "spleen"
    assert datalist_path == root / "dataset_0.json"
    msd = json.loads((root / "dataset.json").read_text())
    assert msd["modality"] == {"0": "CT"}
    assert msd["labels"] == {"0": "background", "1": "spleen"}
    assert msd["numTraining"] == 5
    assert msd["training"][0] == {
        "image": "./imagesTr/spleen_01.nii.gz",
        "label": "./labelsTr/spleen_01.nii.gz",
    }
    datalist = json.loads(datalist_path.read_text())
    assert (len(datalist["training"]), len(datalist["validation"])) == (4, 1)
    names = [item["image"] for item in datalist["training"] + datalist["validation"]]
    assert sorted(names) == [f"imagesTr/spleen_{i:02d}.nii.gz" for i in range(1, 6)]
    for item in datalist["training"] + datalist["validation"]:
        assert (root / item["image"]).is_file() and (root / item["label"]).is_file()
    image, label = arrays(root, "spleen_03.nii.gz")
    assert image.GetPixelID() == sitk.sitkInt16 and label.GetPixelID() == sitk.sitkUInt8
    # deterministic: a second dataset with the same seed has the same split and bytes
    again = synthesize_spleen(tmp_path / "again", num_cases=5, seed=1, options=SMALL)
    assert json.loads(again.read_text()) == datalist
    first, _ = arrays(tmp_path / "again", "spleen_03.nii.gz")
    assert np.array_equal(sitk.GetArrayFromImage(first), sitk.GetArrayFromImage(image))


def test_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match="not empty"):
        synthesize_spleen(tmp_path, num_cases=2, options=SMALL)
    synthesize_spleen(tmp_path, num_cases=2, options=SMALL, overwrite=True)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert (tmp_path / "dataset_0.json").is_file()


def test_needs_two_cases(tmp_path):
    with pytest.raises(DataError, match="at least 2 cases"):
        synthesize_spleen(tmp_path, num_cases=1)
