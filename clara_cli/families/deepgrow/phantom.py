"""Synthetic abdominal CT with seven labelled organs (`clara synth abdomen`), for DeepGrow.

What is realistic:
    - Hounsfield units of a portal-venous CT: air -1000 outside an elliptical body, fat about
      -100 under the skin, soft tissue 30-50, and organs of distinct contrast: liver 55-75,
      spleen 105-135, kidneys 150-190, a contrast-filled aorta 170-230, gallbladder bile 0-20,
      stomach contents 5-25 with a gas cap (-900) on top. An unlabelled inferior vena cava
      (100-130) and a vertebra (marrow about 200, cortex 500-900) are distractors.
    - Shapes differ on purpose, so that a click model must use the image, not a shape prior:
      a two-lobed liver, a rotated ellipsoid spleen, bean-shaped kidneys (an ellipsoid with
      its hilum carved out), a small pear of a gallbladder under the liver, a curved stomach
      (spheres along an arc) and a straight tubular aorta.
    - Geometry: anisotropic spacing (in-plane 0.7-0.9 mm, slices 2-4 mm), random origin, and
      in some cases flipped axes. The anatomy is laid out in physical (LPS) space, so a
      flipped file holds the same patient with a flipped array.
    - Stored like the BTCV / MSD data: int16 images, a uint8 label map 1..7 whose names are
      in `dataset.json` ("labels"), gzipped NIfTI.

What is not:
    - The body is scaled to the field of view (about 100 mm across at 128 x 128 voxels, not
      350 mm), organs are smooth geometric solids without texture, vessels or bowel, and the
      noise is white (sd 12-20 HU) after a light blur. Good for testing the click pipeline and
      for a small network to learn in minutes; meaningless for judging a model meant for real
      scans.
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

#: Label value -> organ name (BTCV's names, numbered 1..7 here).
ORGANS: dict[int, str] = {
    1: "spleen",
    2: "right_kidney",
    3: "left_kidney",
    4: "gallbladder",
    5: "liver",
    6: "stomach",
    7: "aorta",
}

DATASET = PhantomDataset(
    stem="abdomen",
    name="AbdomenPhantom",
    description="Synthetic abdominal CT phantoms with 7 labelled organs (clara synth abdomen)",
    modality={"0": "CT"},
    labels={"0": "background", **{str(k): v for k, v in ORGANS.items()}},
)


@dataclass(frozen=True)
class AbdomenOptions:
    """Size of the generated volumes.

    Attributes:
        in_plane_size: voxels along x and y; the anatomy scales with the field of view.
        z_to_width: craniocaudal extent as a multiple of the in-plane field of view (range).
        in_plane_spacing_mm: range of the in-plane spacing.
        slice_spacing_mm: range of the slice spacing.
    """

    in_plane_size: int = 128
    z_to_width: tuple[float, float] = (1.0, 1.3)
    in_plane_spacing_mm: tuple[float, float] = (0.7, 0.9)
    slice_spacing_mm: tuple[float, float] = (2.0, 4.0)


def make_abdomen_phantom(
    seed: int | tuple[int, ...] = 0, options: AbdomenOptions | None = None
) -> tuple[sitk.Image, sitk.Image]:
    """Generate one abdominal CT phantom and its organ label map, deterministically from `seed`.

    Returns:
        (image, label): int16 HU and a uint8 label map (values of :data:`ORGANS`) with
        identical geometry.
    """
    import numpy as np

    options = options or AbdomenOptions()
    if options.in_plane_size < 24:
        raise DataError(f"in-plane size must be at least 24 voxels, not {options.in_plane_size}")
    rng = np.random.default_rng(seed)
    in_plane = float(rng.uniform(*options.in_plane_spacing_mm))
    slice_spacing = float(rng.uniform(*options.slice_spacing_mm))
    width = options.in_plane_size * in_plane
    z_extent = width * float(rng.uniform(*options.z_to_width))
    size = (options.in_plane_size, options.in_plane_size, max(8, round(z_extent / slice_spacing)))
    spacing = (in_plane, in_plane, slice_spacing)
    direction, origin = random_pose(rng, origin_mm=150.0)

    x, y, z = physical_coordinates(size, spacing, direction)
    hu, labels = _paint_abdomen(rng, x, y, z, width / 2.0, size[2] * slice_spacing / 2.0)

    array = ct_to_int16(hu, rng, spacing, noise_sd=(12.0, 20.0))
    image, label = images_on_grid([array, labels], spacing, origin, direction)
    return image, label


def _paint_abdomen(
    rng: np.random.Generator, x: np.ndarray, y: np.ndarray, z: np.ndarray, w: float, h: float
) -> tuple[np.ndarray, np.ndarray]:
    """HU and labels in physical space: x to the patient's left, y posterior, z cranial.

    `w` is half the in-plane field of view and `h` half the craniocaudal extent (mm). Organs
    are painted in an order where a later one wins on overlap, labels like HU.
    """
    import numpy as np

    def u(low: float, high: float) -> float:
        return float(rng.uniform(low, high))

    hu = np.full(x.shape, -1000.0, dtype=np.float32)
    labels = np.zeros(x.shape, dtype=np.uint8)
    body_x, body_y = w * u(0.86, 0.94), w * u(0.68, 0.76)
    body = (x / body_x) ** 2 + (y / body_y) ** 2 <= 1.0
    inner = (x / (0.88 * body_x)) ** 2 + (y / (0.86 * body_y)) ** 2 <= 1.0
    hu[body] = u(-120.0, -80.0)  # subcutaneous fat
    hu[inner] = u(30.0, 50.0)  # soft tissue, muscle, bowel

    def paint(mask: np.ndarray, value: float, label: int = 0) -> None:
        mask = mask & inner
        hu[mask] = value
        labels[mask] = label

    right_lobe = ellipsoid(
        x, y, z, (-0.42 * w, -0.05 * w, u(0.15, 0.3) * h), (0.36 * w, 0.42 * w, 0.55 * h),
        angles=(u(-0.3, 0.3), 0.0, u(-0.15, 0.15)),
    )  # fmt: skip
    left_lobe = ellipsoid(
        x, y, z, (0.0, -0.32 * w, u(0.35, 0.5) * h), (0.32 * w, 0.16 * w, 0.3 * h),
        angles=(u(-0.4, 0.1), 0.0, 0.0),
    )  # fmt: skip
    paint(right_lobe | left_lobe, u(55.0, 75.0), 5)
    paint(
        ellipsoid(
            x, y, z, (-0.3 * w, -0.3 * w, u(-0.25, -0.1) * h), (0.1 * w, 0.09 * w, 0.22 * h),
            angles=(u(-0.5, 0.5), u(-0.3, 0.3), 0.0),
        ),
        u(0.0, 20.0), 4,
    )  # fmt: skip
    arc = np.linspace(0.0, 1.0, 7)
    stomach = np.zeros(x.shape, dtype=bool)
    bend = u(0.15, 0.3)
    for t in arc:  # a curved tube from the fundus (left, posterior, high) to the antrum
        centre = ((0.42 - 0.35 * t) * w, (0.0 - 0.35 * t) * w + bend * w * t * (1 - t),
                  (0.5 - 0.6 * t) * h)  # fmt: skip
        stomach |= ellipsoid(x, y, z, centre, (0.15 * w, 0.13 * w, 0.2 * h))
    paint(stomach, u(5.0, 25.0), 6)
    top = z[stomach].max(initial=0.0) if stomach.any() else 0.0
    paint(stomach & (z > top - 0.12 * h) & (y < -0.05 * w), -900.0, 0)  # gas cap: not labelled
    paint(
        ellipsoid(
            x, y, z, (u(0.5, 0.58) * w, u(0.1, 0.2) * w, u(0.15, 0.35) * h),
            (u(0.14, 0.2) * w, u(0.2, 0.26) * w, u(0.28, 0.36) * h),
            angles=(u(-0.6, 0.6), u(-0.2, 0.2), u(-0.2, 0.2)),
        ),
        u(105.0, 135.0), 1,
    )  # fmt: skip
    for side, label in ((-1.0, 2), (1.0, 3)):  # right kidney (x < 0) sits lower than the left
        centre = (side * u(0.36, 0.42) * w, u(0.3, 0.38) * w, (u(-0.35, -0.2) + 0.1 * side) * h)
        kidney = ellipsoid(
            x, y, z, centre, (0.12 * w, 0.17 * w, 0.3 * h), angles=(side * 0.3, 0, 0)
        )
        hilum = ellipsoid(
            x, y, z, (centre[0] - side * 0.1 * w, centre[1], centre[2]),
            (0.06 * w, 0.07 * w, 0.12 * h),
        )  # fmt: skip
        paint(kidney & ~hilum, u(150.0, 190.0), label)
    paint((x + 0.12 * w) ** 2 + (y - 0.22 * w) ** 2 <= (0.065 * w) ** 2, u(100.0, 130.0))  # IVC
    paint((x - 0.08 * w) ** 2 + (y - 0.24 * w) ** 2 <= (0.06 * w) ** 2, u(170.0, 230.0), 7)
    spine_y = 0.56 * body_y
    radius = np.sqrt(x**2 + (y - spine_y) ** 2)
    paint(radius <= 0.15 * w, u(170.0, 230.0))  # marrow
    paint((radius <= 0.15 * w) & (radius >= 0.15 * w - 2.0), u(500.0, 900.0))  # cortex
    return hu, labels


def synthesize_abdomen(
    output_dir: str | os.PathLike[str],
    num_cases: int = 12,
    seed: int = 0,
    *,
    options: AbdomenOptions | None = None,
    train_fraction: float = 0.8,
    overwrite: bool = False,
) -> Path:
    """Write an MSD-style multi-organ abdomen phantom dataset and its datalist.

    Writes `imagesTr/abdomen_XX.nii.gz` (int16 HU), `labelsTr/abdomen_XX.nii.gz` (uint8 label
    map, values and names in `dataset.json` "labels"), and `dataset_0.json` with "training"
    and "validation" lists. Case i depends only on (seed, i): the same seed, the same bytes.

    Raises:
        DataError: fewer than 2 cases, or a non-empty folder without `overwrite`.

    Example:
        >>> datalist = synthesize_abdomen("data/abdomen", num_cases=12, seed=0)
    """
    return write_phantom_dataset(
        output_dir,
        num_cases,
        lambda index: make_abdomen_phantom((seed, index), options),
        DATASET,
        seed=seed,
        train_fraction=train_fraction,
        overwrite=overwrite,
    )


def synthesize(request: PhantomRequest) -> Path:
    """`clara synth abdomen`: the family's phantom entry point."""
    size = request.size or AbdomenOptions().in_plane_size
    return request.write_with(synthesize_abdomen, AbdomenOptions(in_plane_size=size))
