"""Synthetic thoracic-CT phantoms with the four SegTHOR organs at risk, in the MSD layout.

Labels as in SegTHOR: 1 oesophagus, 2 heart, 3 trachea, 4 aorta.

What is realistic:
    - Sizes in millimetres at adult scale, whatever the voxel grid: a body of about
      300-340 x 210-240 mm in a 380-420 mm field of view, a heart of about 120 x 90 x 100 mm
      low and to the left, a trachea 16-20 mm across (air lumen, 2 mm wall) that splits into
      two bronchi at the carina, a collapsed oesophagus of about 16 x 11 mm behind it
      (sometimes with an air bubble), and an aorta 24-30 mm across: ascending from the heart,
      arching backwards over the carina, descending left of the spine. Every tube wanders
      along z on smooth random curves.
    - Hounsfield units: air -1000, lungs about -850, fat -100, muscle 40-60, a vertebra with
      a cortical ring, ribs, an oesophagus of 30-50, and blood either enhanced by contrast
      (150-250 in the aorta and the heart chambers, 70 % of the cases) or not (35-50).
    - Geometry: anisotropic voxels (in-plane field of view / size, slices 2.5-3.5 mm), random
      origin, some flipped axes; the patient lies off the centre of the field of view, on a
      table, so finding the body centre matters (what the auto crop does).
    - Stored like SegTHOR: int16 HU images and uint8 label maps, gzipped NIfTI.

What is not:
    - The organs are smooth tubes and ellipsoids with no texture, vessels branching off the
      arch, pulmonary vessels, cardiac chambers or motion; noise is white (sd 10-20 HU) after
      a light blur. Good for testing pipelines and for a small network to learn in minutes;
      meaningless for judging a model meant for real scans.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

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

#: Label values of the four organs (SegTHOR's), by name.
ORGANS = {"oesophagus": 1, "heart": 2, "trachea": 3, "aorta": 4}

DATASET = PhantomDataset(
    stem="thorax",
    name="ThoraxPhantom",
    description="Synthetic thoracic CT phantoms with SegTHOR organ labels (clara synth thorax)",
    modality={"0": "CT"},
    labels={"0": "background", **{str(v): k for k, v in ORGANS.items()}},
)


@dataclass(frozen=True)
class ThoraxOptions:
    """Size of the generated volumes.

    Attributes:
        in_plane_size: voxels along x and y; the field of view is 380-420 mm whatever it is.
        z_extent_mm: range the craniocaudal extent is drawn from.
        slice_spacing_mm: range of the slice spacing.
    """

    in_plane_size: int = 128
    z_extent_mm: tuple[float, float] = (150.0, 190.0)
    slice_spacing_mm: tuple[float, float] = (2.5, 3.5)


def make_thorax_phantom(
    seed: int | tuple[int, ...] = 0, options: ThoraxOptions | None = None
) -> tuple[sitk.Image, sitk.Image]:
    """One phantom CT and its organ label map, deterministically from `seed`.

    Returns:
        (image, label): int16 HU and uint8 {0..4} images with identical geometry.
    """
    import numpy as np

    options = options or ThoraxOptions()
    if options.in_plane_size < 32:
        raise DataError(f"in-plane size must be at least 32 voxels, not {options.in_plane_size}")
    rng = np.random.default_rng(seed)
    in_plane = float(rng.uniform(380.0, 420.0)) / options.in_plane_size
    slice_spacing = float(rng.uniform(*options.slice_spacing_mm))
    z_extent = float(rng.uniform(*options.z_extent_mm))
    size = (options.in_plane_size, options.in_plane_size, max(16, round(z_extent / slice_spacing)))
    spacing = (in_plane, in_plane, slice_spacing)
    direction, origin = random_pose(rng, origin_mm=200.0)

    x, y, z = physical_coordinates(size, spacing, direction)
    # the patient lies off the centre of the field of view (what the auto crop must find)
    shift = rng.uniform(-35.0, 35.0), rng.uniform(-30.0, 10.0)
    hu, label = _paint_thorax(rng, x - shift[0], y - shift[1], z, size[2] * slice_spacing / 2)

    array = ct_to_int16(hu, rng, spacing, noise_sd=(10.0, 20.0))
    image, labels = images_on_grid([array, label], spacing, origin, direction)
    return image, labels


def _curve(rng: np.random.Generator, z: np.ndarray, amplitude: float, top: float) -> np.ndarray:
    """A smooth random offset (mm) along z: one slow sine plus a linear drift."""
    import numpy as np

    period = rng.uniform(2.0, 4.0) * top
    phase = rng.uniform(0, 2 * np.pi)
    drift = rng.uniform(-0.5, 0.5) * amplitude
    return amplitude * np.sin(2 * np.pi * z / period + phase) + drift * z / top


def _tube(
    x: np.ndarray, y: np.ndarray, cx: Any, cy: Any, semi_x: float, semi_y: float
) -> np.ndarray:
    return ((x - cx) / semi_x) ** 2 + ((y - cy) / semi_y) ** 2 <= 1.0


def _paint_thorax(
    rng: np.random.Generator, x: np.ndarray, y: np.ndarray, z: np.ndarray, top: float
) -> tuple[np.ndarray, np.ndarray]:
    """HU and labels in physical space (mm): x to the patient's left, y posterior, z cranial.

    `top` is half the craniocaudal extent: z runs from -top (feet) to +top (head).
    """
    import numpy as np

    hu = np.full(x.shape, -1000.0, dtype=np.float32)
    label = np.zeros(x.shape, dtype=np.uint8)

    # body, fat, muscle, and a patient table below (posterior to) the body
    bx, by = rng.uniform(150.0, 170.0), rng.uniform(105.0, 120.0)
    body = (x / bx) ** 2 + (y / by) ** 2 <= 1.0
    fat = rng.uniform(12.0, 20.0)
    inner = (x / (bx - fat)) ** 2 + (y / (by - fat)) ** 2 <= 1.0
    hu[body] = rng.uniform(-110.0, -90.0)
    hu[inner] = rng.uniform(40.0, 60.0)
    table = (y >= by + 15.0) & (y <= by + 25.0) & (np.abs(x) <= 0.9 * bx)
    hu[table] = 300.0

    # lungs: two tall ellipsoids lateral to the mediastinum, the apices narrowing upwards
    lung_hu = rng.uniform(-880.0, -820.0)
    taper = np.clip(1.0 - np.maximum(z - 0.6 * top, 0) / (0.8 * top), 0.35, 1.0)
    for side in (-1.0, 1.0):
        lung = (((x - side * 0.5 * bx) / (0.42 * bx * taper)) ** 2 + (y / (0.75 * by)) ** 2) <= 1.0
        hu[lung & inner] = lung_hu

    # ribs: a broken bony ring just inside the muscle wall
    ring = ((x / (bx - fat - 6)) ** 2 + (y / (by - fat - 6)) ** 2 <= 1.0) & ~(
        (x / (bx - fat - 12)) ** 2 + (y / (by - fat - 12)) ** 2 <= 1.0
    )
    hu[ring & (np.cos(2 * np.pi * z / rng.uniform(24.0, 30.0)) > 0.4)] = rng.uniform(400.0, 600.0)

    # spine: vertebral body (cortex, marrow) and canal, posterior in the midline
    spine_y = 0.62 * by
    radius = np.sqrt(x**2 + (y - spine_y) ** 2)
    hu[radius <= 19.0] = rng.uniform(500.0, 800.0)
    hu[radius <= 16.0] = rng.uniform(180.0, 240.0)
    hu[np.sqrt(x**2 + (y - spine_y - 28.0) ** 2) <= 8.0] = 20.0

    contrast = rng.uniform() < 0.7
    blood = rng.uniform(150.0, 250.0) if contrast else rng.uniform(35.0, 50.0)

    # heart: an ellipsoid low, anterior and to the left, in pericardial fat, blood inside
    heart_top = rng.uniform(-0.05, 0.15) * top
    heart_centre = (rng.uniform(15.0, 30.0), rng.uniform(-45.0, -30.0), heart_top - 45.0)
    semi = (rng.uniform(55.0, 65.0), rng.uniform(42.0, 50.0), rng.uniform(45.0, 55.0))
    angles = (rng.uniform(0.3, 0.6), rng.uniform(-0.2, 0.2), rng.uniform(-0.2, 0.2))
    padded = (semi[0] + 5.0, semi[1] + 5.0, semi[2] + 5.0)
    hu[ellipsoid(x, y, z, heart_centre, padded, angles) & inner] = -90.0  # pericardial fat
    heart = ellipsoid(x, y, z, heart_centre, semi, angles) & inner
    hu[heart] = rng.uniform(80.0, 100.0) if contrast else rng.uniform(40.0, 55.0)  # myocardium
    inside = (semi[0] - 9.0, semi[1] - 9.0, semi[2] - 9.0)
    chambers = ellipsoid(x, y, z, heart_centre, inside, angles)
    hu[chambers] = blood
    label[heart] = ORGANS["heart"]

    # trachea down to the carina, then two bronchi into the lungs (air, not labelled)
    carina = heart_top + rng.uniform(10.0, 25.0)
    t_radius = rng.uniform(8.0, 10.0)
    # slightly right of the midline, where the arch pushes it
    tx = rng.uniform(-9.0, -5.0) + _curve(rng, z, 3.0, top)
    ty = rng.uniform(-3.0, 5.0) + _curve(rng, z, 3.0, top)
    trachea = _tube(x, y, tx, ty, t_radius, t_radius * 0.9) & (z >= carina)
    for side in (-1.0, 1.0):
        drop = np.maximum(carina - z, 0.0)
        bronchus = _tube(x, y, tx + side * 0.8 * drop, ty + 0.2 * drop, 6.5, 6.0)
        bronchus &= (z < carina + 2.0) & (z >= carina - 45.0)
        hu[bronchus & inner] = 40.0
        hu[_tube(x, y, tx + side * 0.8 * drop, ty + 0.2 * drop, 4.5, 4.0) & bronchus] = -1000.0
    hu[trachea] = 40.0
    hu[trachea & _tube(x, y, tx, ty, t_radius - 2.0, t_radius * 0.9 - 2.0)] = -1000.0
    label[trachea] = ORGANS["trachea"]

    # aorta: ascending from the heart, arch over the carina, descending left of the spine
    a_radius = rng.uniform(11.0, 14.0)
    arch_z = carina + rng.uniform(5.0, 15.0)
    asc = np.array([rng.uniform(0.0, 6.0), float(ty.mean()) - rng.uniform(32.0, 38.0)])
    desc_x = rng.uniform(24.0, 30.0) + _curve(rng, z, 3.0, top)
    desc_y = spine_y - rng.uniform(20.0, 28.0) + _curve(rng, z, 2.0, top)
    aorta = _tube(x, y, asc[0], asc[1], a_radius, a_radius) & (z <= arch_z) & (z >= heart_top - 25)
    aorta |= _tube(x, y, desc_x, desc_y, a_radius * 0.9, a_radius * 0.9) & (z <= arch_z)
    aorta |= _arch(x, y, z, asc, (float(desc_x.mean()), float(desc_y.mean())), arch_z, a_radius)
    aorta &= inner & ~trachea
    hu[aorta] = blood
    label[aorta] = ORGANS["aorta"]

    # oesophagus: behind the trachea, drifting left towards the stomach; sometimes some air
    ox = tx + rng.uniform(3.0, 10.0) + np.clip(-z / top, 0, 1) * rng.uniform(5.0, 15.0)
    oy = ty + t_radius + rng.uniform(8.0, 11.0) + _curve(rng, z, 2.0, top)
    oesophagus = _tube(x, y, ox, oy, rng.uniform(7.0, 9.0), rng.uniform(5.0, 6.5))
    oesophagus &= inner & ~aorta & ~trachea
    hu[oesophagus] = rng.uniform(30.0, 50.0)
    if rng.uniform() < 0.5:
        hu[oesophagus & _tube(x, y, ox, oy, 2.5, 2.0)] = -900.0
    label[oesophagus] = ORGANS["oesophagus"]
    return hu, label


def _arch(
    x: np.ndarray,
    y: np.ndarray,
    z: np.ndarray,
    ascending: Any,
    descending: tuple[float, float],
    height: float,
    radius: float,
) -> np.ndarray:
    """The upper half of a flattened torus joining the ascending and descending aorta at
    `height` (its peak rises 0.6 x half their distance, as the arch does over the carina)."""
    import numpy as np

    a, d = np.asarray(ascending, dtype=float), np.asarray(descending, dtype=float)
    middle, half = (a + d) / 2.0, float(np.linalg.norm(d - a)) / 2.0
    along = (d - a) / max(2.0 * half, 1e-6)
    u = (x - middle[0]) * along[0] + (y - middle[1]) * along[1]
    v = -(x - middle[0]) * along[1] + (y - middle[1]) * along[0]
    w = (z - height) / 0.6
    ring = (np.sqrt(u**2 + w**2) - half) ** 2 + v**2 <= radius**2
    return ring & (w >= 0)


def synthesize_thorax(
    output_dir: str | os.PathLike[str],
    num_cases: int = 12,
    seed: int = 0,
    *,
    options: ThoraxOptions | None = None,
    train_fraction: float = 0.8,
    overwrite: bool = False,
) -> Path:
    """Write an MSD-style thorax phantom dataset and its datalist; returns `dataset_0.json`.

    Writes `imagesTr/thorax_XX.nii.gz` (int16 HU), `labelsTr/thorax_XX.nii.gz` (uint8 0-4),
    the MSD `dataset.json` and `dataset_0.json` ("training"/"validation", deterministic per
    seed). Case i depends only on (seed, i).

    Example:
        >>> datalist = synthesize_thorax("data/thorax", num_cases=12, seed=0)
    """
    return write_phantom_dataset(
        output_dir,
        num_cases,
        lambda index: make_thorax_phantom((seed, index), options),
        DATASET,
        seed=seed,
        train_fraction=train_fraction,
        overwrite=overwrite,
    )


def synthesize(request: PhantomRequest) -> Path:
    """`clara synth thorax`: the family's phantom entry point."""
    size = request.size or ThoraxOptions().in_plane_size
    return request.write_with(synthesize_thorax, ThoraxOptions(in_plane_size=size))
