"""LoadImage(d) of a config reads NRRD/MetaImage/DICOM through clara's SimpleITK reader."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from monai.data import NibabelReader
from monai.transforms import LoadImage, LoadImaged

from clara_cli.io.monai_reader import SimpleITKReader


@pytest.mark.parametrize("suffix", [".nrrd", ".nhdr", ".mha", ".mhd"])
def test_a_config_load_image_reads_nrrd_and_metaimage(kit, tmp_path, ct_pair, suffix):
    image, _ = ct_pair
    sitk.WriteImage(image, str(tmp_path / f"ct{suffix}"))
    sitk.WriteImage(image, str(tmp_path / "ct.nii.gz"))
    load = kit.after("readers.simpleitk", kit.after_context(LoadImaged("image")))
    got = load({"image": str(tmp_path / f"ct{suffix}")})["image"]
    nifti = load({"image": str(tmp_path / "ct.nii.gz")})["image"]
    np.testing.assert_array_equal(got.numpy(), nifti.numpy())
    np.testing.assert_allclose(got.affine.numpy(), nifti.affine.numpy(), atol=1e-5)


def test_nifti_stays_with_monai_and_named_readers_are_kept(kit, dicom_writer, ct_pair, tmp_path):
    load = kit.after("readers.simpleitk", kit.after_context(LoadImage()))
    added = load.readers[-1]
    assert isinstance(added, SimpleITKReader)
    assert not added.verify_suffix("ct.nii.gz") and added.verify_suffix("ct.nrrd")
    assert isinstance(
        next(r for r in load.readers[::-1] if r.verify_suffix("a.nii")), NibabelReader
    )
    folder = dicom_writer(ct_pair[0], tmp_path / "dicom", "1.2.3.1")
    assert added.verify_suffix(str(folder))  # a DICOM series folder
    named = LoadImaged("image", reader="NibabelReader")
    kit.after("readers.simpleitk", kit.after_context(named))
    assert not any(isinstance(r, SimpleITKReader) for r in named._loader.readers)


def test_the_rule_is_registered_for_every_section(kit):
    assert kit.applies("readers.simpleitk", kit.after_context(LoadImaged("image")))
    assert not kit.applies("readers.simpleitk", kit.after_context(object()))


def test_nifti_reader_gives_c_ordered_arrays_identical_to_monai(kit, tmp_path, ct_pair):
    from clara_cli.io.nibabel_reader import COrderNibabelReader

    image, label = ct_pair
    sitk.WriteImage(image, str(tmp_path / "ct.nii.gz"))
    sitk.WriteImage(label, str(tmp_path / "seg.nii"))
    plain = LoadImaged(["image", "label"], image_only=False)
    load = kit.after("readers.nifti_c_order", kit.after_context(LoadImaged(["image", "label"])))
    assert any(type(r) is COrderNibabelReader for r in load._loader.readers)
    item = {"image": str(tmp_path / "ct.nii.gz"), "label": str(tmp_path / "seg.nii")}
    expected, got = plain(dict(item)), load(dict(item))
    for key in ("image", "label"):
        assert got[key].dtype == expected[key].dtype
        assert got[key].stride() == expected[key].stride()
        np.testing.assert_array_equal(got[key].numpy(), expected[key].numpy())
        np.testing.assert_array_equal(got[key].affine.numpy(), expected[key].affine.numpy())


def test_nifti_reader_keeps_the_config_reader_arguments(kit):
    from clara_cli.io.nibabel_reader import COrderNibabelReader

    load = kit.after(
        "readers.nifti_c_order", kit.after_context(LoadImage(as_closest_canonical=True))
    )
    reader = next(r for r in load.readers if isinstance(r, NibabelReader))
    assert type(reader) is COrderNibabelReader and reader.as_closest_canonical
    named = LoadImage(reader="NibabelReader")
    kit.after("readers.nifti_c_order", kit.after_context(named))
    assert not any(type(r) is COrderNibabelReader for r in named.readers)


@pytest.mark.parametrize("kind", ["scaled", "big_endian", "4d"])
def test_nifti_reader_matches_monai_on_unusual_files(kit, tmp_path, kind):
    import nibabel

    rng = np.random.default_rng(0)
    shape = (9, 7, 5, 2) if kind == "4d" else (9, 7, 5)
    dtype = np.dtype(">i2") if kind == "big_endian" else np.dtype("<i2")
    voxels = rng.integers(-500, 500, shape).astype(dtype)
    image = nibabel.Nifti1Image(voxels, np.diag([0.8, 0.9, 2.5, 1.0]))
    if kind == "scaled":
        image.header.set_slope_inter(0.5, -3.0)
    nibabel.save(image, str(tmp_path / "x.nii.gz"))
    load = kit.after("readers.nifti_c_order", kit.after_context(LoadImaged("image")))
    expected = LoadImaged("image")({"image": str(tmp_path / "x.nii.gz")})["image"]
    got = load({"image": str(tmp_path / "x.nii.gz")})["image"]
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_array_equal(got.numpy(), expected.numpy())
    np.testing.assert_array_equal(got.affine.numpy(), expected.affine.numpy())
