"""DICOM series as scanners write them: jittered and rounded positions are read, gaps, tilt
and stacked acquisitions are refused with the real deviation in mm, outputs are named after
the patient and series."""

from __future__ import annotations

import math

import numpy as np
import pytest
import SimpleITK as sitk

from clara_cli.data.dataconvert import CONVERTED, FAILED, convert_dataset
from clara_cli.errors import DataError
from clara_cli.io.dicom import DicomSeries, list_dicom_series, series_names
from clara_cli.io.image import read_image

PATIENT, NUMBER = "0010|0020", "0020|0011"


def ideal_positions(image: sitk.Image) -> np.ndarray:
    return np.array(
        [image.TransformIndexToPhysicalPoint((0, 0, k)) for k in range(image.GetDepth())]
    )


def assert_same_volume(read: sitk.Image, image: sitk.Image, atol: float = 1e-4) -> None:
    assert read.GetSize() == image.GetSize()
    np.testing.assert_allclose(read.GetSpacing(), image.GetSpacing(), atol=atol)
    np.testing.assert_allclose(read.GetOrigin(), image.GetOrigin(), atol=atol)
    np.testing.assert_allclose(read.GetDirection(), image.GetDirection(), atol=1e-6)
    np.testing.assert_array_equal(
        sitk.GetArrayViewFromImage(read), sitk.GetArrayViewFromImage(image)
    )


def test_jittered_positions_are_read_with_the_mean_spacing(tmp_path, ct_pair, dicom_writer, capfd):
    image, _ = ct_pair
    positions = ideal_positions(image)
    positions[:, 2] += np.random.default_rng(0).uniform(-0.001, 0.001, len(positions))
    folder = dicom_writer(image, tmp_path / "d", "1.2.3.1", positions=positions)
    assert_same_volume(read_image(folder), image, atol=2e-3)
    assert "WARNING" not in capfd.readouterr().err


def test_positions_rounded_to_two_decimals_are_read(tmp_path, make_ct_pair, dicom_writer):
    image, _ = make_ct_pair(size=(12, 10, 10))
    image.SetSpacing((0.8, 0.8, 10 / 3))  # 3.33 / 3.34 mm steps once rounded
    folder = dicom_writer(image, tmp_path / "d", "1.2.3.2", decimals=2)
    steps = np.diff([float(p) for p in sorted({round(7.25 - k * 10 / 3, 2) for k in range(10)})])
    assert {round(abs(s), 2) for s in steps} == {3.33, 3.34}
    assert_same_volume(read_image(folder), image, atol=6e-3)


def test_files_numbered_against_the_slice_order_give_the_same_volume(
    tmp_path, ct_pair, dicom_writer
):
    image, _ = ct_pair
    folder = dicom_writer(image, tmp_path / "d", "1.2.3.3", reverse_files=True)
    first = sitk.ReadImage(str(sorted(folder.iterdir())[0]))  # instance 1: the last slice
    position = [float(v) for v in first.GetMetaData("0020|0032").split("\\")]
    np.testing.assert_allclose(position, ideal_positions(image)[-1], atol=1e-5)
    assert_same_volume(read_image(folder), image)


def test_a_missing_slice_is_refused_with_the_real_deviation(tmp_path, ct_pair, dicom_writer):
    image, _ = ct_pair
    folder = dicom_writer(image, tmp_path / "d", "1.2.3.4")
    (folder / "1.2.3.4_007.dcm").unlink()
    with pytest.raises(DataError) as caught:
        read_image(folder)
    message = str(caught.value)
    assert "UNKNOWN" not in message
    # 15 slices over 15 steps of 2.5 mm: the mean is 37.5 / 14; the gap is 5 mm.
    mean = 37.5 / 14
    assert (
        f"from 1.2.3.4_006.dcm to 1.2.3.4_008.dcm is 5 mm where the series averages {mean:.4g} mm"
        in message
    )
    assert f"deviates by {5 - mean:.4g} mm" in message
    assert "is a slice file missing?" in message
    with pytest.raises(DataError, match="uneven slice spacing"):  # no tolerance hides a gap
        read_image(folder, spacing_tolerance=0.5)


