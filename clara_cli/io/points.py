"""Points in an image: voxel indices of a file (ITK order x, y, z), physical LPS millimetres,
and indices of a MONAI array placed by its RAS affine. All point arithmetic lives here.

ITK and DICOM (and so SimpleITK, ITK-SNAP's voxel coordinates and NRRD/NIfTI as SimpleITK reads
them) measure physical space in LPS: x grows to the patient's left, y to the back, z to the
head. MONAI's affines (from its NIfTI/ITK readers) are RAS: x and y negated.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from clara_cli.io.prediction import Grid

_RAS_FROM_LPS = np.diag([-1.0, -1.0, 1.0])


def _matrix(grid: Grid) -> np.ndarray:
    dim = len(grid.size)
    return np.asarray(grid.direction, dtype=float).reshape(dim, dim) * np.asarray(grid.spacing)


def index_to_physical(grid: Grid, index: Sequence[float]) -> np.ndarray:
    """The LPS position (mm) of a (continuous) voxel index of `grid`, in ITK order (x, y, z)."""
    return np.asarray(grid.origin, dtype=float) + _matrix(grid) @ np.asarray(index, dtype=float)


def physical_to_index(grid: Grid, point: Sequence[float]) -> np.ndarray:
    """The continuous voxel index (x, y, z) of an LPS position (mm) in `grid`."""
    offset = np.asarray(point, dtype=float) - np.asarray(grid.origin, dtype=float)
    return np.linalg.solve(_matrix(grid), offset)


def is_inside(grid: Grid, index: Sequence[float] | np.ndarray) -> bool:
    """Whether a continuous index lies in the image: within half a voxel of a voxel centre."""
    values = np.asarray(index, dtype=float)
    return bool(np.all(values >= -0.5) and np.all(values <= np.asarray(grid.size) - 0.5))


def physical_to_array_index(ras_affine: np.ndarray, point: Sequence[float]) -> np.ndarray:
    """The continuous index of an LPS position (mm) in an array placed by a RAS affine.

    MONAI keeps each array's voxel-to-RAS affine up to date through every spatial transform
    (reorientation, resampling, cropping, resizing), so this finds a point in the array as the
    network sees it.
    """
    affine = np.asarray(ras_affine, dtype=float)
    dim = affine.shape[0] - 1
    ras = _RAS_FROM_LPS[:dim, :dim] @ np.asarray(point, dtype=float)
    return np.linalg.solve(affine[:dim, :dim], ras - affine[:dim, dim])
