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
from typing import TYPE_CHECKING

from clara_cli.data.phantom import (
    PhantomDataset,
    ct_to_int16,
    ellipsoid,
    images_on_grid,
    physical_coordinates,
    random_pose,
    write_phantom_dataset,
)
from clara_cli.errors import DataError

if TYPE_CHECKING:
    import numpy as np
    import SimpleITK as sitk

    from clara_cli.families import PhantomRequest

DATASET = PhantomDataset(
    stem="spleen",
    name="SpleenPhantom",
    description="Synthetic abdominal CT phantoms with a spleen label (clara synth spleen)",
    modality={"0": "CT"},
    labels={"0": "background", "1": "spleen"},
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

    options = options or PhantomOptions()
    if options.in_plane_size < 16:
        raise DataError(f"in-plane size must be at least 16 voxels, not {options.in_plane_size}")
    rng = np.random.default_rng(seed)
    in_plane = float(rng.uniform(*options.in_plane_spacing_mm))
    slice_spacing = float(rng.uniform(*options.slice_spacing_mm))
    z_extent = float(rng.uniform(*options.z_extent_mm))
    size = (options.in_plane_size, options.in_plane_size, max(8, round(z_extent / slice_spacing)))
    spacing = (in_plane, in_plane, slice_spacing)
    direction, origin = random_pose(rng, origin_mm=150.0)

    x, y, z = physical_coordinates(size, spacing, direction)
    half_width = size[0] * in_plane / 2.0  # anatomy scales with the in-plane field of view
    hu, spleen = _paint_anatomy(rng, x, y, z, half_width, size[2] * slice_spacing)

    array = ct_to_int16(hu, rng, spacing, noise_sd=(15.0, 25.0))
    image, label = images_on_grid([array, spleen.astype(np.uint8)], spacing, origin, direction)
    return image, label


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

    liver = ellipsoid(
        x,
        y,
        z,
        centre=(-0.40 * w, -0.12 * w, rng.uniform(0.05, 0.15) * z_extent),
        semi_axes=(0.40 * w, 0.45 * w, 0.40 * z_extent),
        angles=(rng.uniform(-0.3, 0.3), 0.0, 0.0),
    )
    hu[liver & inner] = rng.uniform(60.0, 80.0)

    spleen = ellipsoid(
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
    return write_phantom_dataset(
        output_dir,
        num_cases,
        lambda index: make_spleen_phantom((seed, index), options),
        DATASET,
        seed=seed,
        train_fraction=train_fraction,
        overwrite=overwrite,
    )


def synthesize(request: PhantomRequest) -> Path:
    """`clara synth spleen`: the family's phantom entry point."""
    size = request.size or PhantomOptions().in_plane_size
    return request.write_with(synthesize_spleen, PhantomOptions(in_plane_size=size))