def test_the_tolerance_decides_for_uneven_steps(tmp_path, ct_pair, dicom_writer):
    image, _ = ct_pair
    positions = ideal_positions(image)
    positions[1::2, 2] -= 0.05  # steps of 2.45 and 2.55 mm along the flipped z axis: 2%
    folder = dicom_writer(image, tmp_path / "d", "1.2.3.5", positions=positions)
    assert read_image(folder).GetSize() == image.GetSize()
    with pytest.raises(
        DataError, match=r"tolerance 1% of the step.*\n.*spacing tolerance above 0.02"
    ):
        read_image(folder, spacing_tolerance=0.01)


def test_gantry_tilt_is_refused(tmp_path, ct_pair, dicom_writer):
    image, _ = ct_pair
    positions = ideal_positions(image)
    tilt = math.radians(15)
    positions[:, 1] += np.arange(len(positions)) * 2.5 * math.tan(tilt)
    folder = dicom_writer(image, tmp_path / "d", "1.2.3.6", positions=positions)
    with pytest.raises(DataError, match=r"gantry tilt: .*about 15.0 degrees"):
        read_image(folder)


def test_slices_at_one_position_are_refused(tmp_path, ct_pair, dicom_writer):
    image, _ = ct_pair
    positions = ideal_positions(image)
    positions[5] = positions[4]
    folder = dicom_writer(image, tmp_path / "d", "1.2.3.7", positions=positions)
    with pytest.raises(DataError, match="lie at the same position: several acquisitions"):
        read_image(folder)


def test_names_use_patient_number_description_and_the_uid_only_for_ties():
    def series(uid, description="", patient="", number=""):
        return DicomSeries(uid, description, ("a.dcm",), patient, number)

    found = [
        series("1.1", "Abdomen 5mm", "PAT 01", "3"),
        series("1.2", "Lung", "PAT 01", "4"),
        series("1.3", "Lung", "PAT 01", "4"),
        series("1.4"),
    ]
    assert series_names(found) == [
        "PAT_01_3_Abdomen_5mm",
        "PAT_01_4_Lung_1.2",
        "PAT_01_4_Lung_1.3",
        "1.4",
    ]


def test_dataconvert_names_series_and_reports_the_gap(tmp_path, ct_pair, dicom_writer):
    image, _ = ct_pair
    tags = {PATIENT: "LIDC-0001", NUMBER: "2"}
    folder = tmp_path / "src" / "study"
    dicom_writer(image, folder, "1.2.3.10", "CT Chest", tags=tags)
    dicom_writer(image, folder, "1.2.3.11", "CT Chest", tags={**tags, NUMBER: "3"})
    dicom_writer(image, folder, "1.2.3.12", "CT Chest", tags={**tags, NUMBER: "3"})
    (folder / "1.2.3.12_004.dcm").unlink()
    assert {s.label for s in list_dicom_series(folder)} == {
        "LIDC-0001_2_CT_Chest",
        "LIDC-0001_3_CT_Chest",
    }
    report = convert_dataset(tmp_path / "src", tmp_path / "out")
    outputs = {r.job.output.name: r.status for r in report.results}
    assert outputs == {
        "LIDC-0001_2_CT_Chest.nii.gz": CONVERTED,
        "LIDC-0001_3_CT_Chest_1.2.3.11.nii.gz": CONVERTED,
        "LIDC-0001_3_CT_Chest_1.2.3.12.nii.gz": FAILED,
    }
    assert "is 5 mm where the series averages" in report.failed[0].reason


def test_series_are_selected_by_number_description_or_uid(tmp_path, ct_pair, dicom_writer):
    from clara_cli.data.dataconvert import find_jobs

    image, _ = ct_pair
    study = tmp_path / "src" / "study"
    dicom_writer(image, study, "1.2.3.20", "CT Arterial", tags={NUMBER: "3"})
    dicom_writer(image[:, :, :6], study, "1.2.3.21", "CT Venous", tags={NUMBER: "4"})
    sitk.WriteImage(image, str(tmp_path / "src" / "other.nii.gz"))

    def selected(pattern):
        jobs = find_jobs(tmp_path / "src", tmp_path / "out", series=pattern)
        return sorted(job.series_uid for job in jobs)

    assert selected("3") == ["1.2.3.20"]
    assert selected("*venous*") == ["1.2.3.21"]
    assert selected("1.2.3.2?") == ["1.2.3.20", "1.2.3.21"]  # and no image files
    assert selected("9") == []
    assert len(find_jobs(tmp_path / "src", tmp_path / "out")) == 3
