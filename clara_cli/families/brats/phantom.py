"""Synthetic multimodal brain-tumour MRI (T1c, T1, T2, FLAIR) with BraTS labels 1/2/4.

What is realistic:
    - Skull-stripped like BraTS: voxels outside the brain are exactly 0 in every channel,
      so per-channel normalisation over non-zero voxels (NormalizeIntensityd nonzero=True)
      sees brain only. Arbitrary scanner units that differ per case and channel (int16).
    - Tissue contrasts of the four sequences: white matter brighter than grey matter in
      T1/T1c and darker in T2/FLAIR; CSF (ventricles) dark in T1, bright in T2, suppressed in
      FLAIR.
    - A glioma as BraTS labels it: a necrotic core (1) inside an enhancing rim (4) inside
      peritumoral oedema (2). The rim is bright in T1c and not in T1; oedema and necrosis are
      bright in T2; oedema is the brightest in FLAIR. Irregular nested shapes of random size,
      pose and position (either hemisphere), a smooth multiplicative bias field per channel,
      partial volume (light blur) and Rician-like noise.
    - Geometry: 1 mm isotropic voxels as BraTS ships them, random origin, and sometimes
      flipped axes (the anatomy is laid out in physical LPS space, so a flipped file holds
      the same kind of head in a flipped array).

What is not:
    - The head is scaled to the field of view (about 64 x 78 mm brain at 128 voxels instead
      of 140 x 170 mm), there are no sulci, vessels, skull-stripping errors or mass effect,
      and every tumour has all three sub-regions (no non-enhancing low-grade glioma). Good
      for testing pipelines and for a small network to learn in minutes; meaningless for
      judging a model meant for real scans.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from clara_cli.data.phantom import (
    check_output_dir,
    ellipsoid,
    images_on_grid,
    physical_coordinates,
    random_pose,
    rotation,
    write_msd_dataset,
)
from clara_cli.errors import DataError

if TYPE_CHECKING:
    import numpy as np
    import SimpleITK as sitk

    from clara_cli.families import PhantomRequest

#: The input channels in the order of the model card (and of every datalist written here).
CHANNELS = ("t1c", "t1", "t2", "flair")
#: BraTS label values.
NECROTIC_CORE, OEDEMA, ENHANCING = 1, 2, 4
Layout = Literal["files", "4d"]

# Tissue codes, and each tissue's mean intensity per channel (T1c, T1, T2, FLAIR) relative
# to white matter in T1: the contrasts the model must learn (see the module docstring).
_WM, _GM, _CSF, _OEDEMA, _ENHANCING, _NECROSIS = 1, 2, 3, 4, 5, 6
_MEANS = (
    (0.00, 0.00, 0.00, 0.00),  # outside the brain
    (0.80, 0.80, 0.45, 0.50),  # white matter
    (0.60, 0.60, 0.62, 0.62),  # grey matter
    (0.22, 0.22, 1.00, 0.12),  # CSF
    (0.60, 0.55, 0.88, 0.98),  # oedema
    (1.30, 0.58, 0.70, 0.78),  # enhancing tumour
    (0.28, 0.33, 0.96, 0.55),  # necrosis
)


@dataclass(frozen=True)
class PhantomOptions:
    """Size of the generated volumes.

    Attributes:
        size: voxels left-right and anterior-posterior; slices = round(0.65 * size), the
            aspect of BraTS's 240 x 240 x 155 grid. The anatomy scales with it.
        spacing_mm: isotropic voxel size (BraTS: 1 mm).
    """

    size: int = 128
    spacing_mm: float = 1.0


def make_brats_phantom(
    seed: int | tuple[int, ...] = 0, options: PhantomOptions | None = None
) -> tuple[list[sitk.Image], sitk.Image]:
    """Generate one case deterministically from `seed`.

    Returns:
        ([t1c, t1, t2, flair], label): int16 images and a uint8 label map (0, 1, 2, 4), all
        with the same geometry.
    """
    import numpy as np
    from scipy.ndimage import gaussian_filter

    options = options or PhantomOptions()
    if options.size < 24:
        raise DataError(f"the brain phantom needs at least 24 voxels across, not {options.size}")
    rng = np.random.default_rng(seed)
    spacing = (options.spacing_mm,) * 3
    size = (options.size, options.size, max(16, round(0.65 * options.size)))
    direction, origin = random_pose(rng, origin_mm=120.0)
    coords = physical_coordinates(size, spacing, direction)
    width = size[0] * options.spacing_mm
    extent = (width, width, size[2] * options.spacing_mm)

    brain, tissue = _paint_brain(rng, coords, extent)
    labels = _paint_tumour(rng, coords, brain, extent)
    tissue[labels == OEDEMA] = _OEDEMA
    tissue[labels == ENHANCING] = _ENHANCING
    tissue[labels == NECROTIC_CORE] = _NECROSIS

    tumour = labels > 0
    heterogeneity = 1.0 + 0.08 * _smooth_field(rng, coords, wavelength_mm=0.08 * width)[tumour]
    channels = []
    for index in range(len(CHANNELS)):
        gain = rng.uniform(300.0, 1000.0)  # arbitrary scanner units, per case and channel
        jitter = rng.uniform(0.95, 1.05, len(_MEANS))  # tissue contrast varies per case
        means = np.array([m[index] for m in _MEANS]) * jitter
        values = means.astype(np.float32)[tissue]
        values[tumour] *= heterogeneity
        values = gaussian_filter(values, sigma=0.6)  # partial volume at borders
        values *= np.exp(0.12 * _smooth_field(rng, coords, wavelength_mm=1.5 * width))  # bias
        noise = rng.normal(0.0, 0.035, (2, *values.shape)).astype(np.float32)
        values = np.hypot(values + noise[0], noise[1])  # magnitude image: Rician noise
        scaled = np.where(brain, np.maximum(np.rint(values * gain), 1.0), 0.0)
        channels.append(scaled.astype(np.int16))

    *images, label = images_on_grid([*channels, labels], spacing, origin, direction)
    return images, label


def _paint_brain(
    rng: np.random.Generator, coords: tuple[np.ndarray, ...], extent: tuple[float, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Brain mask and tissue codes (x to the patient's left, y posterior, z cranial)."""
    import numpy as np

    x, y, z = coords
    semi = (
        0.30 * extent[0] * rng.uniform(0.95, 1.05),
        0.37 * extent[1] * rng.uniform(0.95, 1.05),
        0.40 * extent[2] * rng.uniform(0.95, 1.05),
    )
    radius = _radius(coords, (0.0, 0.0, 0.0), semi, (rng.uniform(-0.1, 0.1), 0.0, 0.0))
    radius += 0.03 * _smooth_field(rng, coords, wavelength_mm=0.5 * extent[0])
    brain = radius <= 1.0
    tissue = np.zeros(x.shape, dtype=np.uint8)
    tissue[brain] = _GM
    tissue[brain & (radius <= 0.86)] = _WM  # cortical ribbon outside
    for side in (-1.0, 1.0):
        nucleus = ellipsoid(
            x,
            y,
            z,
            (side * 0.22 * semi[0], 0.05 * semi[1], -0.05 * semi[2]),
            (0.14 * semi[0], 0.16 * semi[1], 0.14 * semi[2]),
        )
        tissue[nucleus & brain] = _GM
        ventricle = ellipsoid(
            x,
            y,
            z,
            (side * 0.12 * semi[0], -0.05 * semi[1], 0.15 * semi[2]),
            (0.07 * semi[0], 0.38 * semi[1], 0.16 * semi[2]),
            (side * rng.uniform(0.0, 0.15), 0.0, 0.0),
        )
        tissue[ventricle & brain] = _CSF
    return brain, tissue


