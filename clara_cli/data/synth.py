"""Synthetic abdominal-CT phantoms with a spleen label, in the Medical Segmentation Decathlon layout.

What is realistic:
    - Hounsfield units: air -1000 outside an elliptical body, subcutaneous fat about -100, soft
      tissue 40-60, a liver-like ellipsoid 60-80 (a distractor), a contrast-filled aorta 150-180,
      a vertebra with a cortical ring of 500-900 around marrow of about 200, and the spleen at
      contrast-enhanced 110-140 HU, with a random size and rotated pose on the patient's left.
    - Geometry: anisotropic spacing (in-plane 0.7-0.9 mm, slices 2.5-5 mm), random origin, and in
      some cases flipped axes (non-identity direction cosines). The anatomy is laid out in
      physical (LPS) space, so a flipped file holds the same patient with a flipped array:
      exactly what orientation handling must cope with.
    - Stored like MSD Task09_Spleen: int16 images, uint8 labels {0, 1}, gzipped NIfTI.

What is not:
    - The body is scaled to the field of view (about 100 mm across at 128 x 128 voxels instead of
      350 mm), organs are smooth ellipsoids, and there is no bowel, kidney, texture, streak
      artefact or partial-volume detail beyond a light Gaussian blur and white noise (sd 15-25 HU).
      Good for testing pipelines and for a small network to learn in minutes; meaningless for
      judging a model meant for real scans.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clara_cli.errors import DataError
from clara_cli.io.datalist import split_items, write_datalist

if TYPE_CHECKING:
    import numpy as np
    import SimpleITK as sitk

#: Direction cosines drawn for the cases (row-major 3x3): identity is drawn half of the time.
_DIRECTIONS: tuple[tuple[float, ...], ...] = (
    (1, 0, 0, 0, 1, 0, 0, 0, 1),
    (1, 0, 0, 0, 1, 0, 0, 0, 1),
    (-1, 0, 0, 0, -1, 0, 0, 0, 1),  # RAS-stored array, common in NIfTI from other tools
    (1, 0, 0, 0, 1, 0, 0, 0, -1),  # slices stored from head to feet
)


@dataclass(frozen=True)
class PhantomOptions:
    """Size of the generated volumes.

    Attributes:
        in_plane_size: voxels along x and y; the anatomy scales with the field of view.
        z_extent_mm: range the craniocaudal extent is drawn from (slices = extent / spacing).
        in_plane_spacing_mm: range of the in-plane spacing.
        slice_spacing_mm: range of the slice spacing.
    """

    in_plane_size: int = 128
    z_extent_mm: tuple[float, float] = (90.0, 120.0)
    in_plane_spacing_mm: tuple[float, float] = (0.7, 0.9)
    slice_spacing_mm: tuple[float, float] = (2.5, 5.0)


def make_spleen_phantom(
    seed: int | tuple[int, ...] = 0, options: PhantomOptions | None = None
) -> tuple[sitk.Image, sitk.Image]:
    """Generate one phantom CT and its spleen label, deterministically from `seed`.

    Returns:
        (image, label): int16 HU and uint8 {0, 1} images with identical geometry.
    """
    import numpy as np
    import SimpleITK as sitk
    from scipy.ndimage import gaussian_filter

    options = options or PhantomOptions()
    if options.in_plane_size < 16:
        raise DataError(f"in-plane size must be at least 16 voxels, not {options.in_plane_size}")
    rng = np.random.default_rng(seed)
    in_plane = float(rng.uniform(*options.in_plane_spacing_mm))
    slice_spacing = float(rng.uniform(*options.slice_spacing_mm))
    z_extent = float(rng.uniform(*options.z_extent_mm))
    size = (options.in_plane_size, options.in_plane_size, max(8, round(z_extent / slice_spacing)))
    spacing = (in_plane, in_plane, slice_spacing)
    direction = _DIRECTIONS[int(rng.integers(len(_DIRECTIONS)))]
    origin = tuple(float(v) for v in rng.uniform(-150.0, 150.0, 3))

    x, y, z = _physical_coordinates(size, spacing, direction)
    half_width = size[0] * in_plane / 2.0  # anatomy scales with the in-plane field of view
    hu, spleen = _paint_anatomy(rng, x, y, z, half_width, size[2] * slice_spacing)

    sigma_mm = 0.8  # light blur: partial volume at organ borders
    hu = gaussian_filter(
        hu, sigma=(sigma_mm / slice_spacing, sigma_mm / in_plane, sigma_mm / in_plane)
    )
    hu += rng.normal(0.0, rng.uniform(15.0, 25.0), hu.shape).astype(np.float32)
    array = np.clip(np.rint(hu), -1024, 3071).astype(np.int16)

    image = sitk.GetImageFromArray(array)
    label = sitk.GetImageFromArray(spleen.astype(np.uint8))
    for item in (image, label):
        item.SetSpacing(spacing)
        item.SetOrigin(origin)
        item.SetDirection(direction)
    return image, label


def _physical_coordinates(
    size: tuple[int, int, int], spacing: tuple[float, float, float], direction: tuple[float, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """LPS coordinates (mm) of every voxel relative to the volume centre, as (z, y, x) arrays."""
    import numpy as np

    axes = [
        (np.arange(n, dtype=np.float32) - (n - 1) / 2.0) * s
        for n, s in zip(size, spacing, strict=True)
    ]
    grid = (axes[0][None, None, :], axes[1][None, :, None], axes[2][:, None, None])
    matrix = np.asarray(direction, dtype=np.float32).reshape(3, 3)
    shape = (size[2], size[1], size[0])
    coords = []
    for row in matrix:
        total = np.zeros(shape, dtype=np.float32)
        for weight, axis in zip(row, grid, strict=True):
            if weight:
                total += weight * axis
        coords.append(total)
    return coords[0], coords[1], coords[2]


def _paint_anatomy(
    rng: np.random.Generator,
    x: np.ndarray,
    y: np.ndarray,
    z: np.ndarray,
    half_width: float,
    z_extent: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Paint HU values in physical space (x to the patient's left, y posterior, z cranial)."""
    import numpy as np

    w = half_width
    hu = np.full(x.shape, -1000.0, dtype=np.float32)
    body_x, body_y = w * rng.uniform(0.84, 0.94), w * rng.uniform(0.66, 0.76)
    body = (x / body_x) ** 2 + (y / body_y) ** 2 <= 1.0
    inner = (x / (0.88 * body_x)) ** 2 + (y / (0.86 * body_y)) ** 2 <= 1.0
    hu[body] = rng.uniform(-120.0, -80.0)  # subcutaneous fat
    hu[inner] = rng.uniform(40.0, 60.0)  # soft tissue

    liver = _ellipsoid(
        x,
        y,
        z,
        centre=(-0.40 * w, -0.12 * w, rng.uniform(0.05, 0.15) * z_extent),
        semi_axes=(0.40 * w, 0.45 * w, 0.40 * z_extent),
        angles=(rng.uniform(-0.3, 0.3), 0.0, 0.0),
    )
    hu[liver & inner] = rng.uniform(60.0, 80.0)

    spleen = _ellipsoid(
        x,
        y,
        z,
        centre=(
            rng.uniform(0.50, 0.56) * w,
            rng.uniform(0.04, 0.16) * w,
            rng.uniform(-0.08, 0.08) * z_extent,
        ),
        semi_axes=(
            rng.uniform(0.30, 0.40) * w,
            rng.uniform(0.30, 0.40) * w,
            rng.uniform(22.0, 32.0),
        ),
        angles=(rng.uniform(-0.6, 0.6), rng.uniform(-0.25, 0.25), rng.uniform(-0.25, 0.25)),
    )
    spleen &= inner
    hu[spleen] = rng.uniform(110.0, 140.0)

    aorta = ((x - 0.10 * w) ** 2 + (y - 0.18 * body_y) ** 2) <= (0.07 * w) ** 2
    spine_y = 0.56 * body_y
    radius = np.sqrt(x**2 + (y - spine_y) ** 2)
    vertebra = radius <= 0.17 * w
    cortex = vertebra & (radius >= 0.17 * w - 2.5)
    hu[aorta] = rng.uniform(150.0, 180.0)
    hu[vertebra] = rng.uniform(170.0, 230.0)  # marrow
    hu[cortex] = rng.uniform(500.0, 900.0)
    spleen &= ~(aorta | vertebra)
    return hu, spleen


