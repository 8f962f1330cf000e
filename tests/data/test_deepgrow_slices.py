from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk

from clara_cli.data.deepgrow import parse_pixdim, prepare_deepgrow
from clara_cli.data.slices import extract_slices
from clara_cli.errors import DataError


@pytest.fixture
def multi_label_root(tmp_path, make_ct_pair):
    """Four cases with labels {0, 1, 2}: a sphere (1) and a box in the first slices (2)."""
    root = tmp_path / "Task98"
    (root / "imagesTr").mkdir(parents=True)
    (root / "labelsTr").mkdir()
    for i in range(1, 5):
        image, label = make_ct_pair(seed=i)
        array = sitk.GetArrayFromImage(label)
        array[1:4, 2:6, 2:6] = 2
        labels = sitk.GetImageFromArray(array)
        labels.CopyInformation(label)
        sitk.WriteImage(image, str(root / "imagesTr" / f"c{i}.nii.gz"))
        sitk.WriteImage(labels, str(root / "labelsTr" / f"c{i}.nii.gz"))
    return root


def test_deepgrow_3d_one_binary_volume_per_label(multi_label_root, tmp_path):
    report = prepare_deepgrow(multi_label_root, tmp_path / "dg", pixdim=[1.5], train_fraction=0.75)
    assert (report.cases, report.samples) == (4, 8)
    datalist = json.loads(report.datalist.read_text())
    entries = datalist["training"] + datalist["validation"]
    assert sorted({e["region"] for e in entries}) == [1, 2]
    assert len({e["case"] for e in datalist["validation"]}) == 1
    assert not {e["case"] for e in datalist["training"]} & {
        e["case"] for e in datalist["validation"]
    }
    for entry in entries:
        image, label = sitk.ReadImage(entry["image"]), sitk.ReadImage(entry["label"])  # absolute
        np.testing.assert_allclose(image.GetSpacing(), (1.5, 1.5, 1.5))
        assert image.GetSize() == label.GetSize() and image.GetOrigin() == label.GetOrigin()
        values = set(np.unique(sitk.GetArrayFromImage(label)))
        assert values == {0, 1} and label.GetPixelID() == sitk.sitkUInt8


def test_deepgrow_2d_slices_where_each_label_is_present(multi_label_root, tmp_path):
    out = tmp_path / "dg2"
    report = prepare_deepgrow(
        multi_label_root, out, dimensions=2, pixdim=[1.0, 1.0], limit=2, relative_path=True
    )
    datalist = json.loads(report.datalist.read_text())
    entries = datalist["training"] + datalist["validation"]
    assert {e["case"] for e in entries} == {"c1", "c2"}
    assert not entries[0]["image"].startswith("/")
    # region 2 sits in 3 source slices of 2.5 mm: z spacing is kept in 2D, so 3 slices per case
    assert sum(e["region"] == 2 for e in entries if e["case"] == "c1") == 3
    for entry in entries:
        label = sitk.ReadImage(str(out / entry["label"]))
        assert label.GetDimension() == 2
        assert sitk.GetArrayFromImage(label).any()
        np.testing.assert_allclose(sitk.ReadImage(str(out / entry["image"])).GetSpacing(), (1, 1))


def test_parse_pixdim():
    assert parse_pixdim(None, 3) == (1.0, 1.0, 1.0)
    assert parse_pixdim([2], 2) == (2.0, 2.0, None)
    assert parse_pixdim([1, 1, 3], 3) == (1.0, 1.0, 3.0)
    with pytest.raises(DataError, match="1 or 3 values for 3D"):
        parse_pixdim([1, 2], 3)


def test_slices_keep_a_fraction_of_empty_ones(multi_label_root, tmp_path):
    all_slices = extract_slices(multi_label_root, tmp_path / "all")
    assert all_slices.slices == 4 * 16 and all_slices.empty_dropped == 0
    labelled = extract_slices(multi_label_root, tmp_path / "some", empty_fraction=0.0)
    datalist = json.loads(labelled.datalist.read_text())
    entries = datalist["training"] + datalist["validation"]
    assert len(entries) == labelled.slices == 64 - labelled.empty_dropped
    for entry in entries:
        label = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "some" / entry["label"])))
        assert label.shape == (20, 24) and label.any()
    # same seed, same choice of empty slices
    half_a = extract_slices(multi_label_root, tmp_path / "a", empty_fraction=0.5, seed=4)
    half_b = extract_slices(multi_label_root, tmp_path / "b", empty_fraction=0.5, seed=4)
    assert half_a.datalist.read_text() == half_b.datalist.read_text()


def test_slices_along_x_keep_the_other_axes(multi_label_root, tmp_path):
    report = extract_slices(multi_label_root, tmp_path / "x", axis=0)
    assert report.slices == 4 * 24
    entry = json.loads(report.datalist.read_text())["training"][0]
    image = sitk.ReadImage(str(tmp_path / "x" / entry["image"]))
    assert image.GetSize() == (20, 16)
    np.testing.assert_allclose(image.GetSpacing(), (0.8, 2.5))


def test_outputs_refuse_a_non_empty_folder(multi_label_root, tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x.txt").write_text("mine")
    with pytest.raises(DataError, match="not empty"):
        extract_slices(multi_label_root, tmp_path / "busy")
    with pytest.raises(DataError, match="not empty"):
        prepare_deepgrow(multi_label_root, tmp_path / "busy")
