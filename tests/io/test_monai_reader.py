"""The SimpleITK reader for MONAI's LoadImage: NRRD works in configs, same result as NIfTI."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from monai.transforms import Compose, EnsureChannelFirstd, LoadImaged, Orientationd

from clara_cli.io.monai_reader import SimpleITKReader

READER = "clara_cli.io.monai_reader.SimpleITKReader"


def _chain(reader):
    return Compose(
        [
            LoadImaged(["image", "label"], reader=reader),
            EnsureChannelFirstd(["image", "label"]),
            Orientationd(["image", "label"], axcodes="RAS", labels=None),
        ]
    )


def test_monai_alone_cannot_read_nrrd(tmp_path, ct_pair):
    # Why the reader exists: without itk/pynrrd MONAI has no NRRD reader. If this starts
    # passing, MONAI gained one and the configs could drop the reader argument.
    image, _ = ct_pair
    sitk.WriteImage(image, str(tmp_path / "ct.nrrd"))
    with pytest.raises(RuntimeError, match="suitable reader"):
        LoadImaged("image")({"image": str(tmp_path / "ct.nrrd")})


@pytest.mark.parametrize("suffix", [".nrrd", ".mha", ".nii.gz"])
def test_same_arrays_and_affine_as_monai_nifti_reader(tmp_path, ct_pair, suffix):
    image, label = ct_pair  # anisotropic, non-zero origin, flipped x and z
    for name, item in (("ct", image), ("seg", label)):
        sitk.WriteImage(item, str(tmp_path / f"{name}.nii.gz"))
        sitk.WriteImage(item, str(tmp_path / f"{name}{suffix}"))
    expected = _chain(None)(
        {"image": str(tmp_path / "ct.nii.gz"), "label": str(tmp_path / "seg.nii.gz")}
    )
    got = _chain(READER)(
        {"image": str(tmp_path / f"ct{suffix}"), "label": str(tmp_path / f"seg{suffix}")}
    )
    for key in ("image", "label"):
        assert got[key].shape == expected[key].shape
        np.testing.assert_array_equal(got[key].numpy(), expected[key].numpy())
        np.testing.assert_allclose(
            got[key].affine.numpy(), expected[key].affine.numpy(), atol=1e-5
        )  # NIfTI: float32


def test_array_is_in_monai_index_order(tmp_path, ct_pair):
    image, _ = ct_pair
    sitk.WriteImage(image, str(tmp_path / "ct.nrrd"))
    reader = SimpleITKReader()
    array, meta = reader.get_data(reader.read(tmp_path / "ct.nrrd"))
    assert array.shape == image.GetSize()  # (x, y, z), not SimpleITK's (z, y, x)
    assert array[3, 5, 7] == image[3, 5, 7]
    assert tuple(meta["spatial_shape"]) == image.GetSize()
    assert np.isnan(meta["original_channel_dim"])
    # RAS affine: LPS x and y negated; the flipped x axis makes the first column positive
    assert meta["affine"][0, 0] == pytest.approx(0.8)
    assert meta["affine"][2, 2] == pytest.approx(-2.5)


def test_several_files_become_channels(tmp_path, ct_pair):
    image, label = ct_pair
    sitk.WriteImage(image, str(tmp_path / "a.nrrd"))
    sitk.WriteImage(sitk.Cast(label, sitk.sitkInt16), str(tmp_path / "b.nrrd"))
    data = LoadImaged("image", reader=READER, ensure_channel_first=True)(
        {"image": [str(tmp_path / "a.nrrd"), str(tmp_path / "b.nrrd")]}
    )
    assert data["image"].shape == (2, *image.GetSize())


def test_missing_file_is_a_clear_error(tmp_path):
    from clara_cli.errors import DataError

    with pytest.raises(DataError, match="image not found"):
        SimpleITKReader().read(tmp_path / "missing.nrrd")
    assert SimpleITKReader().verify_suffix(["a.nrrd", "b.nii.gz"])
    assert not SimpleITKReader().verify_suffix("a.png")


def test_a_4d_image_gives_channels_last_like_nibabel(tmp_path, ct_pair):
    image, _ = ct_pair
    channels = [sitk.Cast(image, sitk.sitkFloat32) * float(k + 1) for k in range(3)]
    volume = sitk.JoinSeries(channels)  # 4D: x, y, z, channel
    direction = np.eye(4)
    direction[:3, :3] = np.asarray(image.GetDirection()).reshape(3, 3)
    volume.SetDirection(direction.ravel().tolist())
    volume.SetOrigin((*image.GetOrigin(), 0.0))
    volume.SetSpacing((*image.GetSpacing(), 1.0))
    sitk.WriteImage(volume, str(tmp_path / "mri.nii.gz"))
    sitk.WriteImage(volume, str(tmp_path / "mri.mha"))
    load = Compose([LoadImaged("image", reader=READER), EnsureChannelFirstd("image")])
    got = load({"image": str(tmp_path / "mri.mha")})["image"]
    expected = Compose([LoadImaged("image"), EnsureChannelFirstd("image")])(
        {"image": str(tmp_path / "mri.nii.gz")}
    )["image"]
    assert got.shape == expected.shape == (3, *image.GetSize())
    np.testing.assert_array_equal(got.numpy(), expected.numpy())
    np.testing.assert_allclose(got.affine.numpy(), expected.affine.numpy(), atol=1e-5)
