from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from clara_cli.errors import DataError
from clara_cli.io.resample import output_grid, parse_spacing, resample_like, resample_to_spacing


def rotation(about_z: float, about_x: float) -> tuple[float, ...]:
    """Direction cosines of an oblique acquisition: a rotation about z, then about x (degrees)."""
    cz, sz = np.cos(np.radians(about_z)), np.sin(np.radians(about_z))
    cx, sx = np.cos(np.radians(about_x)), np.sin(np.radians(about_x))
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    return tuple((rx @ rz).ravel())


FLIPPED = (-1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, -1.0)
OBLIQUE = rotation(30.0, 20.0)


def reference_resample(image: sitk.Image, spacing, interpolator) -> sitk.Image:
    """The extent-keeping grid from SimpleITK's own index-to-physical mapping, then Resample.

    The input's first voxel corner is the continuous index (-0.5, -0.5, -0.5); the output's first
    voxel centre lies half an output voxel inside it, along the same direction cosines.
    """
    spacing_out = np.array(spacing, dtype=float)
    extent = np.array(image.GetSize()) * np.array(image.GetSpacing())
    size = [int(round(n)) for n in extent / spacing_out]
    corner = np.array(image.TransformContinuousIndexToPhysicalPoint((-0.5, -0.5, -0.5)))
    direction = np.array(image.GetDirection()).reshape(3, 3)
    origin = corner + direction @ (spacing_out / 2)
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


@pytest.mark.parametrize("direction", [FLIPPED, OBLIQUE], ids=["flipped", "oblique"])
@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (1.5, 1.5, 2.0), (0.6, 1.1, 3.3)])
def test_geometry_matches_a_simpleitk_reference(ct_pair, spacing, direction):
    image, _ = ct_pair
    image.SetDirection(direction)
    ref = reference_resample(image, spacing, sitk.sitkLinear)
    out = resample_to_spacing(image, spacing)
    assert out.GetSize() == ref.GetSize()
    np.testing.assert_allclose(out.GetOrigin(), ref.GetOrigin(), atol=1e-9)
    np.testing.assert_allclose(out.GetSpacing(), spacing)
    np.testing.assert_allclose(out.GetDirection(), direction, atol=1e-12)
    assert out.GetPixelID() == sitk.sitkInt16
    # same values up to rounding to the nearest integer
    difference = sitk.GetArrayFromImage(out) - sitk.GetArrayFromImage(ref)
    assert np.abs(difference).max() <= 0.5 + 1e-3
    # the first voxel corner is the input's: the volume has not moved in space
    np.testing.assert_allclose(
        out.TransformContinuousIndexToPhysicalPoint((-0.5, -0.5, -0.5)),
        image.TransformContinuousIndexToPhysicalPoint((-0.5, -0.5, -0.5)),
        atol=1e-9,
    )


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


def faces(array: np.ndarray) -> list[np.ndarray]:
    return [array[0], array[-1], array[:, 0], array[:, -1], array[:, :, 0], array[:, :, -1]]


@pytest.mark.parametrize("direction", [FLIPPED, OBLIQUE], ids=["flipped", "oblique"])
def test_no_output_face_is_constant_padding(direction):
    # 10 x 12 x 16 voxels of 0.8 x 0.8 x 2.5 mm to 0.3 x 0.25 x 1.0 mm: every size is rounded
    # so that keeping the input origin would put the last output voxel centres outside the input
    array = np.random.default_rng(2).normal(0, 100, (16, 12, 10)).astype(np.float32)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((0.8, 0.8, 2.5))
    image.SetOrigin((4.0, -3.0, 12.0))
    image.SetDirection(direction)
    spacing = (0.3, 0.25, 1.0)
    out = sitk.GetArrayFromImage(resample_to_spacing(image, spacing))
    assert out.shape == (40, 38, 27)
    for face in faces(out):
        assert np.ptp(face) > 50, "a face is a constant padding slab"

    # The same size with the input origin kept (the rule measured.md warns about) does leave a
    # constant slab here, so this test would catch a return to it.
    naive = sitk.Resample(
        image,
        [27, 38, 40],
        sitk.Transform(),
        sitk.sitkLinear,
        image.GetOrigin(),
        spacing,
        image.GetDirection(),
        float(array.min()),
        sitk.sitkFloat32,
    )
    assert any(np.ptp(face) == 0 for face in faces(sitk.GetArrayFromImage(naive)))


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
