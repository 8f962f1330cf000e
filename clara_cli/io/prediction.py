"""Put a prediction back on its input's voxel grid and write it with SimpleITK.

A prediction leaves the network on the pre-transforms' grid (reoriented, resampled, cropped),
as a MetaTensor whose affine says where each voxel is. It is taken back onto the input's own
grid in one of two exact ways, and written with the input file's size, spacing, origin and
direction (copied from its header), so the output overlays the input in any viewer:

- the config's post-transforms end in MONAI's `Invertd`: the prediction is already on the
  input grid (same shape, same affine) and is written as is;
- otherwise (the spleen MMAR's config): SimpleITK resamples it from its affine onto the input
  grid, linear for scores and probabilities, nearest for label maps; voxels outside the
  cropped region are background. On a 512 x 512 x 100 CT this took 2.3 s against 15 s for
  `Invertd` (linear) and writing, with the same labels up to rounding at near-ties. With
  `labels_first` the argmax is taken on the prediction's own grid and the uint8 labels are
  resampled by nearest neighbour instead (Invertd(nearest_interp=True) + AsDiscreted).

Soft outputs become labels by argmax (channel 0 the background), unless the prediction's
metadata says it is multi-label (:data:`REGION_LABELS_KEY`: one sigmoid channel per region,
regions may overlap, as BraTS's TC/WT/ET do); its labels are then painted region by region.
A multi-channel input stored as one 4D file (channels on the 4th axis, as the Medical
Segmentation Decathlon stores MRI) gives its first three axes as the grid.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from clara_cli.errors import DataError
from clara_cli.io.native_stderr import metaio_to_log

if TYPE_CHECKING:
    import SimpleITK as sitk

log = logging.getLogger("clara")

# NIfTI/MONAI affines are RAS; ITK geometry is LPS.
_RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0])
# Largest difference (mm, or direction cosine) still taken for the same grid.
_GRID_TOLERANCE = 1e-3
#: Metadata key of a multi-label prediction: a list of ``[channel, label value]`` pairs. The
#: label map paints each pair's value where that channel's probability is at least 0.5, in
#: list order, so later pairs win where regions overlap (BraTS: ``[[1, 2], [0, 1], [2, 4]]``
#: paints WT as 2, then TC as 1, then ET as 4).
REGION_LABELS_KEY = "region_labels"


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
        DataError: the file cannot be read as an image; the message says why, not where.
    """
    import SimpleITK as sitk

    path = Path(path)
    if path.is_file() and path.stat().st_size == 0:
        raise DataError("the file is empty")
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        with metaio_to_log():
            reader.ReadImageInformation()
    except RuntimeError as err:
        if "Unable to determine ImageIO reader" in str(err):
            raise DataError(
                "no image reader recognises it (corrupt, or not NIfTI, NRRD or MetaImage)"
            ) from None
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        reason = next((line.split("ERROR:", 1)[1] for line in lines if "ERROR:" in line), None)
        raise DataError((reason or lines[-1]).strip()) from None
    size, spacing, origin = reader.GetSize(), reader.GetSpacing(), reader.GetOrigin()
    direction = reader.GetDirection()
    if len(size) == 4:
        # Channels (or time) on the 4th axis: the grid is the first three axes.
        size, spacing, origin = size[:3], spacing[:3], origin[:3]
        direction = [direction[row * 4 + col] for row in range(3) for col in range(3)]
    return Grid(
        tuple(int(v) for v in size),
        tuple(float(v) for v in spacing),
        tuple(float(v) for v in origin),
        tuple(float(v) for v in direction),
    )


