"""2D training slices drawn on the fly from (cached) 3D volumes, as a MONAI transform.

Put :class:`RandSlicesd` after the deterministic 3D transforms of a ``CacheDataset`` (load,
orient, resample, crop, normalise are then done once per volume) and before the 2D
augmentations; like MONAI's ``RandCropByPosNegLabeld`` it returns ``num_samples`` dicts per
volume, which MONAI's DataLoader flattens into the batch::

    {"path": "clara_cli.families.slice2d.data.RandSlicesd",
     "args": {"keys": ["image", "label"], "axis": 2, "num_samples": 8, "empty_fraction": 0.1}}

``empty_fraction`` has the meaning of ``clara prepare-dataset --slices --empty-fraction``:
the share of the slices without any label that take part. A slice with a label is drawn
with weight 1 and an empty one with weight ``empty_fraction``, which is what sampling
uniformly from a prepared slice folder gives.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from monai.config import KeysCollection
from monai.transforms import MapTransform, Randomizable
from monai.transforms.traits import MultiSampleTrait

#: What ``axis`` may be: one spatial axis of a channel-first (C, X, Y, Z) volume, or a
#: string of several ("012": any of the three, drawn at random per slice).
Axes = int | str | Sequence[int]


def parse_axes(axis: Axes) -> tuple[int, ...]:
    """The spatial axes an ``axis`` argument names: ``2`` -> (2,), ``"012"`` -> (0, 1, 2).

    Raises:
        ValueError: not 0, 1 or 2, or one of them repeated.
    """
    if isinstance(axis, bool):
        raise ValueError(f"slice axis must be 0, 1, 2 or a string such as '012', not {axis!r}")
    if isinstance(axis, int):
        items: list[Any] = [axis]
    elif isinstance(axis, str):
        items = list(axis.strip())
    else:
        items = list(axis)
    try:
        axes = tuple(int(a) for a in items)
    except (TypeError, ValueError):
        axes = ()
    if not axes or any(a not in (0, 1, 2) for a in axes) or len(set(axes)) != len(axes):
        raise ValueError(f"slice axis must be 0, 1, 2 or a string such as '012', not {axis!r}")
    return axes


def slice_occupancy(label: Any, axis: int) -> Any:
    """Per slice along spatial `axis` of a (C, X, Y, Z) label: whether it holds any label."""
    import torch

    labelled = torch.as_tensor(label).ne(0).any(dim=0)  # (X, Y, Z)
    return labelled.movedim(axis, 0).reshape(labelled.shape[axis], -1).any(dim=1)


def slice_weights(occupied: Any, empty_fraction: float) -> Any:
    """Sampling weights: 1 for a labelled slice, `empty_fraction` for an empty one.

    When nothing would be drawn (no labelled slice and ``empty_fraction`` 0) every slice gets
    the same weight, so a volume without labels still yields its samples.
    """
    import numpy as np

    occupied = np.asarray(occupied, dtype=bool)
    weights = np.where(occupied, 1.0, float(empty_fraction))
    if weights.sum() <= 0:
        weights = np.ones_like(weights)
    return weights / weights.sum()


def take_slice(volume: Any, axis: int, index: int) -> Any:
    """Slice `index` along spatial `axis` of a (C, X, Y, Z) array, as (C, H, W).

    A MetaTensor keeps its metadata with the 2D affine of the slice (the axis dropped, the
    origin moved to the slice). Done by hand rather than with MONAI's SpatialCrop and
    SqueezeDim, which give the same affine but cost 6 ms per slice in tracking overhead.
    """
    import torch
    from monai.data import MetaTensor

    if not isinstance(volume, MetaTensor):
        return volume[(slice(None),) * (axis + 1) + (index,)]
    affine = volume.affine.clone()
    keep = [a for a in range(3) if a != axis]
    plane = torch.eye(3, dtype=affine.dtype)
    plane[:2, :2] = affine[keep][:, keep]
    plane[:2, 2] = affine[keep, 3] + affine[keep, axis] * index
    meta = {k: v for k, v in volume.meta.items() if k != "affine"}
    array = volume.as_tensor()[(slice(None),) * (axis + 1) + (index,)]
    return MetaTensor(array, affine=plane, meta=meta)


class RandSlicesd(Randomizable, MapTransform, MultiSampleTrait):
    """Draw `num_samples` 2D slices (C, H, W) from channel-first 3D volumes (C, X, Y, Z).

    Every key of `keys` is cut at the same slice; other keys are copied. Each sample records
    where it came from in ``slice_axis`` and ``slice_index``. MetaTensors keep a correct 2D
    affine (see :func:`take_slice`), so 2D spatial augmentations can follow.

    Args:
        keys: the volumes to slice (image and label).
        label_key: the label map that says which slices are empty.
        axis: spatial axis to slice along (2: axial for RAS volumes), or ``"012"`` to draw
            the axis at random per slice (the slices then differ in shape: follow with
            ``ResizeWithPadOrCropd`` to batch them).
        num_samples: slices per volume per epoch.
        empty_fraction: weight of a slice without labels, in [0, 1] (see module docstring).
        allow_missing_keys: skip keys that are absent.
    """

    def __init__(
        self,
        keys: KeysCollection,
        label_key: str = "label",
        axis: Axes = 2,
        num_samples: int = 8,
        empty_fraction: float = 1.0,
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        if not 0.0 <= float(empty_fraction) <= 1.0:
            raise ValueError(f"empty_fraction must be in [0, 1], not {empty_fraction}")
        if int(num_samples) < 1:
            raise ValueError(f"num_samples must be at least 1, not {num_samples}")
        self.label_key = label_key
        self.axes = parse_axes(axis)
        self.num_samples = int(num_samples)
        self.empty_fraction = float(empty_fraction)
        self._choices: list[tuple[int, int]] = []

    def randomize(self, label: Any) -> None:
        """Choose (axis, index) for every sample from the label's occupancy."""
        self._choices = []
        occupancy = {a: slice_occupancy(label, a).cpu().numpy() for a in self.axes}
        weights = {a: slice_weights(occupancy[a], self.empty_fraction) for a in self.axes}
        for _ in range(self.num_samples):
            axis = self.axes[int(self.R.randint(len(self.axes)))]
            index = int(self.R.choice(len(weights[axis]), p=weights[axis]))
            self._choices.append((axis, index))

    def __call__(self, data: Mapping[Hashable, Any]) -> list[dict[Hashable, Any]]:
        if self.label_key not in data:
            raise KeyError(f"RandSlicesd: no {self.label_key!r} in the data to find empty slices")
        label = data[self.label_key]
        if len(label.shape) != 4:
            raise ValueError(
                f"RandSlicesd expects channel-first 3D volumes (C, X, Y, Z), "
                f"not {self.label_key!r} of shape {tuple(label.shape)}"
            )
        for key in self.key_iterator(data):
            if tuple(data[key].shape[1:]) != tuple(label.shape[1:]):
                raise ValueError(
                    f"RandSlicesd: {key!r} has spatial shape {tuple(data[key].shape[1:])} but "
                    f"{self.label_key!r} has {tuple(label.shape[1:])}: slices would not match"
                )
        self.randomize(label)
        samples: list[dict[Hashable, Any]] = []
        for axis, index in self._choices:
            sample = dict(data)
            for key in self.key_iterator(sample):
                sample[key] = take_slice(sample[key], axis, index)
            sample["slice_axis"], sample["slice_index"] = axis, index
            samples.append(sample)
        return samples