def _ellipsoid(
    x: np.ndarray,
    y: np.ndarray,
    z: np.ndarray,
    centre: tuple[float, float, float],
    semi_axes: tuple[float, float, float],
    angles: tuple[float, float, float],
) -> np.ndarray:
    """Mask of a rotated ellipsoid; `angles` are rotations (rad) about z, y and x, in that order."""
    import numpy as np

    rotation = _rotation(*angles)
    dx, dy, dz = x - centre[0], y - centre[1], z - centre[2]
    total = np.zeros(x.shape, dtype=np.float32)
    for axis in range(3):
        # coordinate along the ellipsoid's own axis = column `axis` of the rotation
        local = rotation[0, axis] * dx + rotation[1, axis] * dy + rotation[2, axis] * dz
        total += (local / semi_axes[axis]) ** 2
    return total <= 1.0


def _rotation(about_z: float, about_y: float, about_x: float) -> np.ndarray:
    import numpy as np

    cz, sz = np.cos(about_z), np.sin(about_z)
    cy, sy = np.cos(about_y), np.sin(about_y)
    cx, sx = np.cos(about_x), np.sin(about_x)
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    return (rz @ ry @ rx).astype(np.float32)


def synthesize_spleen(
    output_dir: str | os.PathLike[str],
    num_cases: int = 12,
    seed: int = 0,
    *,
    options: PhantomOptions | None = None,
    train_fraction: float = 0.8,
    overwrite: bool = False,
) -> Path:
    """Write an MSD-style spleen phantom dataset and its datalist.

    Writes `imagesTr/spleen_XX.nii.gz` (int16 HU), `labelsTr/spleen_XX.nii.gz` (uint8 0/1),
    the MSD `dataset.json`, and `dataset_0.json` with "training" and "validation" lists (paths
    relative to `output_dir`, split `train_fraction` / rest, deterministic per seed). Case i only
    depends on (seed, i): the same seed gives byte-identical arrays.

    Args:
        output_dir: destination folder; must be empty or absent unless `overwrite`.
        num_cases: number of image/label pairs (at least 2, so validation is not empty).
        seed: random seed of the whole dataset.
        options: volume size; defaults to 128 x 128 in-plane and 90-120 mm along z.
        train_fraction: share of the cases in "training".
        overwrite: write into a non-empty folder (files of the same names are replaced).

    Returns:
        The path of `dataset_0.json`.

    Example:
        >>> datalist = synthesize_spleen("data/spleen", num_cases=12, seed=0)
    """
    from clara_cli.io.image import write_image

    output_dir = Path(output_dir)
    if num_cases < 2:
        raise DataError(f"the phantom dataset needs at least 2 cases, not {num_cases}")
    if output_dir.exists() and not output_dir.is_dir():
        raise DataError(f"output {str(output_dir)!r} exists and is not a folder")
    if output_dir.is_dir() and any(output_dir.iterdir()) and not overwrite:
        raise DataError(
            f"output folder {str(output_dir)!r} is not empty\n"
            "  choose an empty folder, or overwrite its phantom files with --force"
        )
    width = max(2, len(str(num_cases)))
    items: list[dict[str, Any]] = []
    for index in range(1, num_cases + 1):
        image, label = make_spleen_phantom((seed, index), options)
        name = f"spleen_{index:0{width}d}.nii.gz"
        write_image(image, output_dir / "imagesTr" / name)
        write_image(label, output_dir / "labelsTr" / name)
        items.append({"image": f"imagesTr/{name}", "label": f"labelsTr/{name}"})

    write_datalist(output_dir / "dataset.json", _msd_description(items, seed))
    training, validation = split_items(items, train_fraction, seed)
    return write_datalist(
        output_dir / "dataset_0.json", {"training": training, "validation": validation}
    )


def _msd_description(items: list[dict[str, Any]], seed: int) -> dict[str, Any]:
    return {
        "name": "SpleenPhantom",
        "description": f"Synthetic abdominal CT phantoms with a spleen label (clara synth spleen, seed {seed})",
        "reference": "generated by clara_cli.data.synth",
        "licence": "CC0-1.0",
        "release": "1.0",
        "tensorImageSize": "3D",
        "modality": {"0": "CT"},
        "labels": {"0": "background", "1": "spleen"},
        "numTraining": len(items),
        "numTest": 0,
        "training": [
            {"image": f"./{item['image']}", "label": f"./{item['label']}"} for item in items
        ],
        "test": [],
    }
