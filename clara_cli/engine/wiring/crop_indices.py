"""Crop indices cached with the data: label-driven crops stop searching the whole volume.

`RandCropByPosNegLabeld` and `RandCropByLabelClassesd` without precomputed indices scan the
whole (resampled) label for foreground/background or per-class voxels on every call, in the
training loop. When the crop is the first random transform of a cached dataset
(``CacheDataset`` and its subclasses), the scan is deterministic: this rule inserts MONAI's
``FgBgToIndicesd`` / ``ClassesToIndicesd`` just before the crop, so the indices are computed
once and cached with the item, and points the crop at them (``fg_indices_key``/
``bg_indices_key`` resp. ``indices_key``), as MONAI's fast-training guide recommends.

The indices are computed from the same label (and image, when the crop thresholds one) with the
crop's own settings, so the same seed gives the same crops. The crops pop the index keys before
copying the rest of the item, so the indices never reach the batch (they differ in length per
case and could not be collated). An item beyond ``cache_num`` runs the whole list, indices
included: the same work the crop did before. The price is memory: one index per voxel of the
label (foreground plus background). MONAI computes them as int64 and has no dtype option, so
:class:`Int32Indicesd` (inserted right after) stores them as int32 whenever every index fits,
which halves that price (4 bytes per voxel: a float32 image and label cached with their
indices take 1.5x as much); the line saying so names it. The crops draw an index by position
and unravel it, so int32 indices give the same crops.
"""

from __future__ import annotations

import copy
import functools
import logging
from typing import Any

from clara_cli.engine.wiring.predicates import all_of, subclass_of
from clara_cli.engine.wiring.rules import BuildContext, Rule

log = logging.getLogger("clara")

#: Indices up to this value fit in int32.
INT32_MAX = 2**31 - 1

#: Postfixes of the inserted index keys: distinct from MONAI's defaults, so that a config's
#: own keys are never overwritten.
FG_POSTFIX = "_clara_fg_indices"
BG_POSTFIX = "_clara_bg_indices"
CLASSES_POSTFIX = "_clara_cls_indices"


def as_int32(indices: Any) -> Any:
    """`indices` (a tensor, array, or a list of them) as int32 when every index fits, else as is."""
    import numpy as np
    import torch

    if isinstance(indices, (list, tuple)):
        return type(indices)(as_int32(i) for i in indices)
    if len(indices) == 0 or int(indices.max()) > INT32_MAX:
        return indices
    if isinstance(indices, torch.Tensor):
        return indices.to(torch.int32)
    return np.asarray(indices).astype(np.int32)


@functools.cache
def int32_indices_type() -> Any:
    """The transform class storing cached crop indices as int32 (built once MONAI is needed)."""
    from monai.transforms import MapTransform

    class Int32Indicesd(MapTransform):
        """Index arrays under `keys` as int32 where every index fits, else left int64.

        Hand-written: MONAI's index transforms have no dtype argument, and ``CastToTyped``
        would wrap an index beyond 2^31 silently instead of keeping it int64.
        """

        def __call__(self, data: Any) -> Any:
            d = dict(data)
            for key in self.key_iterator(d):
                d[key] = as_int32(d[key])
            return d

    return Int32Indicesd


def first_random_index(steps: list[Any]) -> int | None:
    """Where a CacheDataset stops caching: the first random step or plain callable."""
    from monai.transforms import RandomizableTrait, Transform

    for index, step in enumerate(steps):
        if isinstance(step, RandomizableTrait) or not isinstance(step, Transform):
            return index
    return None


