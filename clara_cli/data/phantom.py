"""Shared pieces of the synthetic phantoms every model family writes.

Anatomy is laid out in physical (LPS) space and sampled on a voxel grid with a random
spacing, origin and direction, so a flipped file holds the same patient in a flipped array:
what orientation handling must cope with. Datasets are written in the Medical Segmentation
Decathlon layout (`imagesTr/`, `labelsTr/`, `dataset.json`) with a training/validation
datalist `dataset_0.json`. The anatomy of each family lives in its own module
(`clara_cli/families/<name>/phantom.py`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clara_cli.errors import DataError
from clara_cli.io.datalist import split_items, write_datalist

if TYPE_CHECKING:
    import numpy as np
    import SimpleITK as sitk

#: Direction cosines drawn for the cases (row-major 3x3): identity is drawn half of the time.
DIRECTIONS: tuple[tuple[float, ...], ...] = (
    (1, 0, 0, 0, 1, 0, 0, 0, 1),
    (1, 0, 0, 0, 1, 0, 0, 0, 1),
    (-1, 0, 0, 0, -1, 0, 0, 0, 1),  # RAS-stored array, common in NIfTI from other tools
    (1, 0, 0, 0, 1, 0, 0, 0, -1),  # slices stored from head to feet
)


def physical_coordinates(
    size: tuple[int, int, int], spacing: tuple[float, float, float], direction: Sequence[float]
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


def random_pose(
    rng: np.random.Generator, origin_mm: float
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """A direction drawn from :data:`DIRECTIONS`, then an origin uniform in +-`origin_mm`."""
    direction = DIRECTIONS[int(rng.integers(len(DIRECTIONS)))]
    origin = tuple(float(v) for v in rng.uniform(-origin_mm, origin_mm, 3))
    return direction, origin


def images_on_grid(
    arrays: Sequence[np.ndarray],
    spacing: Sequence[float],
    origin: Sequence[float],
    direction: Sequence[float],
) -> list[sitk.Image]:
    """One image per (z, y, x) array, all with the same spacing, origin and direction."""
    import SimpleITK as sitk

    images = [sitk.GetImageFromArray(array) for array in arrays]
    for image in images:
        image.SetSpacing(tuple(spacing))
        image.SetOrigin(tuple(origin))
        image.SetDirection(tuple(direction))
    return images


def ct_to_int16(
    hu: np.ndarray,
    rng: np.random.Generator,
    spacing: Sequence[float],
    noise_sd: tuple[float, float],
) -> np.ndarray:
    """Finish a painted CT: a light blur (0.8 mm, partial volume at organ borders), white
    noise of a standard deviation drawn from `noise_sd` (HU), rounded and clipped to int16."""
    import numpy as np
    from scipy.ndimage import gaussian_filter

    sigma_mm = 0.8
    hu = gaussian_filter(hu, sigma=tuple(sigma_mm / s for s in reversed(spacing)))
    hu += rng.normal(0.0, rng.uniform(*noise_sd), hu.shape).astype(np.float32)
    return np.clip(np.rint(hu), -1024, 3071).astype(np.int16)


def ellipsoid(
    x: np.ndarray,
    y: np.ndarray,
    z: np.ndarray,
    centre: tuple[float, float, float],
    semi_axes: tuple[float, float, float],
    angles: tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> np.ndarray:
    """Mask of a rotated ellipsoid; `angles` are rotations (rad) about z, y and x, in that order."""
    import numpy as np

    matrix = rotation(*angles)
    dx, dy, dz = x - centre[0], y - centre[1], z - centre[2]
    total = np.zeros(x.shape, dtype=np.float32)
    for axis in range(3):
        # coordinate along the ellipsoid's own axis = column `axis` of the rotation
        local = matrix[0, axis] * dx + matrix[1, axis] * dy + matrix[2, axis] * dz
        total += (local / semi_axes[axis]) ** 2
    return total <= 1.0


def rotation(about_z: float, about_y: float, about_x: float) -> np.ndarray:
    """The 3x3 rotation Rz @ Ry @ Rx (radians)."""
    import numpy as np

    cz, sz = np.cos(about_z), np.sin(about_z)
    cy, sy = np.cos(about_y), np.sin(about_y)
    cx, sx = np.cos(about_x), np.sin(about_x)
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    return (rz @ ry @ rx).astype(np.float32)


def check_output_dir(output_dir: Path, num_cases: int, overwrite: bool) -> None:
    """Refuse fewer than 2 cases, a file in the way, or a non-empty folder without overwrite.

    Raises:
        DataError: what is wrong and how to go on.
    """
    if num_cases < 2:
        raise DataError(f"the phantom dataset needs at least 2 cases, not {num_cases}")
    if output_dir.exists() and not output_dir.is_dir():
        raise DataError(f"output {str(output_dir)!r} exists and is not a folder")
    if output_dir.is_dir() and any(output_dir.iterdir()) and not overwrite:
        raise DataError(
            f"output folder {str(output_dir)!r} is not empty\n"
            "  choose an empty folder, or overwrite its phantom files with --force"
        )


@dataclass(frozen=True)
class PhantomDataset:
    """What a phantom dataset's files are called and what its MSD `dataset.json` says.

    Attributes:
        stem: file name stem of the cases (`imagesTr/<stem>_01<extension>`).
        name, description, modality, labels: the `dataset.json` fields.
        extension: file type of images and labels.
    """

    stem: str
    name: str
    description: str
    modality: Mapping[str, str]
    labels: Mapping[str, str]
    extension: str = ".nii.gz"


def write_phantom_dataset(
    output_dir: str | os.PathLike[str],
    num_cases: int,
    make_case: Callable[[int], tuple[Any, Any]],
    dataset: PhantomDataset,
    *,
    seed: int,
    train_fraction: float,
    overwrite: bool,
) -> Path:
    """Check the folder, write the cases `make_case(1..num_cases)`, `dataset.json` and the
    split datalist `dataset_0.json`; returns the latter."""
    output_dir = Path(output_dir)
    check_output_dir(output_dir, num_cases, overwrite)
    items = write_phantom_cases(
        output_dir, num_cases, make_case, stem=dataset.stem, extension=dataset.extension
    )
    return write_msd_dataset(
        output_dir,
        items,
        name=dataset.name,
        description=dataset.description,
        modality=dataset.modality,
        labels=dataset.labels,
        seed=seed,
        train_fraction=train_fraction,
    )


def write_phantom_cases(
    output_dir: Path,
    num_cases: int,
    make_case: Callable[[int], tuple[Any, Any]],
    *,
    stem: str,
    extension: str = ".nii.gz",
) -> list[dict[str, Any]]:
    """Write `make_case(i)` (image, label) for i = 1..num_cases as `imagesTr/<stem>_<i>` and
    `labelsTr/<stem>_<i>`; returns the datalist items, paths relative to `output_dir`."""
    from clara_cli.io.image import write_image

    width = max(2, len(str(num_cases)))
    items: list[dict[str, Any]] = []
    for index in range(1, num_cases + 1):
        image, label = make_case(index)
        name = f"{stem}_{index:0{width}d}{extension}"
        write_image(image, output_dir / "imagesTr" / name)
        write_image(label, output_dir / "labelsTr" / name)
        items.append({"image": f"imagesTr/{name}", "label": f"labelsTr/{name}"})
    return items


def write_msd_dataset(
    output_dir: Path,
    items: list[dict[str, Any]],
    *,
    name: str,
    description: str,
    modality: Mapping[str, str],
    labels: Mapping[str, str],
    seed: int,
    train_fraction: float,
) -> Path:
    """Write the MSD `dataset.json` and the split datalist `dataset_0.json`; returns the latter.

    `items` are `{"image": ..., "label": ...}` paths relative to `output_dir` (an image may be a
    list of paths, one per channel). The split is deterministic per seed.
    """

    def dotted(value: Any) -> Any:
        return [f"./{v}" for v in value] if isinstance(value, list) else f"./{value}"

    write_datalist(
        output_dir / "dataset.json",
        {
            "name": name,
            "description": f"{description} (seed {seed})",
            "reference": "generated by clara synth",
            "licence": "CC0-1.0",
            "release": "1.0",
            "tensorImageSize": "3D" if len(modality) == 1 else "4D",
            "modality": dict(modality),
            "labels": dict(labels),
            "numTraining": len(items),
            "numTest": 0,
            "training": [
                {k: dotted(v) if k in ("image", "label") else v for k, v in item.items()}
                for item in items
            ],
            "test": [],
        },
    )
    training, validation = split_items(items, train_fraction, seed)
    return write_datalist(
        output_dir / "dataset_0.json", {"training": training, "validation": validation}
    )
