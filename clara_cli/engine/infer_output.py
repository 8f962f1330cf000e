"""Put a prediction back on its input's voxel grid and write it with SimpleITK.

The exact path: the config's post-transforms end in MONAI's `Invertd`, which undoes the
crop, the resampling and the reorientation, so the prediction already has the input's voxel
grid (same shape, same affine as read). The arrays are then written with the input file's own
size, spacing, origin and direction, copied from its header: no interpolation happens here and
the output overlays the input exactly in any viewer.

When a config does not invert its pre-transforms, the prediction is resampled from its own
affine onto the input grid with SimpleITK (linear for probabilities, nearest for label maps).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from clara_cli.errors import DataError

if TYPE_CHECKING:
    import SimpleITK as sitk

log = logging.getLogger("clara")

# NIfTI/MONAI affines are RAS; ITK geometry is LPS.
_RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0])
# Largest difference (mm, or direction cosine) still taken for the same grid.
_GRID_TOLERANCE = 1e-3


@dataclass(frozen=True)
class Grid:
    """An image's voxel grid as ITK sees it (x, y, z order; LPS)."""

    size: tuple[int, ...]
    spacing: tuple[float, ...]
    origin: tuple[float, ...]
    direction: tuple[float, ...]

    @property
    def ras_affine(self) -> np.ndarray:
        """The voxel-to-RAS affine MONAI's readers give this grid."""
        dim = len(self.size)
        matrix = np.asarray(self.direction, dtype=float).reshape(dim, dim) * np.asarray(
            self.spacing
        )
        affine = np.eye(4)
        flip = _RAS_TO_LPS[:dim, :dim]
        affine[:dim, :dim] = flip @ matrix
        affine[:dim, 3] = flip @ np.asarray(self.origin, dtype=float)
        return affine

    def apply(self, image: sitk.Image) -> sitk.Image:
        image.SetSpacing(self.spacing)
        image.SetOrigin(self.origin)
        image.SetDirection(self.direction)
        return image


def read_grid(path: str | Path) -> Grid:
    """The grid of an image file, from its header only (no pixel data is read).

    Raises:
        DataError: the file cannot be read as an image.
    """
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as err:
        raise DataError(
            f"cannot read the header of {path}: {str(err).strip().splitlines()[-1]}"
        ) from None
    return Grid(
        tuple(int(v) for v in reader.GetSize()),
        tuple(float(v) for v in reader.GetSpacing()),
        tuple(float(v) for v in reader.GetOrigin()),
        tuple(float(v) for v in reader.GetDirection()),
    )


def write_prediction(
    pred: Any, grid: Grid, seg_path: Path, prob_path: Path | None = None
) -> tuple[Path, Path | None]:
    """Write the label map (uint8, or uint16 above 255 classes) and optionally the soft output.

    Args:
        pred: channel-first prediction (tensor or MetaTensor): C > 1 channels are class
            scores with channel 0 the background (argmax gives the labels); one channel is a
            label map or a foreground probability (rounded at 0.5).
        grid: the input image's grid.
        seg_path: where the label map goes (`<case>_seg.nii.gz`).
        prob_path: where the soft output goes, as a C-component float32 image; None to skip.

    Raises:
        DataError: `prob_path` is asked for but the prediction is already a label map, or
            the prediction cannot be placed on the input grid.
    """
    from clara_cli.io.image import write_image

    array = _as_numpy(pred)
    dim = len(grid.size)
    if array.ndim != dim + 1:
        raise DataError(
            f"the prediction has shape {list(array.shape)}; expected channel-first with "
            f"{dim} spatial axes like the input"
        )
    is_label_map = array.shape[0] == 1 and _is_integral(array)
    if prob_path is not None and is_label_map:
        raise DataError(
            "--probabilities needs soft outputs, but the config's post_transforms end in a "
            "label map (AsDiscreted); remove that transform or drop --probabilities"
        )
    if not _on_grid(pred, array, grid):
        array = _resample_onto(pred, array, grid, is_label_map)
    if array.shape[0] > 1:
        array = _complete_softmax(array)
    labels = _label_map(array)
    write_image(grid.apply(_from_channels_first(labels[None], vector=False)), seg_path)
    if prob_path is not None:
        soft = array.astype(np.float32, copy=False)
        write_image(grid.apply(_from_channels_first(soft, vector=True)), prob_path)
    return seg_path, prob_path


