"""BraTS regions and labels: the three nested sigmoid outputs and the 0/1/2/4 label map.

The network predicts three overlapping regions in the model card's order, the order of
MONAI's ``ConvertToMultiChannelBasedOnBratsClassesd``: TC (tumour core = labels 1 and 4),
WT (whole tumour = 1, 2 and 4) and ET (enhancing tumour = 4). Back to labels, the usual
nesting rule: WT is oedema (2) unless inside TC, which is necrotic core (1) unless inside ET,
which is enhancing (4): paint WT, then TC, then ET.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
from monai.transforms import MapTransform

from clara_cli.io.prediction import REGION_LABELS_KEY, paint_regions

#: Output channels, in the model card's order.
REGIONS = ("TC", "WT", "ET")
#: ``(channel, label)`` pairs painted in order: WT -> 2, TC -> 1, ET -> 4.
BRATS_PAINT: tuple[tuple[int, int], ...] = ((1, 2), (0, 1), (2, 4))


def regions_to_labels(regions: np.ndarray) -> np.ndarray:
    """BraTS label map (uint8 0/1/2/4) of TC/WT/ET probabilities or masks shaped (3, ...)."""
    regions = np.asarray(regions)
    if regions.shape[0] != len(REGIONS):
        raise ValueError(
            f"expected {len(REGIONS)} region channels (TC, WT, ET), not {regions.shape}"
        )
    return paint_regions(regions, list(BRATS_PAINT))


class RegionLabelsd(MapTransform):
    """Mark predictions as multi-label so `clara infer` writes them as a label map.

    Sets :data:`clara_cli.io.prediction.REGION_LABELS_KEY` in each prediction's metadata:
    the written label map paints each ``[channel, label]`` pair where that channel's
    probability is at least 0.5, in order. The probabilities themselves are unchanged
    (``clara infer --probabilities`` writes them as they are). Put it after
    ``Activationsd(sigmoid=True)``.

    Args:
        keys: the prediction key(s).
        paint: the ``[channel, label]`` pairs; default the BraTS rule (WT 2, TC 1, ET 4).
    """

    def __init__(
        self,
        keys: Any = "pred",
        paint: Sequence[Sequence[int]] = BRATS_PAINT,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.paint = [[int(channel), int(value)] for channel, value in paint]

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        from monai.data import MetaTensor

        d = dict(data)
        for key in self.key_iterator(d):
            value = d[key]
            if not isinstance(value, MetaTensor):
                value = MetaTensor(value)
            value.meta[REGION_LABELS_KEY] = [list(pair) for pair in self.paint]
            d[key] = value
        return d
