"""The one transform DeepGrow inference needs beyond MONAI's: clicks given in physical space
turned into the `guidance` MONAI's deepgrow transforms read.

MONAI's `AddGuidanceFromPointsd` scales clicks by the shape ratio of the resampled and the
original image, which ignores reorientation and is off by up to a voxel (it aligns voxel
corners, not centres); its `SpatialCropGuidanced` fixes the crop's first axis at depth 0 for
3D, which misses organs whenever the scan is deeper than the patch. Here the clicks stay in
LPS millimetres and are placed in whatever array the pre-transforms made (reoriented,
resampled, cropped, resized) through that array's own affine, so the crop can be MONAI's
`SpatialCropForegroundd` around a click mask, as training crops around the label.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

#: How far (voxels) a click may fall outside the array's voxel centres and still be moved onto
#: its border: resampling keeps the voxel centres inside the input, so the input's outermost
#: half voxel can lie just outside the resampled grid.
BORDER_TOLERANCE = 1.0


class ClicksToGuidanced:
    """Place LPS clicks (mm) in the current `ref_image` array as DeepGrow guidance.

    Writes `guidance` = ``[[foreground indices], [background indices]]`` (integer voxel
    indices of the array, as `AddGuidanceSignald` reads them), ``{guidance}_affine`` (the RAS
    affine those indices refer to: where the network's output lies), and with `mask` a
    one-channel image with the clicked voxels set (the source for a crop around the clicks).

    Args:
        ref_image: key of the (channel-first MetaTensor) image the clicks are placed in.
        foreground: key of the foreground clicks, a list of LPS points in mm.
        background: key of the background clicks.
        guidance: key to write the guidance to.
        mask: key to write the click mask to; None writes none.

    Raises:
        ValueError: a click lies outside the array (naming it), or the image has no affine.
    """

    def __init__(
        self,
        ref_image: str = "image",
        foreground: str = "foreground",
        background: str = "background",
        guidance: str = "guidance",
        mask: str | None = None,
    ) -> None:
        self.ref_image = ref_image
        self.foreground = foreground
        self.background = background
        self.guidance = guidance
        self.mask = mask

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        import numpy as np

        d = dict(data)
        image = d[self.ref_image]
        affine = getattr(image, "affine", None)
        if affine is None:
            raise ValueError(
                f"{self.ref_image!r} has no affine: keep MONAI's metadata (MetaTensor)"
            )
        affine = np.asarray(affine.detach().cpu() if hasattr(affine, "detach") else affine, float)
        shape = tuple(int(n) for n in image.shape[1:])
        placed = [
            [self._place(point, affine, shape, key) for point in d.get(key) or []]
            for key in (self.foreground, self.background)
        ]
        d[self.guidance] = placed
        d[f"{self.guidance}_affine"] = affine
        if self.mask is not None:
            d[self.mask] = self._mask(image, [p for group in placed for p in group])
        return d

    def _place(self, point: Any, affine: Any, shape: tuple[int, ...], key: str) -> list[int]:
        import numpy as np

        from clara_cli.io.points import physical_to_array_index

        index = physical_to_array_index(affine, point)
        upper = np.asarray(shape) - 1
        if np.any(index < -BORDER_TOLERANCE) or np.any(index > upper + BORDER_TOLERANCE):
            where = ", ".join(f"{v:.1f}" for v in index)
            raise ValueError(
                f"{key} click at {', '.join(f'{v:g}' for v in point)} mm (LPS) falls outside "
                f"the image as the model sees it (index {where} of shape {list(shape)})"
            )
        return [int(v) for v in np.clip(np.rint(index), 0, upper)]

    @staticmethod
    def _mask(image: Any, points: list[list[int]]) -> Any:
        import torch
        from monai.data import MetaTensor

        mask = torch.zeros((1, *image.shape[1:]), dtype=torch.float32)
        for point in points:
            mask[(0, *point)] = 1.0
        return MetaTensor(mask, affine=image.affine)