def index_step(crop: Any) -> tuple[Any, str] | None:
    """The deterministic transform computing what `crop` would search for, and its name.

    None when the crop is of another kind or already reads precomputed indices.
    """
    from monai.transforms import (
        ClassesToIndicesd,
        FgBgToIndicesd,
        RandCropByLabelClassesd,
        RandCropByPosNegLabeld,
    )

    if isinstance(crop, RandCropByPosNegLabeld):
        if crop.fg_indices_key is not None or crop.bg_indices_key is not None:
            return None
        pair = FgBgToIndicesd(
            keys=crop.label_key,
            fg_postfix=FG_POSTFIX,
            bg_postfix=BG_POSTFIX,
            image_key=crop.image_key,
            image_threshold=crop.cropper.image_threshold,
        )
        return pair, "foreground/background"
    if isinstance(crop, RandCropByLabelClassesd):
        if crop.indices_key is not None:
            return None
        step = ClassesToIndicesd(
            keys=crop.label_key,
            indices_postfix=CLASSES_POSTFIX,
            num_classes=crop.cropper.num_classes,
            image_key=crop.image_key,
            image_threshold=crop.cropper.image_threshold,
            max_samples_per_class=crop.cropper.max_samples_per_class,
        )
        return step, "per-class"
    return None


def _point_crop_at_indices(crop: Any) -> None:
    # The crop object itself is changed (it may be shared with another section through a
    # `ref`): where no item carries these keys, the crop pops None and searches as before.
    from monai.transforms import RandCropByPosNegLabeld

    if isinstance(crop, RandCropByPosNegLabeld):
        crop.fg_indices_key = f"{crop.label_key}{FG_POSTFIX}"
        crop.bg_indices_key = f"{crop.label_key}{BG_POSTFIX}"
    else:
        crop.indices_key = f"{crop.label_key}{CLASSES_POSTFIX}"


def _index_keys(crop: Any) -> list[str]:
    from monai.transforms import RandCropByPosNegLabeld

    if isinstance(crop, RandCropByPosNegLabeld):
        return [crop.fg_indices_key, crop.bg_indices_key]
    return [crop.indices_key]


def with_cached_crop_indices(transform: Any, where: str = "") -> Any:
    """`transform` (a list or Compose) with the crop's indices computed in its cached part.

    Returns `transform` unchanged when its first random step is not a label-driven crop
    without indices, or when the Compose resamples lazily (indices of a pending label would
    be wrong). The config's list or Compose is not changed; a copy is returned.
    """
    from monai.transforms import Compose

    steps = transform.transforms if isinstance(transform, Compose) else transform
    if not isinstance(steps, (list, tuple)) or getattr(transform, "lazy", False):
        return transform
    first = first_random_index(list(steps))
    if first is None:
        return transform
    crop = steps[first]
    found = index_step(crop)
    if found is None:
        return transform
    step, what = found
    _point_crop_at_indices(crop)
    compact = int32_indices_type()(keys=_index_keys(crop), allow_missing_keys=True)
    rewritten = [*steps[:first], step, compact, *steps[first:]]
    log.info(
        "%s%s: %s indices of %r computed once and cached with each item (%s inserted before "
        "the crop); same crops, no search of the whole label per sample; the cache holds "
        "up to 4 more bytes per label voxel (int32 indices)",
        f"{where}: " if where else "",
        type(crop).__name__,
        what,
        crop.label_key,
        type(step).__name__,
    )
    if isinstance(transform, Compose):
        compose = copy.copy(transform)
        compose.transforms = rewritten  # type: ignore[assignment]
        return compose
    return rewritten


def _caches_items(ctx: BuildContext) -> bool:
    rate = ctx.args.get("cache_rate", 1.0)
    number = ctx.args.get("cache_num", 1)
    return "transform" in ctx.args and float(rate) > 0 and int(number) > 0


def _cache_crop_indices(ctx: BuildContext) -> None:
    ctx.args["transform"] = with_cached_crop_indices(ctx.args["transform"], ctx.where)


RULES = (
    Rule(
        "crop_indices.cached",
        all_of(subclass_of("monai.data.CacheDataset"), _caches_items),
        before=_cache_crop_indices,
    ),
)
