from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from clara_cli.data.dataconvert import (
    CONVERTED,
    FAILED,
    SKIPPED,
    ConvertOptions,
    convert_dataset,
    find_jobs,
    format_report,
)
from clara_cli.errors import DataError
from clara_cli.io.resample import resample_to_spacing


def write(image, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path), True)
    return path


def assert_geometry(a, b):
    assert a.GetSize() == b.GetSize()
    np.testing.assert_allclose(a.GetSpacing(), b.GetSpacing(), atol=1e-5)
    np.testing.assert_allclose(a.GetOrigin(), b.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(a.GetDirection(), b.GetDirection(), atol=1e-6)


def test_resampled_geometry_matches_the_library_and_the_grid_rule(tmp_path, ct_pair):
    image, label = ct_pair
    write(image, tmp_path / "src" / "ct.nii.gz")
    report = convert_dataset(
        tmp_path / "src", tmp_path / "out", ConvertOptions(spacing=(1.0, 1.0, 1.0))
    )
    assert [r.status for r in report.results] == [CONVERTED]
    out = sitk.ReadImage(str(tmp_path / "out" / "ct.nii.gz"))
    # from the file, whose NIfTI header stores the geometry in float32
    expected = resample_to_spacing(sitk.ReadImage(str(tmp_path / "src" / "ct.nii.gz")), 1.0)
    assert_geometry(out, expected)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(out), sitk.GetArrayFromImage(expected))
    # size = round(extent / spacing): 24*0.8=19.2 -> 19, 20*0.8=16 -> 16, 16*2.5=40 -> 40
    assert out.GetSize() == (19, 16, 40)
    assert out.GetPixelID() == sitk.sitkInt16


def test_labels_keep_type_and_label_set(tmp_path, ct_pair):
    _, label = ct_pair
    labels = sitk.GetArrayFromImage(label).astype(np.int16) * 3  # the sphere is 3
    labels[2:5, 3:7, 3:8] = 1  # small boxes, a few voxels across
    labels[10:14, 14:18, 16:21] = 2
    labels[6:9, 2:5, 18:22] = 300  # beyond uint8
    source = sitk.GetImageFromArray(labels)
    source.CopyInformation(label)
    write(source, tmp_path / "src" / "seg.nrrd")
    options = ConvertOptions(spacing=(1.0, 1.0, 3.0), is_label=True)
    convert_dataset(tmp_path / "src", tmp_path / "out", options, output_suffix=".mha")
    out = sitk.ReadImage(str(tmp_path / "out" / "seg.mha"))
    assert out.GetPixelID() == sitk.sitkInt16
    assert set(np.unique(sitk.GetArrayFromImage(out))) == {0, 1, 2, 3, 300}
    # nearest neighbour: every output voxel holds the label of the input voxel containing it
    centre = [s // 2 for s in out.GetSize()]
    point = out.TransformIndexToPhysicalPoint(centre)
    nearest = source.TransformPhysicalPointToIndex(point)
    assert out[centre] == source[nearest]


def test_no_face_of_a_converted_volume_is_a_constant_slab(tmp_path, ct_pair):
    image, _ = ct_pair  # noise of +-5 HU everywhere, so no face of the input is constant
    write(image, tmp_path / "src" / "ct.nii.gz")
    convert_dataset(tmp_path / "src", tmp_path / "out", ConvertOptions(spacing=(0.5, 0.7, 1.0)))
    out = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "out" / "ct.nii.gz")))
    assert out.shape == (40, 23, 38)
    for face in (out[0], out[-1], out[:, 0], out[:, -1], out[:, :, 0], out[:, :, -1]):
        assert np.ptp(face) > 0, "a face is a constant padding slab"


def test_float_labels_with_whole_values_become_integers(tmp_path, ct_pair):
    _, label = ct_pair
    write(sitk.Cast(label, sitk.sitkFloat32), tmp_path / "src" / "seg.nii.gz")
    convert_dataset(
        tmp_path / "src", tmp_path / "out", ConvertOptions(spacing=(1, 1, 1), is_label=True)
    )
    out = sitk.ReadImage(str(tmp_path / "out" / "seg.nii.gz"))
    assert out.GetPixelID() == sitk.sitkUInt8