def _paint_tumour(
    rng: np.random.Generator,
    coords: tuple[np.ndarray, ...],
    brain: np.ndarray,
    extent: tuple[float, ...],
) -> np.ndarray:
    """BraTS label map: necrotic core inside enhancing rim inside oedema, within the brain."""
    import numpy as np
    from scipy.ndimage import binary_dilation

    brain_x = 0.30 * extent[0]
    centre = (
        rng.choice((-1.0, 1.0)) * rng.uniform(0.20, 0.45) * brain_x,
        rng.uniform(-0.45, 0.45) * 0.37 * extent[1],
        rng.uniform(-0.35, 0.45) * 0.40 * extent[2],
    )
    angles = tuple(float(a) for a in rng.uniform(-np.pi, np.pi, 3))
    whole = rng.uniform(0.30, 0.55) * brain_x
    core = whole * rng.uniform(0.45, 0.70)
    necrotic = core * rng.uniform(0.35, 0.65)
    shapes = []
    for scale, roughness in ((whole, 0.15), (core, 0.10), (necrotic, 0.10)):
        semi = tuple(scale * rng.uniform(0.8, 1.2) for _ in range(3))
        radius = _radius(coords, centre, semi, angles)
        radius += roughness * _smooth_field(rng, coords, wavelength_mm=1.2 * scale)
        shapes.append(radius <= 1.0)
    # Nesting with a margin, inside out: the rim encloses the necrosis and the oedema the
    # rim by at least a voxel, wherever the irregular borders would have crossed.
    necrosis = shapes[2] & brain
    tumour_core = (shapes[1] | binary_dilation(necrosis)) & brain
    whole_tumour = (shapes[0] | binary_dilation(tumour_core)) & brain
    labels = np.zeros(brain.shape, dtype=np.uint8)
    labels[whole_tumour] = OEDEMA
    labels[tumour_core] = ENHANCING
    labels[necrosis] = NECROTIC_CORE
    return labels


def _radius(
    coords: tuple[np.ndarray, ...],
    centre: tuple[float, ...],
    semi_axes: tuple[float, ...],
    angles: tuple[float, ...],
) -> np.ndarray:
    """Ellipsoidal radius (1 on the surface) of a rotated ellipsoid at every voxel."""
    import numpy as np

    matrix = rotation(*angles)
    offsets = [c - m for c, m in zip(coords, centre, strict=True)]
    total = np.zeros(offsets[0].shape, dtype=np.float32)
    for axis in range(3):
        local = sum(float(matrix[row, axis]) * offsets[row] for row in range(3))
        total += (local / semi_axes[axis]) ** 2
    return np.sqrt(total)