def write_prediction(
    pred: Any,
    grid: Grid,
    seg_path: Path,
    prob_path: Path | None = None,
    labels_first: bool = False,
) -> tuple[Path, Path | None]:
    """Write the label map (uint8, or uint16 above 255 classes) and optionally the soft output.

    Args:
        pred: channel-first prediction (tensor or MetaTensor): C > 1 channels are class
            scores with channel 0 the background (argmax gives the labels); one channel is a
            label map or a foreground probability (rounded at 0.5); a MetaTensor whose meta
            holds :data:`REGION_LABELS_KEY` has one probability per region (see there).
        grid: the input image's grid.
        seg_path: where the label map goes (`<case>_seg.nii.gz`).
        prob_path: where the soft output goes, as a C-component float32 image; None to skip.
        labels_first: take the labels at the prediction's own resolution and resample them
            by nearest neighbour (no soft output asked for); False interpolates the scores
            linearly first, as Invertd(nearest_interp=False) does.

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
    regions = region_labels_of(pred, array.shape[0])
    if regions is not None and (array.min(initial=0.0) < 0.0 or array.max(initial=0.0) > 1.0):
        raise DataError(
            "a multi-label prediction must hold probabilities or masks in [0, 1], not values "
            f"in [{float(array.min()):.3g}, {float(array.max()):.3g}]\n"
            "  apply Activationsd(sigmoid=True) in the post_transforms before marking regions"
        )
    is_label_map = array.shape[0] == 1 and _is_integral(array) and regions is None
    if prob_path is not None and is_label_map:
        raise DataError(
            "--probabilities needs soft outputs, but the config's post_transforms end in a "
            "label map (AsDiscreted); remove that transform or drop --probabilities"
        )
    if _on_grid(pred, array, grid):
        labels = _label_map(array, regions)
    else:
        affine = _affine_for_resampling(pred, array, grid)
        if prob_path is None and regions is None and labels_first:
            # Labels at the model's resolution, taken to the input grid by nearest neighbour:
            # what Invertd(nearest_interp=True) + AsDiscreted(argmax) give, on one uint8
            # volume instead of C float channels.
            labels = _label_map(array)
            labels = _resample(labels[None], affine, grid, linear=False, default=0)[0]
        elif prob_path is None and array.shape[0] == 2 and regions is None:
            # The argmax of two linearly interpolated channels is the sign of their
            # interpolated difference: resample one channel instead of two (outside: background).
            difference = _resample(array[1:] - array[:1], affine, grid, linear=True, default=-1.0)
            labels = np.greater(difference[0], 0).view(np.uint8)
        else:
            array = _resample(array, affine, grid, linear=not is_label_map, default=0.0)
            labels = _label_map(array, regions)
    write_image(grid.apply(_from_channels_first(labels[None], vector=False)), seg_path)
    if prob_path is not None:
        # Completing the soft output keeps its argmax, so the labels above are unchanged.
        soft = _complete_softmax(array) if array.shape[0] > 1 and regions is None else array
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
    array = np.asarray(array, dtype=np.float32)
    total = array.sum(axis=0)
    if not np.isclose(float(total.max(initial=0.0)), 1.0, atol=1e-3):
        return array
    seen = total > 0
    np.divide(array, total, out=array, where=seen)  # in place: the array is ours
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


def region_labels_of(pred: Any, channels: int) -> list[tuple[int, int]] | None:
    """The ``(channel, label)`` pairs of a multi-label prediction, None for other outputs.

    Raises:
        DataError: the pairs are malformed or name a channel the prediction lacks.
    """
    meta = getattr(pred, "meta", None)
    pairs = meta.get(REGION_LABELS_KEY) if isinstance(meta, dict) else None
    if pairs is None:
        return None
    try:
        checked = [(int(channel), int(value)) for channel, value in pairs]
    except (TypeError, ValueError):
        raise DataError(
            f"{REGION_LABELS_KEY} must be a list of [channel, label value] pairs, not {pairs!r}"
        ) from None
    bad = [pair for pair in checked if not 0 <= pair[0] < channels or not 0 < pair[1] <= 65535]
    if bad or not checked:
        raise DataError(
            f"{REGION_LABELS_KEY} {pairs!r}: every pair needs a channel in 0..{channels - 1} "
            "(the prediction's channels) and a label value in 1..65535"
        )
    return checked


def paint_regions(array: np.ndarray, pairs: list[tuple[int, int]]) -> np.ndarray:
    """Label map of region probabilities/masks (C, ...): each pair's value where its channel
    is at least 0.5, painted in order (later pairs win)."""
    largest = max(value for _, value in pairs)
    labels = np.zeros(array.shape[1:], dtype=np.uint8 if largest <= 255 else np.uint16)
    for channel, value in pairs:
        labels[array[channel] >= 0.5] = value
    return labels


def _label_map(array: np.ndarray, regions: list[tuple[int, int]] | None = None) -> np.ndarray:
    if regions is not None:
        return paint_regions(array, regions)
    if array.shape[0] == 2:
        # Same result as argmax (ties go to the background), without an int64 index array.
        return np.greater(array[1], array[0]).view(np.uint8)
    if array.shape[0] > 2:
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


def _affine_for_resampling(pred: Any, array: np.ndarray, grid: Grid) -> np.ndarray:
    affine = _affine_of(pred)
    if affine is None:
        raise DataError(
            f"the prediction (shape {list(array.shape[1:])}) is not on the input grid "
            f"({list(grid.size)}) and carries no affine to resample it with\n"
            "  keep the pre-transforms' metadata (EnsureTyped with track_meta), or end the "
            "config's post_transforms with Invertd (keys: pred, orig_keys: image)"
        )
    return affine


def _resample(
    array: np.ndarray, affine: np.ndarray, grid: Grid, linear: bool, default: float
) -> np.ndarray:
    """Resample a (C, ...) array placed by a RAS `affine` onto `grid`; returns (C, *grid.size)."""
    import SimpleITK as sitk

    dim = len(grid.size)
    # ITK interpolates only between voxel centres. One voxel of edge values on every side
    # lets the input's outermost slices (up to a voxel beyond the last centre of the
    # resampled grid) take the nearest prediction, and a crop border keep its label for one
    # voxel outwards: what Invertd's border padding gives. Farther out is background.
    kept = array if array.dtype in (np.uint8, np.uint16) else array.astype(np.float32, copy=False)
    padded = np.pad(kept, [(0, 0)] + [(1, 1)] * dim, mode="edge")
    lps = _RAS_TO_LPS[:dim, :dim] @ affine[:dim, :dim]
    spacing = np.linalg.norm(lps, axis=0)
    origin = _RAS_TO_LPS[:dim, :dim] @ (affine[:dim, 3] - affine[:dim, :dim].sum(axis=1))
    source = _from_channels_first(padded, vector=array.shape[0] > 1)
    source.SetSpacing(tuple(float(s) for s in spacing))
    source.SetDirection(tuple(float(v) for v in (lps / spacing).ravel()))
    source.SetOrigin(tuple(float(v) for v in origin))
    resampler = sitk.ResampleImageFilter()
    resampler.SetSize(grid.size)
    resampler.SetOutputSpacing(grid.spacing)
    resampler.SetOutputOrigin(grid.origin)
    resampler.SetOutputDirection(grid.direction)
    resampler.SetInterpolator(sitk.sitkLinear if linear else sitk.sitkNearestNeighbor)
    resampler.SetDefaultPixelValue(default)
    resampled = sitk.GetArrayFromImage(resampler.Execute(source))  # ([z,] y, x[, C])
    if array.shape[0] == 1:
        resampled = resampled[..., None]
    return np.transpose(resampled, (dim, *range(dim - 1, -1, -1)))