def test_format_only_is_lossless_for_nrrd_and_mha(tmp_path, ct_pair):
    image, _ = ct_pair
    write(image, tmp_path / "src" / "a.nrrd")
    write(image, tmp_path / "src" / "sub" / "b.mha")
    report = convert_dataset(tmp_path / "src", tmp_path / "out", output_suffix=".nrrd")
    assert report.count(CONVERTED) == 2
    for path in (tmp_path / "out" / "a.nrrd", tmp_path / "out" / "sub" / "b.nrrd"):
        out = sitk.ReadImage(str(path))
        assert_geometry(out, image)
        np.testing.assert_array_equal(sitk.GetArrayFromImage(out), sitk.GetArrayFromImage(image))


def test_dicom_series_converts_back_to_the_same_array_and_geometry(tmp_path, ct_pair, dicom_writer):
    image, _ = ct_pair
    dicom_writer(image, tmp_path / "src" / "patient1", "1.2.3.44", description="Abdomen 5mm")
    dicom_writer(image[:, :, :6], tmp_path / "src" / "patient1", "1.2.3.45", description="")
    report = convert_dataset(tmp_path / "src", tmp_path / "out")
    assert report.count(CONVERTED) == 2
    out = sitk.ReadImage(str(tmp_path / "out" / "patient1" / "Abdomen_5mm.nii.gz"))
    assert_geometry(out, image)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(out), sitk.GetArrayFromImage(image))
    # a series without description is named by its UID
    assert sitk.ReadImage(str(tmp_path / "out" / "patient1" / "1.2.3.45.nii.gz")).GetDepth() == 6
    # -s .dcm picks DICOM series only
    write(image, tmp_path / "src" / "other.nii.gz")
    jobs = find_jobs(tmp_path / "src", tmp_path / "out2", input_suffix=".dcm")
    assert sorted(job.series_uid for job in jobs) == ["1.2.3.44", "1.2.3.45"]


def test_corrupt_dicom_slices_are_reported(tmp_path, ct_pair, dicom_writer):
    image, _ = ct_pair
    first = dicom_writer(image, tmp_path / "src" / "p1", "1.2.3.1", description="CT")
    middle = dicom_writer(image, tmp_path / "src" / "p2", "1.2.3.2", description="CT")
    # truncated files: GDCM leaves them out of their series without a word
    for path in (first / "1.2.3.1_000.dcm", middle / "1.2.3.2_007.dcm"):
        path.write_bytes(path.read_bytes()[:400])
    (first / "notes.dcm").write_bytes(b"not dicom")
    (first / "README").write_text("not an image and not DICOM: ignored")
    report = convert_dataset(tmp_path / "src", tmp_path / "out")
    failed = {result.job.source.name: result.reason for result in report.failed}
    assert set(failed) == {"1.2.3.1_000.dcm", "notes.dcm", "1.2.3.2_007.dcm", "p2"}
    assert "not part of any readable image series" in failed["1.2.3.1_000.dcm"]
    assert "uneven slice spacing" in failed["p2"]  # the gap fails its series
    # the rest of p1's series is still converted (and the table says a slice file failed)
    assert report.count(CONVERTED) == 1
    assert sitk.ReadImage(str(tmp_path / "out" / "p1" / "CT.nii.gz")).GetDepth() == 15


def test_a_2d_input_takes_the_in_plane_spacing(tmp_path):
    array = np.random.default_rng(3).integers(0, 255, (10, 12)).astype(np.uint8)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((0.5, 0.5))
    write(image, tmp_path / "src" / "xray.nrrd")
    report = convert_dataset(tmp_path / "src", tmp_path / "out", ConvertOptions(spacing=(1, 1, 3)))
    assert report.count(CONVERTED) == 1, report.failed
    out = sitk.ReadImage(str(tmp_path / "out" / "xray.nii.gz"))
    assert out.GetSize() == (6, 5) and out.GetSpacing() == (1.0, 1.0)