def _smooth_field(
    rng: np.random.Generator,
    coords: tuple[np.ndarray, ...],
    wavelength_mm: float,
    components: int = 6,
) -> np.ndarray:
    """A smooth random field of about unit variance: random plane waves in physical space.

    Evaluated at physical coordinates (not on the voxel grid), so the field does not depend
    on how the volume is stored; a few cosines are far cheaper than blurring white noise.
    """
    import numpy as np

    field = np.zeros(coords[0].shape, dtype=np.float32)
    for _ in range(components):
        direction = rng.normal(size=3)
        direction /= np.linalg.norm(direction)
        # Python floats keep the arithmetic in float32 (a float64 scalar would promote it).
        k = [float(v) for v in direction * 2.0 * np.pi / (wavelength_mm * rng.uniform(0.7, 1.3))]
        phase = float(rng.uniform(0.0, 2.0 * np.pi))
        field += np.cos(k[0] * coords[0] + k[1] * coords[1] + k[2] * coords[2] + phase)
    return field * np.float32(np.sqrt(2.0 / components))


def synthesize_brats(
    output_dir: str | os.PathLike[str],
    num_cases: int = 12,
    seed: int = 0,
    *,
    options: PhantomOptions | None = None,
    layout: Layout = "files",
    train_fraction: float = 0.8,
    overwrite: bool = False,
) -> Path:
    """Write a BraTS-like phantom dataset and its datalist.

    Two layouts, as BraTS data is found in the wild:

    - ``"files"`` (the BraTS challenge's): one file per channel,
      ``imagesTr/brats_XXX_{t1c,t1,t2,flair}.nii.gz``, datalist items
      ``{"image": [t1c, t1, t2, flair], "label": ...}``;
    - ``"4d"`` (the Medical Segmentation Decathlon's): one 4D file per case
      ``imagesTr/brats_XXX.nii.gz`` holding the four channels in the same order along its
      4th axis (unlike MSD Task01, whose channel order and labels differ: see the MMAR's
      docs/README.md).

    Labels are ``labelsTr/brats_XXX.nii.gz`` (uint8, BraTS values 0, 1, 2, 4). Also writes
    the MSD ``dataset.json`` and ``dataset_0.json`` with "training" and "validation" lists
    (paths relative to `output_dir`). Case i depends only on (seed, i), not on the layout.

    Args:
        output_dir: destination folder; must be empty or absent unless `overwrite`.
        num_cases: number of cases (at least 2).
        seed: random seed of the whole dataset.
        options: volume size and spacing.
        layout: ``"files"`` or ``"4d"``.
        train_fraction: share of the cases in "training".
        overwrite: write into a non-empty folder.

    Returns:
        The path of ``dataset_0.json``.

    Example:
        >>> datalist = synthesize_brats("data/brats", num_cases=12, layout="4d")
    """
    import SimpleITK as sitk

    from clara_cli.io.image import write_image

    if layout not in ("files", "4d"):
        raise DataError(f"layout must be 'files' or '4d', not {layout!r}")
    output_dir = Path(output_dir)
    check_output_dir(output_dir, num_cases, overwrite)
    width = max(3, len(str(num_cases)))
    items: list[dict[str, Any]] = []
    for index in range(1, num_cases + 1):
        channels, label = make_brats_phantom((seed, index), options)
        case = f"brats_{index:0{width}d}"
        image: str | list[str]
        if layout == "files":
            image = [f"imagesTr/{case}_{name}.nii.gz" for name in CHANNELS]
            for channel, path in zip(channels, image, strict=True):
                write_image(channel, output_dir / path)
        else:
            image = f"imagesTr/{case}.nii.gz"
            write_image(sitk.JoinSeries(channels), output_dir / image)
        label_path = f"labelsTr/{case}.nii.gz"
        write_image(label, output_dir / label_path)
        items.append({"image": image, "label": label_path})

    return write_msd_dataset(
        output_dir,
        items,
        name="BraTSPhantom",
        description=f"Synthetic brain-tumour MRI, BraTS labels ({layout} layout, clara synth)",
        modality={str(i): name.upper() for i, name in enumerate(CHANNELS)},
        labels={
            "0": "background",
            str(NECROTIC_CORE): "necrotic and non-enhancing tumour core",
            str(OEDEMA): "peritumoral oedema",
            str(ENHANCING): "GD-enhancing tumour",
        },
        seed=seed,
        train_fraction=train_fraction,
    )


def synthesize(request: PhantomRequest) -> Path:
    """`clara synth brats`: one file per channel (the BraTS challenge layout)."""
    return _synthesize(request, "files")


def synthesize_4d(request: PhantomRequest) -> Path:
    """`clara synth brats-4d`: one 4D file per case (the Decathlon layout)."""
    return _synthesize(request, "4d")


def _synthesize(request: PhantomRequest, layout: Layout) -> Path:
    size = request.size or PhantomOptions().size
    return request.write_with(
        functools.partial(synthesize_brats, layout=layout), PhantomOptions(size=size)
    )
