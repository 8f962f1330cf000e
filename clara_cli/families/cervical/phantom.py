"""Synthetic T2-weighted cervical-spine MRI phantoms in NRRD, with a binary spine mask.

What is realistic:
    - A sagittal acquisition: the field of view is tall (head-feet, 140-170 mm) and deep
      (front-back) and narrow left-right, with thick sagittal slices (2.5x the in-plane
      spacing) and, in some cases, flipped axes (random direction cosines from the shared
      phantom toolkit), so orientation handling matters.
    - Anatomy along a lordotic (forward-bowing) cervical curve: 6-8 vertebral bodies (rounded
      boxes tilted with the curve, growing towards the chest) with a dark cortical rim, bright
      intervertebral discs with a darker annulus, posterior arches and spinous processes, the
      spinal canal (bright CSF around an intermediate cord), the airway in front (dark), neck
      muscle and a bright subcutaneous fat ring.
    - T2-like contrast (CSF and fat bright, discs bright, marrow intermediate, muscle darker,
      air dark), a smooth multiplicative bias field (a receive-coil profile: brighter at the
      back of the neck, falling off towards the ends of the field of view; log-field up to
      about +-0.45, i.e. a factor 0.65-1.55) for N4 to remove, Rician noise and a light blur.
    - Stored as MRI usually is: int16 >= 0, gzip-compressed NRRD; mask uint8 {0, 1}.

What is not:
    - No skull base, C1/C2 shape, facet joints, ligaments, vessels or degenerative change; the
      structures are smooth analytic shapes. Good for testing pipelines and for small 2D
      networks to learn in minutes; meaningless for judging a model meant for real scans.

The mask ("spine") is the vertebral column: bodies, discs and posterior arches; not the
canal, cord or CSF.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clara_cli.data.phantom import (
    PhantomDataset,
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
    stem="cspine",
    name="CervicalSpinePhantom",
    description="Synthetic T2 cervical-spine MRI with a spine mask (clara synth cspine)",
    modality={"0": "MRI"},
    labels={"0": "background", "1": "spine"},
    extension=".nrrd",
)

#: T2-like signal of each tissue (arbitrary units, int16 after noise and bias).
TISSUE = {
    "fat": (700.0, 800.0),
    "muscle": (200.0, 260.0),
    "airway": (15.0, 30.0),
    "marrow": (380.0, 460.0),
    "cortex": (90.0, 130.0),
    "nucleus": (650.0, 780.0),
    "annulus": (320.0, 380.0),
    "csf": (880.0, 980.0),
    "cord": (420.0, 480.0),
}


@dataclass(frozen=True)
class PhantomOptions:
    """Size of the generated volumes.

    Attributes:
        size: voxels head-feet (the long axis); the other axes follow the field of view.
        extent_mm: range the head-feet field of view is drawn from.
        slice_factor: sagittal slice thickness / in-plane spacing.
    """

    size: int = 128
    extent_mm: tuple[float, float] = (140.0, 170.0)
    slice_factor: float = 2.5


@dataclass
class PhantomVolumes:
    """One phantom before it becomes an image: what tests and the N4 benchmark compare with.

    Attributes:
        signal: the noise-free, unbiased T2 signal, numpy (z, y, x).
        bias: the multiplicative bias field applied to it.
        spine: the spine mask.
        spacing, origin, direction: the SimpleITK geometry.
    """

    signal: np.ndarray
    bias: np.ndarray
    spine: np.ndarray
    spacing: tuple[float, float, float]
    origin: tuple[float, ...]
    direction: tuple[float, ...]


def cspine_volumes(
    seed: int | tuple[int, ...] = 0, options: PhantomOptions | None = None
) -> PhantomVolumes:
    """The anatomy, bias field and geometry of one phantom, deterministically from `seed`."""
    import numpy as np

    options = options or PhantomOptions()
    if options.size < 32:
        raise DataError(
            f"the cervical phantom needs at least 32 voxels head-feet, not {options.size}"
        )
    rng = np.random.default_rng(seed)
    extent = float(rng.uniform(*options.extent_mm))
    in_plane = extent / options.size
    thick = in_plane * options.slice_factor
    depth = extent * rng.uniform(0.80, 0.90)  # front-back field of view: air around the neck
    width = extent * rng.uniform(0.38, 0.44)  # left-right: narrower than the neck
    size = (max(8, round(width / thick)), round(depth / in_plane), options.size)
    spacing = (thick, in_plane, in_plane)
    direction, origin = random_pose(rng, origin_mm=100.0)
    x, y, z = physical_coordinates(size, spacing, direction)
    signal, spine = _paint_anatomy(rng, x, y, z, extent)
    bias = _bias_field(rng, x, y, z, extent, depth)
    return PhantomVolumes(signal, bias, spine, spacing, origin, direction)


def make_cspine_phantom(
    seed: int | tuple[int, ...] = 0, options: PhantomOptions | None = None
) -> tuple[sitk.Image, sitk.Image]:
    """Generate one T2-like cervical-spine volume and its spine mask, deterministically.

    Returns:
        (image, mask): int16 and uint8 {0, 1} images with identical geometry.
    """
    import numpy as np
    from scipy.ndimage import gaussian_filter

    volumes = cspine_volumes(seed, options)
    # A second stream for the noise, so the anatomy of case i never depends on the noise.
    rng = np.random.default_rng([*np.atleast_1d(seed), 1])
    blur_mm = 0.6  # partial volume at tissue borders
    signal = gaussian_filter(
        volumes.signal * volumes.bias, sigma=[blur_mm / s for s in volumes.spacing[::-1]]
    )
    sigma = rng.uniform(12.0, 20.0)  # Rician noise: magnitude of complex Gaussian noise
    noisy = np.hypot(
        signal + rng.normal(0.0, sigma, signal.shape), rng.normal(0.0, sigma, signal.shape)
    )
    array = np.clip(np.rint(noisy), 0, 32767).astype(np.int16)

    image, mask = images_on_grid(
        [array, volumes.spine.astype(np.uint8)], volumes.spacing, volumes.origin, volumes.direction
    )
    return image, mask


def _paint_anatomy(
    rng: np.random.Generator, x: np.ndarray, y: np.ndarray, z: np.ndarray, extent: float
) -> tuple[np.ndarray, np.ndarray]:
    """T2 signal and spine mask in physical space (x left, y posterior, z head), in mm."""
    import numpy as np

    scale = extent / 155.0  # anatomy sized for a 155 mm field of view

    def value(tissue: str) -> float:
        return float(rng.uniform(*TISSUE[tissue]))

    signal = np.zeros(x.shape, dtype=np.float32)
    # Neck: fat ring around muscle, the spine in its posterior half.
    neck_x, neck_y = 62.0 * scale * rng.uniform(0.9, 1.1), 50.0 * scale * rng.uniform(0.9, 1.05)
    neck_centre_y = -10.0 * scale
    radial = (x / neck_x) ** 2 + ((y - neck_centre_y) / neck_y) ** 2
    signal[radial <= 1.0] = value("fat")
    signal[radial <= 0.80] = value("muscle")

    # The lordotic curve: column centre y_c(z) bows forwards (to -y) in the middle.
    half = 0.44 * extent
    bow = rng.uniform(5.0, 10.0) * scale
    spine_y = 8.0 * scale

    def centre_y(at_z: np.ndarray | float) -> Any:
        return spine_y - bow * (1.0 - (np.clip(at_z, -half, half) / half) ** 2)

    column_y = centre_y(z)
    airway = (x / (7.0 * scale)) ** 2 + ((y - column_y + 28.0 * scale) / (6.0 * scale)) ** 2 <= 1
    signal[airway] = value("airway")

    spine = np.zeros(x.shape, dtype=bool)
    count = int(rng.integers(6, 9))
    pitch = 2.0 * half / count
    body_half_y = 8.0 * scale
    canal_radius = 6.5 * scale
    canal_y = body_half_y + 1.5 * scale + canal_radius  # canal axis behind the body centre
    marrow, cortex, nucleus, annulus = (
        value(t) for t in ("marrow", "cortex", "nucleus", "annulus")
    )
    for k in range(count):
        grow = 1.0 + 0.25 * k / max(1, count - 1)  # lower vertebrae are larger
        zk = half - (k + 0.5) * pitch
        yk = float(centre_y(zk))
        slope = 2.0 * bow * zk / half**2  # d y_c / d z at zk
        norm = float(np.hypot(1.0, slope))
        # local frame: u along the column (head-wards), v front-back across it
        u = ((y - yk) * slope + (z - zk)) / norm
        v = ((y - yk) - (z - zk) * slope) / norm
        half_height = 0.36 * pitch
        half_x, half_y = 9.0 * scale * grow, body_half_y * grow
        body = (x / half_x) ** 4 + (v / half_y) ** 4 + (u / half_height) ** 4 <= 1.0
        inner = (x / (half_x - 1.5)) ** 4 + (v / (half_y - 1.5)) ** 4 + (
            u / max(half_height - 1.2, 0.5)
        ) ** 4 <= 1.0
        signal[body] = cortex
        signal[inner] = marrow
        spine |= body
        # posterior arch: the back half of a ring around the canal, then the spinous process
        ring = np.hypot(x, v - canal_y)
        arch = (ring >= canal_radius) & (ring <= canal_radius + 3.0 * scale) & (v >= canal_y)
        arch &= np.abs(u) <= 0.6 * half_height
        spinous = (
            (x / (3.0 * scale)) ** 2
            + ((v - canal_y - canal_radius - 9.0 * scale) / (10.0 * scale)) ** 2
            + ((u + 0.15 * (v - canal_y)) / (0.45 * half_height)) ** 2
        ) <= 1.0
        signal[arch | spinous] = marrow
        spine |= arch | spinous
        if k + 1 < count:  # the disc below this vertebra
            disc_u = u + 0.5 * pitch
            disc = (x / half_x) ** 2 + (v / half_y) ** 2 <= 1.0
            disc &= np.abs(disc_u) <= 0.5 * pitch - half_height + 0.3
            core = disc & ((x / (0.6 * half_x)) ** 2 + (v / (0.6 * half_y)) ** 2 <= 1.0)
            signal[disc & ~body] = annulus
            signal[core & ~body] = nucleus
            spine |= disc

    # Canal along the whole column: CSF around the cord (not part of the mask).
    canal_axis = column_y + canal_y
    canal = np.hypot(x, y - canal_axis) <= canal_radius
    cord = np.hypot(x / 1.4, y - canal_axis) <= 0.45 * canal_radius
    canal &= np.abs(z) <= 0.49 * extent
    signal[canal & ~spine] = value("csf")
    signal[canal & cord & ~spine] = value("cord")
    return signal, spine


def _bias_field(
    rng: np.random.Generator,
    x: np.ndarray,
    y: np.ndarray,
    z: np.ndarray,
    extent: float,
    depth: float,
) -> np.ndarray:
    """A smooth multiplicative receive-coil profile, exp(log-field) with |log-field| <= 0.45."""
    import numpy as np

    ys, zs, xs = y / (0.5 * depth), z / (0.5 * extent), x / (0.5 * extent)
    log_field = (
        rng.uniform(0.15, 0.30) * ys  # posterior coil: brighter at the back of the neck
        - rng.uniform(0.15, 0.35) * zs**2  # falls off towards head and chest
        + rng.uniform(-0.12, 0.12) * zs
        + rng.uniform(-0.10, 0.10) * xs
        + rng.uniform(-0.10, 0.10) * ys * zs
    )
    peak = float(np.abs(log_field).max()) or 1.0
    log_field *= min(1.0, 0.45 / peak)
    return np.exp(log_field).astype(np.float32)


def synthesize_cspine(
    output_dir: str | os.PathLike[str],
    num_cases: int = 12,
    seed: int = 0,
    *,
    options: PhantomOptions | None = None,
    train_fraction: float = 0.8,
    overwrite: bool = False,
) -> Path:
    """Write an MSD-style cervical-spine phantom dataset (NRRD) and its datalist.

    Writes `imagesTr/cspine_XX.nrrd` (int16), `labelsTr/cspine_XX.nrrd` (uint8 0/1), the MSD
    `dataset.json`, and `dataset_0.json` with "training" and "validation" lists (paths
    relative to `output_dir`; split `train_fraction` / rest, deterministic per seed). Case i
    depends only on (seed, i).

    Returns:
        The path of `dataset_0.json`.

    Example:
        >>> datalist = synthesize_cspine("data/cspine", num_cases=12, seed=0)
    """
    return write_phantom_dataset(
        output_dir,
        num_cases,
        lambda index: make_cspine_phantom((seed, index), options),
        DATASET,
        seed=seed,
        train_fraction=train_fraction,
        overwrite=overwrite,
    )


def synthesize(request: PhantomRequest) -> Path:
    """`clara synth cspine`: the family's phantom entry point."""
    size = request.size or PhantomOptions().size
    return request.write_with(synthesize_cspine, PhantomOptions(size=size))