def test_a_corrupt_file_mid_batch_does_not_stop_the_others(tmp_path, ct_pair):
    image, _ = ct_pair
    for name in ("a", "c"):
        write(image, tmp_path / "src" / f"{name}.nii.gz")
    (tmp_path / "src" / "b.nii.gz").write_bytes(b"\x1f\x8b broken")
    report = convert_dataset(tmp_path / "src", tmp_path / "out", ConvertOptions(spacing=(2, 2, 2)))
    assert [r.status for r in report.results] == [CONVERTED, FAILED, CONVERTED]
    assert "b.nii.gz" in report.failed[0].reason
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.nii.gz", "c.nii.gz"]
    table = format_report(report)
    assert "converted       2" in table and "failed          1" in table and "b.nii.gz" in table


def test_existing_outputs_are_skipped_unless_overwrite(tmp_path, ct_pair):
    image, _ = ct_pair
    write(image, tmp_path / "src" / "a.nii.gz")
    convert_dataset(tmp_path / "src", tmp_path / "out")
    output = tmp_path / "out" / "a.nii.gz"
    output.write_bytes(b"user edits")
    report = convert_dataset(tmp_path / "src", tmp_path / "out")
    assert report.results[0].status == SKIPPED and output.read_bytes() == b"user edits"
    report = convert_dataset(tmp_path / "src", tmp_path / "out", ConvertOptions(overwrite=True))
    assert report.results[0].status == CONVERTED
    assert sitk.ReadImage(str(output)).GetSize() == image.GetSize()


def test_never_writes_into_the_source(tmp_path, ct_pair):
    write(ct_pair[0], tmp_path / "src" / "a.nii.gz")
    for output in (tmp_path / "src", tmp_path / "src" / "converted", tmp_path):
        with pytest.raises(DataError, match="overlaps the input folder"):
            convert_dataset(tmp_path / "src", output)


def test_input_suffix_and_duplicates(tmp_path, ct_pair):
    image, _ = ct_pair
    write(image, tmp_path / "src" / "a.nii.gz")
    write(image, tmp_path / "src" / "a.mha")
    jobs = find_jobs(tmp_path / "src", tmp_path / "out", input_suffix=".mha")
    assert [job.source.name for job in jobs] == ["a.mha"]
    report = convert_dataset(tmp_path / "src", tmp_path / "out")
    assert sorted(r.status for r in report.results) == [CONVERTED, FAILED]
    assert "same output name" in report.failed[0].reason


def test_unknown_output_suffix(tmp_path, ct_pair):
    write(ct_pair[0], tmp_path / "src" / "a.nii.gz")
    with pytest.raises(DataError, match="output extension must be one of"):
        find_jobs(tmp_path / "src", tmp_path / "out", output_suffix=".png")


def test_n4_removes_a_bias_field(tmp_path):
    rng = np.random.default_rng(0)
    z, y, x = np.meshgrid(np.arange(20), np.arange(40), np.arange(40), indexing="ij")
    body = ((x - 20) ** 2 + (y - 20) ** 2) < 16**2
    bias = 1.0 + 0.5 * x / 40  # 50 % left-right shading
    array = np.where(body, 400.0 * bias, 0) + rng.normal(0, 5, body.shape)
    image = sitk.GetImageFromArray(np.clip(array, 0, None).astype(np.uint16))
    write(image, tmp_path / "src" / "t1.nii.gz")
    report = convert_dataset(tmp_path / "src", tmp_path / "out", ConvertOptions(n4=True))
    assert report.count(CONVERTED) == 1, report.failed
    out = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "out" / "t1.nii.gz")))
    assert out.dtype == np.uint16

    def shading(values):
        left = values[body & (x < 12)].mean()
        right = values[body & (x > 28)].mean()
        return right / left

    assert shading(array) > 1.2
    assert abs(shading(out.astype(float)) - 1.0) < abs(shading(array) - 1.0) / 2


