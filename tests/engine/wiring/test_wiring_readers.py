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
