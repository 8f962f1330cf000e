"""CT window normalisation, fixed or derived per organ from the HU inside a mask.

The default is one fixed window (MONAI's ``ScaleIntensityRanged``, level 40 / width 400 in
the configs). The entry's option: for each patient and organ, the window level is the mean
HU inside that organ's mask and the width spans ``width_sigmas`` standard deviations either
side (at least ``min_width``); the CT becomes one channel per organ, each scaled to [0, 1]
over its organ's window. Training takes the masks from the labels (:class:`MaskWindowd`);
at test time they come from a first-stage model's prediction
(:class:`~clara_cli.families.segthor.two_stage.TwoStageWindowInferer`). An organ absent
from the mask gets the ``fallback`` window.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from monai.config import KeysCollection
from monai.transforms import MapTransform

#: The configs' fixed window (HU): mediastinal, level 40, width 400.
DEFAULT_WINDOW = (40.0, 400.0)


@dataclass(frozen=True)
class WindowRule:
    """How a window is derived from the HU inside one organ's mask.

    Attributes:
        width_sigmas: the window spans level ± width_sigmas standard deviations.
        min_width: narrowest window (HU), for organs of nearly uniform density.
        fallback: (level, width) for an organ the mask does not contain.
    """

    width_sigmas: float = 3.0
    min_width: float = 80.0
    fallback: tuple[float, float] = DEFAULT_WINDOW

    def __post_init__(self) -> None:
        if self.width_sigmas <= 0 or self.min_width <= 0 or self.fallback[1] <= 0:
            raise ValueError(
                "window widths must be positive: "
                f"width_sigmas={self.width_sigmas}, min_width={self.min_width}, "
                f"fallback width={self.fallback[1]}"
            )


def organ_windows(
    hu: Any, mask: Any, organs: Sequence[int], rule: WindowRule | None = None
) -> list[tuple[float, float]]:
    """(level, width) per organ from the HU statistics inside `mask == organ`.

    Args:
        hu: CT in HU, any shape (a leading channel of 1 is fine).
        mask: integer label map of the same spatial shape.
        organs: label values, one window each, in order.
        rule: how statistics become a window.

    Raises:
        ValueError: the CT and the mask differ in size, or the CT holds non-finite values.
    """
    import torch

    rule = rule or WindowRule()
    hu = torch.as_tensor(hu).reshape(-1).double()
    mask = torch.as_tensor(mask).reshape(-1)
    if hu.numel() != mask.numel():
        raise ValueError(f"CT and mask differ in size: {hu.numel()} vs {mask.numel()} voxels")
    windows: list[tuple[float, float]] = []
    for organ in organs:
        inside = hu[mask == organ]
        if inside.numel() == 0:
            windows.append((float(rule.fallback[0]), float(rule.fallback[1])))
            continue
        if not torch.isfinite(inside).all():
            raise ValueError(f"the CT holds non-finite values inside organ {organ}")
        level = float(inside.mean())
        std = float(inside.std(unbiased=False))
        windows.append((level, max(rule.min_width, 2.0 * rule.width_sigmas * std)))
    return windows


def apply_windows(hu: Any, windows: Sequence[tuple[float, float]]) -> Any:
    """One channel per window: HU scaled to [0, 1] over [level - width/2, level + width/2].

    Args:
        hu: CT in HU shaped (1, ...) or (...).

    Returns:
        A float32 tensor (len(windows), ...), or a MetaTensor with `hu`'s metadata.
    """
    import torch
    from monai.utils import convert_to_dst_type

    plain = hu.as_tensor() if hasattr(hu, "as_tensor") else torch.as_tensor(hu)
    if plain.ndim > 1 and plain.shape[0] == 1:
        plain = plain[0]
    plain = plain.float()
    channels = [
        ((plain - (level - width / 2.0)) / width).clamp(0.0, 1.0) for level, width in windows
    ]
    return convert_to_dst_type(torch.stack(channels), hu, dtype=torch.float32)[0]


class MaskWindowd(MapTransform):
    """Replace a CT (HU) by one channel per organ window, the windows taken from a mask.

    In training the mask is the label (the entry's recipe); the label itself is unchanged.

    Args:
        keys: the CT(s) to normalise.
        mask_key: the label map the windows are measured in.
        organs: label values, one output channel each (``[1, 2, 3, 4]``).
        width_sigmas, min_width, fallback: see :class:`WindowRule`.
        allow_missing_keys: skip absent keys.
    """

    def __init__(
        self,
        keys: KeysCollection,
        mask_key: str = "label",
        organs: Sequence[int] = (1, 2, 3, 4),
        width_sigmas: float = 3.0,
        min_width: float = 80.0,
        fallback: Sequence[float] = DEFAULT_WINDOW,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.mask_key = mask_key
        self.organs = [int(o) for o in organs]
        self.rule = WindowRule(float(width_sigmas), float(min_width), as_window(fallback))

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        if self.mask_key not in d:
            raise KeyError(
                f"MaskWindowd: no {self.mask_key!r} to take the windows from; at test time use "
                "the two-stage inferer, whose first stage predicts the mask"
            )
        for key in self.key_iterator(d):
            windows = organ_windows(d[key], d[self.mask_key], self.organs, self.rule)
            d[key] = apply_windows(d[key], windows)
        return d


def as_window(values: Sequence[float]) -> tuple[float, float]:
    items = [float(v) for v in values]
    if len(items) != 2:
        raise ValueError(f"a window is (level, width), not {list(values)}")
    return items[0], items[1]