def test_n4_with_labels_is_refused(tmp_path, ct_pair):
    write(ct_pair[1], tmp_path / "src" / "seg.nii.gz")
    report = convert_dataset(
        tmp_path / "src", tmp_path / "out", ConvertOptions(n4=True, is_label=True)
    )
    assert "not to label maps" in report.failed[0].reason


def test_two_workers_convert_the_same(tmp_path, make_ct_pair):
    for i in range(3):
        write(make_ct_pair(seed=i)[0], tmp_path / "src" / f"case{i}.nii.gz")
    (tmp_path / "src" / "bad.nii.gz").write_bytes(b"nope")
    options = ConvertOptions(spacing=(1.0, 1.0, 1.0))
    serial = convert_dataset(tmp_path / "src", tmp_path / "one", options)
    parallel = convert_dataset(tmp_path / "src", tmp_path / "two", options, workers=2)
    assert [r.status for r in parallel.results] == [r.status for r in serial.results]
    assert parallel.count(FAILED) == 1
    for i in range(3):
        a = sitk.ReadImage(str(tmp_path / "one" / f"case{i}.nii.gz"))
        b = sitk.ReadImage(str(tmp_path / "two" / f"case{i}.nii.gz"))
        np.testing.assert_array_equal(sitk.GetArrayFromImage(a), sitk.GetArrayFromImage(b))


def test_one_mm_to_one_mm_is_an_identity(tmp_path):
    array = np.random.default_rng(5).integers(-1000, 1500, (9, 8, 7)).astype(np.int16)
    image = sitk.GetImageFromArray(array)
    image.SetOrigin((10.0, -20.0, 30.0))
    image.SetDirection((-1, 0, 0, 0, -1, 0, 0, 0, 1))
    write(image, tmp_path / "src" / "iso.nii.gz")
    convert_dataset(tmp_path / "src", tmp_path / "out", ConvertOptions(spacing=(1.0, 1.0, 1.0)))
    out = sitk.ReadImage(str(tmp_path / "out" / "iso.nii.gz"))
    assert_geometry(out, image)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(out), array)


def _nifti_bytes(image, tmp_path, suffix):
    path = write(image, tmp_path / "whole" / f"whole{suffix}")
    return path.read_bytes()


def test_a_nifti_that_ends_early_is_a_failed_input(tmp_path, ct_pair):
    import gzip

    image, _ = ct_pair
    src = tmp_path / "src"
    src.mkdir()
    packed = _nifti_bytes(image, tmp_path, ".nii.gz")
    (src / "cut_stream.nii.gz").write_bytes(packed[: len(packed) // 2])
    # A complete gzip stream of a file that was already cut before compression.
    (src / "short_data.nii.gz").write_bytes(gzip.compress(gzip.decompress(packed)[:-500]))
    plain = gzip.decompress(packed)
    (src / "cut_plain.nii").write_bytes(plain[: len(plain) - 500])
    (src / "whole.nii.gz").write_bytes(packed)

    report = convert_dataset(src, tmp_path / "out", ConvertOptions())

    status = {r.job.source.name: (r.status, r.reason) for r in report.results}
    assert status["whole.nii.gz"][0] == CONVERTED
    assert status["cut_stream.nii.gz"][0] == FAILED
    assert "truncated or corrupt" in status["cut_stream.nii.gz"][1]
    for name in ("short_data.nii.gz", "cut_plain.nii"):
        assert status[name][0] == FAILED
        assert f"ends early ({len(plain) - 500} of " in status[name][1]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["whole.nii.gz"]
    assert "failed          3" in format_report(report)


def test_a_killed_write_s_staging_folder_is_removed_at_the_next_run(tmp_path):
    from clara_cli.data.dataconvert import remove_stale_staging

    out = tmp_path / "out"
    stale = out / "sub" / ".case.nii.gz.k3j_x9a2.tmp"  # as tempfile.mkdtemp names them
    stale.mkdir(parents=True)
    (stale / "case.nii.gz").write_bytes(b"half")
    kept = out / ".hidden_but_not_ours"
    kept.mkdir()

    assert remove_stale_staging(out) == [stale]
    assert not stale.exists() and kept.is_dir()
