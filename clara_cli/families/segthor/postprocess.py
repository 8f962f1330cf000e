"""3D post-processing: keep the largest connected component of each organ.

Each SegTHOR organ is one connected structure, so islands a slice-wise model leaves are
errors. MONAI's ``KeepLargestConnectedComponentd`` does this but needs scikit-image (or
cuCIM), which clara does not depend on; scipy's ``ndimage.label`` (a clara dependency)
does the labelling here, with MONAI's default full connectivity.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from monai.config import KeysCollection
from monai.transforms import MapTransform


def largest_component(mask: Any) -> Any:
    """The largest connected component (full connectivity) of a boolean array."""
    import numpy as np
    from scipy import ndimage

    mask = np.asarray(mask, dtype=bool)
    structure = ndimage.generate_binary_structure(mask.ndim, mask.ndim)
    components, count = ndimage.label(mask, structure=structure)
    if count <= 1:
        return mask
    sizes = np.bincount(components.ravel())
    sizes[0] = 0
    return components == int(sizes.argmax())


def keep_largest_per_organ(pred: Any, organs: Sequence[int]) -> Any:
    """Keep each organ's largest 3D component in a channel-first prediction.

    Args:
        pred: one-hot (C, X, Y, Z) with C > 1 (channel = label value; removed voxels go to
            the background channel 0), or a label map (1, X, Y, Z) (removed voxels become 0).
        organs: label values to clean.

    Returns:
        The same type, shape and dtype, metadata kept.
    """
    import numpy as np
    import torch
    from monai.utils import convert_to_dst_type

    array = np.array(pred.detach().cpu() if hasattr(pred, "detach") else pred)
    onehot = array.shape[0] > 1
    for organ in organs:
        present = array[organ] > 0.5 if onehot else array[0] == organ
        removed = present & ~largest_component(present)
        if not removed.any():
            continue
        if onehot:
            array[organ][removed] = 0
            array[0][removed] = 1
        else:
            array[0][removed] = 0
    dtype = pred.dtype if isinstance(pred, torch.Tensor) else array.dtype
    return convert_to_dst_type(array, pred, dtype=dtype)[0]


class LargestComponentPerOrgand(MapTransform):
    """Dictionary transform of :func:`keep_largest_per_organ` (after ``AsDiscreted``).

    Args:
        keys: the prediction(s).
        organs: label values to clean (``[1, 2, 3, 4]``).
    """

    def __init__(self, keys: KeysCollection, organs: Sequence[int] = (1, 2, 3, 4)) -> None:
        super().__init__(keys)
        self.organs = [int(o) for o in organs]

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = keep_largest_per_organ(d[key], self.organs)
        return d
