from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from clara_cli.errors import DataError
from clara_cli.io.dicom import list_dicom_series
from clara_cli.io.image import (
    image_suffix,
    read_image,
    strip_image_suffix,
    write_image,
)


def assert_same_image(a: sitk.Image, b: sitk.Image) -> None:
    assert a.GetSize() == b.GetSize()
    assert a.GetPixelID() == b.GetPixelID()
    np.testing.assert_allclose(a.GetSpacing(), b.GetSpacing(), atol=1e-5)
    np.testing.assert_allclose(a.GetOrigin(), b.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(a.GetDirection(), b.GetDirection(), atol=1e-6)
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(a), sitk.GetArrayViewFromImage(b))


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd"])
def test_round_trip_keeps_array_and_geometry(tmp_path, ct_pair, suffix):
    image, label = ct_pair
    write_image(image, tmp_path / f"ct{suffix}")
    write_image(label, tmp_path / f"label{suffix}")
    assert_same_image(read_image(tmp_path / f"ct{suffix}"), image)
    assert_same_image(read_image(tmp_path / f"label{suffix}"), label)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left


def test_suffix_helpers():
    assert image_suffix("a/b/CT.NII.GZ") == ".nii.gz"
    assert image_suffix("x.mha") == ".mha"
    assert image_suffix("x.png") is None
    assert strip_image_suffix("a/spleen_01.nii.gz") == "spleen_01"


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(DataError, match="image not found: .*nope.nii.gz"):
        read_image(tmp_path / "nope.nii.gz")


def test_unsupported_suffix_lists_formats(tmp_path):
    (tmp_path / "scan.png").write_bytes(b"\x89PNG")
    with pytest.raises(DataError, match=r"scan.png.*not a supported image file.*NIfTI"):
        read_image(tmp_path / "scan.png")


def test_corrupt_file_is_a_data_error(tmp_path):
    bad = tmp_path / "bad.nii.gz"
    bad.write_bytes(b"this is not gzip")
    with pytest.raises(DataError, match="cannot read image .*bad.nii.gz"):
        read_image(bad)


def test_failed_write_leaves_old_file_and_no_temp(tmp_path, ct_pair, monkeypatch):
    image, _ = ct_pair
    target = tmp_path / "ct.nii.gz"
    target.write_bytes(b"old")

    def broken_write(img, path, **kwargs):
        with open(path, "wb") as stream:  # a partial file, then a failure
            stream.write(b"partial")
        raise RuntimeError("sitk::ERROR: disk full")

    monkeypatch.setattr(sitk, "WriteImage", broken_write)
    with pytest.raises(DataError, match="cannot write image .*ct.nii.gz.*disk full"):
        write_image(image, target)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["ct.nii.gz"]


def test_write_rejects_unknown_suffix(tmp_path, ct_pair):
    with pytest.raises(DataError, match="unsupported suffix"):
        write_image(ct_pair[0], tmp_path / "ct.png")


def test_dicom_series_round_trip(tmp_path, ct_pair, dicom_writer):
    image, _ = ct_pair
    folder = dicom_writer(image, tmp_path / "dicom", "1.2.826.0.1.3680043.2.1125.1")
    [series] = list_dicom_series(folder)
    assert series.uid == "1.2.826.0.1.3680043.2.1125.1"
    assert series.description == "phantom"
    assert len(series.files) == image.GetDepth()
    assert_same_image(read_image(folder), image)


def test_dicom_folder_with_two_series_needs_a_uid(tmp_path, ct_pair, dicom_writer):
    image, _ = ct_pair
    folder = tmp_path / "dicom"
    dicom_writer(image, folder, "1.2.3.1")
    dicom_writer(image[:, :, :8], folder, "1.2.3.2")
    with pytest.raises(DataError, match="holds 2 DICOM series"):
        read_image(folder)
    assert read_image(folder, series_uid="1.2.3.1").GetDepth() == image.GetDepth()
    assert read_image(folder, series_uid="1.2.3.2").GetDepth() == 8
    with pytest.raises(DataError, match="no DICOM series '9.9'"):
        read_image(folder, series_uid="9.9")


def test_dicom_series_with_a_missing_slice_is_refused(tmp_path, ct_pair, dicom_writer, capfd):
    image, _ = ct_pair
    folder = dicom_writer(image, tmp_path / "dicom", "1.2.3.7")
    (folder / "1.2.3.7_005.dcm").unlink()  # a gap: ITK would read 15 slices as if evenly spaced
    with pytest.raises(
        DataError, match="(?s)1.2.3.7.*uneven slice spacing.*is a slice file missing"
    ):
        read_image(folder)
    assert "WARNING" not in capfd.readouterr().err  # ITK's C++ warning is replaced, not added


def test_empty_folder_is_not_a_series(tmp_path):
    with pytest.raises(DataError, match="no DICOM series in folder"):
        read_image(tmp_path)


def test_first_line_of_sitk_errors():
    from clara_cli.errors import first_line

    err = RuntimeError("Exception thrown in X: /a/b.cxx:9:\nsitk::ERROR: The file is bad.")
    assert first_line(err) == "The file is bad."
    assert first_line(RuntimeError("\n  first\nsecond")) == "first"
    assert first_line(KeyError()) == "KeyError"


def test_a_nifti_written_as_metaimage_prints_no_itk_warnings(tmp_path, capfd):
    nifti = tmp_path / "scan.nii.gz"
    sitk.WriteImage(sitk.Image(8, 8, 4, sitk.sitkInt16), str(nifti))
    image = read_image(nifti)  # carries NIfTI's empty descrip/aux_file and its qto_xyz matrix
    capfd.readouterr()

    write_image(image, tmp_path / "scan.mha")
    write_image(image, tmp_path / "scan.mhd")

    assert "MetaImageIO" not in capfd.readouterr().err  # ITK writes to the C stderr
    assert_same_image(read_image(tmp_path / "scan.mha"), image)
