from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from clara_cli.errors import DataError
from clara_cli.io.resample import output_grid, parse_spacing, resample_like, resample_to_spacing


def reference_resample(image: sitk.Image, spacing, interpolator) -> sitk.Image:
    """The extent-keeping grid computed independently, then a plain SimpleITK Resample."""
    spacing_in = np.array(image.GetSpacing())
    spacing_out = np.array(spacing, dtype=float)
    size = [int(round(n)) for n in np.array(image.GetSize()) * spacing_in / spacing_out]
    direction = np.array(image.GetDirection()).reshape(3, 3)
    first_edge = np.array(image.GetOrigin()) - direction @ (spacing_in / 2)
    origin = first_edge + direction @ (spacing_out / 2)
    return sitk.Resample(
        image,
        size,
        sitk.Transform(),
        interpolator,
        origin.tolist(),
        spacing_out.tolist(),
        image.GetDirection(),
        0.0,
        sitk.sitkFloat32,
        True,  # nearest-neighbour extrapolation
    )


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (1.5, 1.5, 2.0), (0.6, 1.1, 3.3)])
def test_geometry_matches_a_simpleitk_reference(ct_pair, spacing):
    image, _ = ct_pair
    ref = reference_resample(image, spacing, sitk.sitkLinear)
    out = resample_to_spacing(image, spacing)
    assert out.GetSize() == ref.GetSize()
    np.testing.assert_allclose(out.GetOrigin(), ref.GetOrigin(), atol=1e-9)
    np.testing.assert_allclose(out.GetSpacing(), spacing)
    assert out.GetDirection() == image.GetDirection()
    assert out.GetPixelID() == sitk.sitkInt16
    # same values up to rounding to the nearest integer
    difference = sitk.GetArrayFromImage(out) - sitk.GetArrayFromImage(ref)
    assert np.abs(difference).max() <= 0.5 + 1e-3


def test_physical_extent_is_kept(ct_pair):
    image, _ = ct_pair
    out = resample_to_spacing(image, (1.2, 1.6, 2.0))

    def extent(img):
        direction = np.array(img.GetDirection()).reshape(3, 3)
        half = np.array(img.GetSpacing()) / 2
        first = np.array(img.TransformIndexToPhysicalPoint((0, 0, 0))) - direction @ half
        last_index = [n - 1 for n in img.GetSize()]
        last = np.array(img.TransformIndexToPhysicalPoint(last_index)) + direction @ half
        return first, last

    first_in, last_in = extent(image)
    first_out, last_out = extent(out)
    np.testing.assert_allclose(first_out, first_in, atol=1e-9)  # same first edge
    # far edge differs only by the rounding of the size: at most half an output voxel
    assert np.all(np.abs(last_out - last_in) <= np.array(out.GetSpacing()) / 2 + 1e-9)


def test_same_spacing_is_an_identity():
    array = np.random.default_rng(1).integers(-1000, 1000, (7, 9, 11)).astype(np.int16)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((1.0, 1.0, 1.0))
    image.SetOrigin((3.0, -4.0, 5.5))
    image.SetDirection((0, 1, 0, -1, 0, 0, 0, 0, 1))
    out = resample_to_spacing(image, 1.0)
    assert out.GetOrigin() == image.GetOrigin()
    np.testing.assert_array_equal(sitk.GetArrayFromImage(out), array)


def test_no_output_face_is_constant_padding():
    # 16 slices of 2.5 mm = 40 mm -> 2.4 mm: round(16.67) = 17 slices, 0.8 mm beyond the input
    array = np.random.default_rng(2).normal(0, 100, (16, 12, 10)).astype(np.float32)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((0.8, 0.8, 2.5))
    image.SetDirection((-1, 0, 0, 0, 1, 0, 0, 0, -1))
    out = sitk.GetArrayFromImage(resample_to_spacing(image, (0.7, 0.9, 2.4)))
    assert out.shape == (17, 11, 11)
    faces = [out[0], out[-1], out[:, 0], out[:, -1], out[:, :, 0], out[:, :, -1]]
    for face in faces:
        assert np.ptp(face) > 50, "a face is a constant padding slab"


def test_labels_keep_their_set_and_type(ct_pair):
    _, label = ct_pair
    multi = sitk.Cast(label, sitk.sitkUInt16) * 7  # values {0, 7}
    out = resample_to_spacing(multi, (1.0, 1.0, 1.0), is_label=True)
    assert out.GetPixelID() == sitk.sitkUInt16
    assert set(np.unique(sitk.GetArrayFromImage(out))) == {0, 7}


def test_float_label_is_refused(ct_pair):
    image, _ = ct_pair
    with pytest.raises(DataError, match="integer pixel type"):
        resample_to_spacing(sitk.Cast(image, sitk.sitkFloat32), 1.0, is_label=True)


def test_bspline_keeps_integer_type_within_range(ct_pair):
    image, _ = ct_pair
    out = resample_to_spacing(image, 1.0, interpolation="bspline")
    assert out.GetPixelID() == sitk.sitkInt16
    with pytest.raises(DataError, match="interpolation must be one of"):
        resample_to_spacing(image, 1.0, interpolation="cubic")


def test_resample_like_pads_with_the_minimum(ct_pair):
    image, _ = ct_pair
    reference = sitk.Image(image)
    reference.SetOrigin((500.0, 500.0, 500.0))  # nowhere near the image
    out = resample_like(image, reference)
    assert np.all(sitk.GetArrayViewFromImage(out) == sitk.GetArrayViewFromImage(image).min())


def test_output_grid_rounds_size():
    image = sitk.Image(10, 10, 5, sitk.sitkInt16)
    image.SetSpacing((1.0, 1.0, 3.0))
    size, origin = output_grid(image, (2.0, 0.5, 1.0))
    assert size == (5, 20, 15)
    np.testing.assert_allclose(origin, (0.5, -0.25, -1.0))


@pytest.mark.parametrize(
    ("values", "message"),
    [((1.0, 2.0), "1 or 3 values"), ((0.0,), "positive"), ((-1.0, 1.0, 1.0), "positive")],
)
def test_parse_spacing_rejects(values, message):
    with pytest.raises(DataError, match=message):
        parse_spacing(values)


def test_parse_spacing_accepts_one_or_three():
    assert parse_spacing(2) == (2.0, 2.0, 2.0)
    assert parse_spacing([1, 1, 3]) == (1.0, 1.0, 3.0)