def _complete_softmax(array: np.ndarray) -> np.ndarray:
    """Give softmax outputs back their sum of one where the inversion blended in padding.

    Invertd pads the cropped-away region with zeros, then resamples: voxels the network
    never saw are 0 in every channel, and those near the crop border are blended with that
    zero. Per voxel the blend scales every channel alike, so dividing by the channel sum
    restores the interpolated probabilities (argmax unchanged) and unseen voxels become
    background. Outputs whose channels do not sum to one (sigmoid, raw scores) are kept.
    """
    total = array.sum(axis=0)
    if not np.isclose(float(total.max(initial=0.0)), 1.0, atol=1e-3):
        return array
    seen = total > 0
    array = np.array(array, dtype=np.float32)
    array[:, seen] /= total[seen]
    array[0][~seen] = 1.0
    return array


def _as_numpy(pred: Any) -> np.ndarray:
    if hasattr(pred, "detach"):
        pred = pred.detach().cpu()
        if pred.dtype.is_floating_point:
            pred = pred.float()  # bf16/fp16 have no numpy dtype
        return np.asarray(pred.as_tensor() if hasattr(pred, "as_tensor") else pred)
    return np.asarray(pred)


def _is_integral(array: np.ndarray) -> bool:
    if not np.issubdtype(array.dtype, np.floating):
        return True
    return bool(np.all(array == np.round(array)))


def _label_map(array: np.ndarray) -> np.ndarray:
    if array.shape[0] > 1:
        labels = np.argmax(array, axis=0)
    else:
        labels = np.rint(array[0])  # a foreground probability thresholds at 0.5
    dtype = np.uint8 if labels.max(initial=0) <= np.iinfo(np.uint8).max else np.uint16
    return labels.astype(dtype)


def _from_channels_first(array: np.ndarray, vector: bool) -> sitk.Image:
    """A SimpleITK image from a (C, x, y[, z]) array: ITK arrays are ([z,] y, x[, C])."""
    import SimpleITK as sitk

    spatial = array.ndim - 1
    reordered = np.transpose(array, (*range(spatial, 0, -1), 0))
    if not vector:
        return sitk.GetImageFromArray(np.ascontiguousarray(reordered[..., 0]))
    return sitk.GetImageFromArray(np.ascontiguousarray(reordered), isVector=True)


def _affine_of(pred: Any) -> np.ndarray | None:
    affine = getattr(pred, "affine", None)
    if affine is None:
        return None
    return np.asarray(affine.detach().cpu().numpy() if hasattr(affine, "detach") else affine, float)


def _on_grid(pred: Any, array: np.ndarray, grid: Grid) -> bool:
    if tuple(array.shape[1:]) != grid.size:
        return False
    affine = _affine_of(pred)
    if affine is None:
        log.debug("prediction has no affine; taken to be on the input grid (same shape)")
        return True
    return bool(np.allclose(affine, grid.ras_affine, atol=_GRID_TOLERANCE))


def _resample_onto(pred: Any, array: np.ndarray, grid: Grid, is_label_map: bool) -> np.ndarray:
    """Resample a (C, ...) prediction from its own affine onto `grid`; returns (C, *grid.size)."""
    import SimpleITK as sitk

    affine = _affine_of(pred)
    if affine is None:
        raise DataError(
            f"the prediction (shape {list(array.shape[1:])}) is not on the input grid "
            f"({list(grid.size)}) and carries no affine to resample it with\n"
            "  end the config's post_transforms with Invertd (keys: pred, orig_keys: image)"
        )
    log.debug("prediction not on the input grid; resampling it with SimpleITK")
    dim = len(grid.size)
    lps = _RAS_TO_LPS[:dim, :dim] @ affine[:dim, :dim]
    spacing = np.linalg.norm(lps, axis=0)
    source = _from_channels_first(array.astype(np.float32), vector=True)
    source.SetSpacing(tuple(float(s) for s in spacing))
    source.SetDirection(tuple(float(v) for v in (lps / spacing).ravel()))
    source.SetOrigin(tuple(float(v) for v in _RAS_TO_LPS[:dim, :dim] @ affine[:dim, 3]))
    resampler = sitk.ResampleImageFilter()
    resampler.SetSize(grid.size)
    resampler.SetOutputSpacing(grid.spacing)
    resampler.SetOutputOrigin(grid.origin)
    resampler.SetOutputDirection(grid.direction)
    resampler.SetInterpolator(sitk.sitkNearestNeighbor if is_label_map else sitk.sitkLinear)
    resampler.SetDefaultPixelValue(0.0)
    resampled = sitk.GetArrayFromImage(resampler.Execute(source))  # ([z,] y, x, C)
    return np.transpose(resampled, (dim, *range(dim - 1, -1, -1)))
