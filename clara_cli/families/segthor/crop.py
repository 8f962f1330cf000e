"""The entry's auto crop: find the body centre of a 3D CT, crop a fixed box around it.

Slices of a thoracic CT are mostly air and table; the SegTHOR entry found the centre of the
body in each 3D volume and cut the same-sized box around it before flattening to slices, so
every slice shows the body at the same place and scale. :class:`BodyCentreCropd` does that as
a MONAI transform (after Orientationd/Spacingd, so the box is a fixed size in mm); the crop
and any padding are MONAI's, so the MetaTensor affine follows and predictions go back onto the
input grid.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from monai.config import KeysCollection
from monai.transforms import MapTransform

#: HU above which a voxel belongs to the body (fat is -100, lung about -850, air -1000).
BODY_THRESHOLD = -500.0


def body_centre(volume: Any, threshold: float = BODY_THRESHOLD) -> tuple[float, ...]:
    """Voxel coordinates of the body's centre of mass in a (C, X, Y, Z) or (X, Y, Z) CT.

    The body is the largest connected component above `threshold` HU, so a patient table or
    a stray bright object does not pull the centre away.

    Raises:
        ValueError: every voxel is above the threshold, or none is (not a CT in HU).
    """
    import numpy as np
    from scipy import ndimage

    array = np.asarray(volume.detach().cpu() if hasattr(volume, "detach") else volume)
    if array.ndim == 4:
        array = array[0]
    foreground = array > threshold
    if foreground.all() or not foreground.any():
        # a thoracic CT always holds air (around the body, in the lungs) and tissue
        raise ValueError(
            f"every voxel is {'above' if foreground.all() else 'at or below'} {threshold} HU: "
            "is this a CT in Hounsfield units? Crop before any intensity normalisation"
        )
    components, _ = ndimage.label(foreground)
    sizes = np.bincount(components.ravel())
    sizes[0] = 0
    body = components == int(sizes.argmax())
    return tuple(float(c) for c in ndimage.center_of_mass(body))


def box_around(
    centre: Sequence[float], roi_size: Sequence[int], shape: Sequence[int]
) -> tuple[list[int], list[int]]:
    """Start and end (exclusive) of a `roi_size` box centred on `centre`, in voxels.

    A size of -1 (or 0) keeps that axis whole. The box may reach outside the volume (negative
    start, end beyond the shape): the caller pads.
    """
    starts, ends = [], []
    for c, size, n in zip(centre, roi_size, shape, strict=True):
        if size <= 0:
            starts.append(0)
            ends.append(int(n))
            continue
        start = int(round(c - size / 2.0))
        starts.append(start)
        ends.append(start + int(size))
    return starts, ends


class BodyCentreCropd(MapTransform):
    """Crop `keys` to a fixed box around the body centre found in `source_key`.

    Args:
        keys: volumes to crop the same way (image and label).
        roi_size: box size in voxels per spatial axis; -1 keeps an axis whole
            (``[128, 128, -1]``: a fixed in-plane box, every slice kept).
        source_key: the CT (in HU) the body is found in.
        threshold: HU above which a voxel is body.
        pad_value: value for the parts of the box outside the volume, one per key or one
            for all (``[-1024, 0]``: air for the CT, background for the label).
        allow_missing_keys: skip absent keys (a label at inference time).
    """

    def __init__(
        self,
        keys: KeysCollection,
        roi_size: Sequence[int],
        source_key: str = "image",
        threshold: float = BODY_THRESHOLD,
        pad_value: float | Sequence[float] = 0.0,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.roi_size = [int(s) for s in roi_size]
        if len(self.roi_size) != 3:
            raise ValueError(f"roi_size needs 3 values (X, Y, Z), not {list(roi_size)}")
        self.source_key = source_key
        self.threshold = float(threshold)
        values = pad_value if isinstance(pad_value, Sequence) else [pad_value] * len(self.keys)
        if len(values) != len(self.keys):
            raise ValueError(f"pad_value needs one value per key {list(self.keys)}, not {values}")
        self.pad_values = dict(zip(self.keys, (float(v) for v in values), strict=True))

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        from monai.transforms import BorderPad, SpatialCrop

        d = dict(data)
        source = d[self.source_key]
        shape = [int(n) for n in source.shape[1:]]
        starts, ends = box_around(body_centre(source, self.threshold), self.roi_size, shape)
        before = [max(0, -s) for s in starts]
        after = [max(0, e - n) for e, n in zip(ends, shape, strict=True)]
        border = [w for b, a in zip(before, after, strict=True) for w in (b, a)]
        crop = SpatialCrop(
            roi_start=[s + b for s, b in zip(starts, before, strict=True)],
            roi_end=[e + b for e, b in zip(ends, before, strict=True)],
        )
        for key in self.key_iterator(d):
            if any(border):
                pad = BorderPad(border, mode="constant", value=self.pad_values[key])
                d[key] = pad(d[key])
            d[key] = crop(d[key])
        return d
