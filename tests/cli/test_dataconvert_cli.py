from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from click.testing import CliRunner

from clara_cli.cli.main import cli
from clara_cli.cli.overrides import join_number_tokens


@pytest.fixture
def source(tmp_path):
    image = sitk.GetImageFromArray(np.arange(6 * 5 * 4, dtype=np.int16).reshape(4, 5, 6))
    image.SetSpacing((1.0, 1.0, 3.0))
    src = tmp_path / "src"
    src.mkdir()
    for name in ("a", "b"):
        sitk.WriteImage(image, str(src / f"{name}.nii.gz"))
    return src


def run(*args):
    return CliRunner().invoke(cli, ["dataconvert", *map(str, args)])


@pytest.mark.parametrize(
    ("args", "size"),
    [(["-r", "1"], (6, 5, 12)), (["-r", "2", "1", "3"], (3, 5, 4)), (["-r", "1,1,1.5"], (6, 5, 8))],
)
def test_resolution_takes_one_or_three_values(tmp_path, source, args, size):
    result = run("-d", source, "-o", tmp_path / "out", *args)
    assert result.exit_code == 0, result.output
    assert sitk.ReadImage(str(tmp_path / "out" / "a.nii.gz")).GetSize() == size
    assert "converted       2" in result.output


def test_two_resolution_values_are_a_usage_error(tmp_path, source):
    result = run("-d", source, "-o", tmp_path / "out", "-r", "1", "2")
    assert result.exit_code == 2
    assert "expected 1 or 3 numbers" in result.output


def test_join_resolution_tokens():
    assert join_number_tokens(["-r", "1", "1", "3", "-l"], ("-r", "--resolution")) == [
        "-r",
        "1,1,3",
        "-l",
    ]
    assert join_number_tokens(["--resolution", ".5", "-f"], ("-r", "--resolution")) == [
        "--resolution",
        ".5",
        "-f",
    ]
    assert join_number_tokens(["-d", "1", "-r", "2e0"], ("-r", "--resolution")) == [
        "-d",
        "1",
        "-r",
        "2e0",
    ]


def test_force_semantics_and_failure_exit_code(tmp_path, source):
    out = tmp_path / "out"
    assert run("-d", source, "-o", out).exit_code == 0
    again = run("-d", source, "-o", out)
    assert again.exit_code == 0 and "skipped         2" in again.output
    assert "-f converts them again" in again.output
    forced = run("-d", source, "-o", out, "-f")
    assert forced.exit_code == 0 and "converted       2" in forced.output

    (source / "broken.nii.gz").write_bytes(b"broken")
    failed = run("-d", source, "-o", tmp_path / "out2")
    assert failed.exit_code == 1
    assert "converted       2" in failed.output and "failed          1" in failed.output
    assert "Error: 1 of 3 input(s) failed" in failed.output


def test_output_inside_input_is_refused(source):
    result = run("-d", source, "-o", source / "converted")
    assert result.exit_code == 2  # a usage error: the two options contradict each other
    assert (
        "Error: output folder" in result.output and "never writes into its input" in result.output
    )


def test_nothing_to_convert(tmp_path):
    (tmp_path / "empty").mkdir()
    result = run("-d", tmp_path / "empty", "-o", tmp_path / "out")
    assert result.exit_code == 1 and "no input volumes found" in result.output


def test_labels_cannot_use_n4(tmp_path, source):
    result = run("-d", source, "-o", tmp_path / "out", "-l", "--n4")
    assert result.exit_code == 2


def test_labels_keep_their_set_through_the_command(tmp_path):
    labels = np.zeros((8, 10, 12), dtype=np.uint8)
    labels[1:4, 2:6, 2:6], labels[5:8, 5:9, 6:11] = 1, 4
    image = sitk.GetImageFromArray(labels)
    image.SetSpacing((0.7, 0.7, 2.0))
    (tmp_path / "src").mkdir()
    sitk.WriteImage(image, str(tmp_path / "src" / "seg.nii.gz"))
    result = run("-d", tmp_path / "src", "-o", tmp_path / "out", "-r", "1", "1", "3", "-l")
    assert result.exit_code == 0, result.output
    out = sitk.ReadImage(str(tmp_path / "out" / "seg.nii.gz"))
    assert out.GetPixelID() == sitk.sitkUInt8
    assert set(np.unique(sitk.GetArrayFromImage(out))) == {0, 1, 4}


def test_errors_show_no_traceback_unless_debug(tmp_path, source, monkeypatch):
    (tmp_path / "empty").mkdir()
    refused = run("-d", tmp_path / "empty", "-o", tmp_path / "o1")
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    debug = run("-d", tmp_path / "empty", "-o", tmp_path / "o1", "--debug")
    assert debug.exit_code == 1
    assert "Traceback" in debug.output and "DataError" in debug.output

    def broken(*args, **kwargs):
        raise ValueError("unexpected")

    monkeypatch.setattr("clara_cli.data.dataconvert.find_jobs", broken)
    crashed = run("-d", source, "-o", tmp_path / "out")
    assert crashed.exit_code == 1 and "Traceback" not in crashed.output
    assert "Error: ValueError: unexpected" in crashed.output
    assert "--debug for the traceback" in crashed.output


def test_spacing_tolerance_option_reaches_the_dicom_check(tmp_path, ct_pair, dicom_writer):
    image, _ = ct_pair
    positions = np.array(
        [image.TransformIndexToPhysicalPoint((0, 0, k)) for k in range(image.GetDepth())]
    )
    positions[1::2, 2] -= 0.05  # 2.45 / 2.55 mm steps: 2% off the mean
    dicom_writer(image, tmp_path / "src" / "p1", "1.2.3.1", "CT", positions=positions)
    strict = run("-d", tmp_path / "src", "-o", tmp_path / "out", "--spacing-tolerance", "0.01")
    assert strict.exit_code == 1
    assert "uneven slice spacing" in strict.output and "tolerance 1% of the step" in strict.output
    relaxed = run("-d", tmp_path / "src", "-o", tmp_path / "out")
    assert relaxed.exit_code == 0, relaxed.output
    assert (tmp_path / "out" / "p1" / "CT.nii.gz").is_file()
    wrong = run("-d", tmp_path / "src", "-o", tmp_path / "o2", "--spacing-tolerance", "0")
    assert wrong.exit_code == 2


def test_series_option_selects_dicom_series(tmp_path, ct_pair, dicom_writer):
    image, _ = ct_pair
    study = tmp_path / "src" / "study"
    dicom_writer(image, study, "1.2.3.1", "Arterial", tags={"0020|0011": "3"})
    dicom_writer(image, study, "1.2.3.2", "Venous", tags={"0020|0011": "4"})
    result = run("-d", tmp_path / "src", "-o", tmp_path / "out", "--series", "*ARTERIAL*")
    assert result.exit_code == 0, result.output
    assert [p.name for p in (tmp_path / "out" / "study").iterdir()] == ["3_Arterial.nii.gz"]
    none = run("-d", tmp_path / "src", "-o", tmp_path / "o2", "--series", "7")
    assert none.exit_code == 1 and "matching --series '7'" in none.output
