"""MONAI 0.5-0.8 meta-dict semantics on today's MetaTensor.

Clara 4.x configs were written when an image's metadata lived beside it in the data dict
(`image_meta_dict`, `image_transforms`) and any array type could carry on through the
transforms. Since MONAI 0.9 the metadata and the transform trace live on the `MetaTensor`
itself, so three things those configs do now lose it or look for it in the wrong place:

- `ToTensord` starts a fresh transform trace, and its inverse turns the MetaTensor into a
  numpy array, so `Invertd` of the pre-transforms stops at the next inverse ("`data` should
  be either `MetaTensor` or dictionary, got numpy.ndarray"): :class:`LegacyToTensord` keeps
  the trace and the MetaTensor.
- `ToNumpyd` (DeepGrow's click loop) drops the metadata and a later `ToTensord` makes a bare
  MetaTensor: :class:`LegacyToNumpyd` keeps it in `<key>_meta_dict`/`<key>_transforms` (where
  MONAI 0.x kept it) and :class:`LegacyToTensord` puts it back.
- `Invertd` of a plain tensor (a TorchScript model's output through `SimpleInferer`) looks
  for a `pred_transforms` key that no longer exists and skips the inversion with a
  warning: :class:`LegacyInvertd` inverts it with the trace of `orig_keys`' MetaTensor.
- DeepGrow's cropping and guidance transforms still index `data["image_meta_dict"]`:
  their legacy subclasses are given each MetaTensor's own metadata under that name.
- Handler callables that read `batch["image_meta_dict"]` (`MetricsSaver`'s
  `batch_transform`): :class:`MetaDictView` shows them each MetaTensor's metadata under
  that name.

`CastToTyped` and `SaveImaged` need nothing: on today's MONAI both keep (or read) the
MetaTensor's own metadata. The wiring rules in :mod:`clara_cli.engine.wiring.meta_dicts`
put these classes in place of MONAI's; each reports itself once, when it acts.

Each legacy class is MONAI's own class with one method changed; an instance is made by
:func:`adopt`, which re-labels an already-built MONAI transform (the constructor arguments
are MONAI's, so nothing else about the object differs).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import Any

from monai.apps.deepgrow.transforms import (
    AddGuidanceFromPointsd,
    Fetch2DSliced,
    RestoreLabeld,
    SpatialCropForegroundd,
    SpatialCropGuidanced,
)
from monai.data import MetaTensor
from monai.transforms import Invertd, ToNumpyd, ToTensord
from monai.transforms.inverse import InvertibleTransform

from clara_cli.registry.shims import warn_once

META_SUFFIX = "_meta_dict"


def meta_key(key: Hashable) -> str:
    """MONAI 0.x's name for the metadata of `key` (`image` -> `image_meta_dict`)."""
    return f"{key}{META_SUFFIX}"


def _report(transform: Any, message: str) -> None:
    """Warn once, naming where the transform was written (set by :func:`adopt`)."""
    warn_once(getattr(transform, "clara_where", "") or type(transform).__name__, message)


class LegacyToTensord(ToTensord):
    """`ToTensord` that keeps the MetaTensor through its inverse and restores metadata a
    preceding `ToNumpyd` set aside."""

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        before = {key: self._metadata(d, key) for key in self.key_iterator(d)}
        d = super().__call__(d)
        for key, kept in before.items():
            value = d[key]
            if kept is None or not isinstance(value, MetaTensor):
                continue
            meta, operations = kept
            # Today's ToTensor starts a fresh trace; the one entry in it is this ToTensord.
            value.meta = dict(meta)
            value.applied_operations = list(operations) + list(value.applied_operations)
        return d

    @staticmethod
    def _metadata(d: dict[Hashable, Any], key: Hashable) -> tuple[dict, list] | None:
        """(metadata, trace) of `d[key]`: its own, or what a `ToNumpyd` set aside."""
        value = d[key]
        if isinstance(value, MetaTensor):
            return dict(value.meta), list(value.applied_operations)
        if isinstance(d.get(meta_key(key)), dict):
            return d.pop(meta_key(key)), list(d.pop(InvertibleTransform.trace_key(key), []))
        return None

    def inverse(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            self.pop_transform(d, key)
        _report(
            self,
            "ToTensord's inverse now turns a MetaTensor into numpy and loses its metadata "
            "(MONAI 0.x kept it in '*_meta_dict'); inverting keeps the MetaTensor",
        )
        return d


class LegacyToNumpyd(ToNumpyd):
    """`ToNumpyd` that sets a MetaTensor's metadata and trace aside in `<key>_meta_dict` and
    `<key>_transforms` (MONAI 0.x's keys), for a later `ToTensord` to restore."""

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        kept = False
        for key in self.key_iterator(d):
            value = d[key]
            # MONAI 0.x had `<key>_meta_dict` only for what a reader loaded: a network's output
            # (`pred`) had none, and parking its metadata would add keys that batches of
            # several items cannot collate.
            if (
                isinstance(value, MetaTensor)
                and value.meta.get("filename_or_obj")
                and meta_key(key) not in d
            ):
                d[meta_key(key)] = dict(value.meta)
                d[InvertibleTransform.trace_key(key)] = list(value.applied_operations)
                kept = True
        if kept:
            _report(
                self,
                "ToNumpyd drops a MetaTensor's metadata on today's MONAI; kept in "
                "'<key>_meta_dict' (as MONAI 0.x did) for a later ToTensord",
            )
        return super().__call__(d)


class LegacyInvertd(Invertd):
    """`Invertd` that also inverts a plain tensor (a TorchScript model's output), using the
    transform trace of its `orig_keys` MetaTensor, as MONAI 0.x did with `*_transforms`."""

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key, orig_key in self.key_iterator(d, self.orig_keys):
            value = d[key]
            if isinstance(value, MetaTensor) or not isinstance(d.get(orig_key), MetaTensor):
                continue
            d[key] = MetaTensor(value)
            _report(
                self,
                f"Invertd: {key!r} is a plain tensor (e.g. a TorchScript model's output) with no "
                f"transform trace; inverted with the trace of {orig_key!r}",
            )
        return super().__call__(d)


def _with_meta_dict_input(monai_class: type) -> type:
    """A subclass of a MONAI transform that still indexes `data["<key>_meta_dict"]` (DeepGrow's
    cropping and guidance transforms): each MetaTensor's own metadata dict is given under that
    name (the same dict, so what the transform writes there stays with the MetaTensor)."""

    def __call__(self: Any, data: Mapping[Hashable, Any]) -> Any:
        return monai_class.__call__(self, with_meta_dicts(data))

    name = f"Legacy{monai_class.__name__}"
    # Module-level name and qualname: DataLoader workers pickle transforms by reference.
    return type(
        name, (monai_class,), {"__call__": __call__, "__module__": __name__, "__qualname__": name}
    )


_META_DICT_READERS = (
    "SpatialCropForegroundd",
    "SpatialCropGuidanced",
    "AddGuidanceFromPointsd",
    "RestoreLabeld",
    "Fetch2DSliced",
)
LegacySpatialCropForegroundd = _with_meta_dict_input(SpatialCropForegroundd)
LegacySpatialCropGuidanced = _with_meta_dict_input(SpatialCropGuidanced)
LegacyAddGuidanceFromPointsd = _with_meta_dict_input(AddGuidanceFromPointsd)
LegacyRestoreLabeld = _with_meta_dict_input(RestoreLabeld)
LegacyFetch2DSliced = _with_meta_dict_input(Fetch2DSliced)

#: MONAI's class -> the legacy class that replaces it in Clara 4.x configs.
LEGACY_CLASSES: dict[type, type] = {
    ToTensord: LegacyToTensord,
    ToNumpyd: LegacyToNumpyd,
    Invertd: LegacyInvertd,
    SpatialCropForegroundd: LegacySpatialCropForegroundd,
    SpatialCropGuidanced: LegacySpatialCropGuidanced,
    AddGuidanceFromPointsd: LegacyAddGuidanceFromPointsd,
    RestoreLabeld: LegacyRestoreLabeld,
    Fetch2DSliced: LegacyFetch2DSliced,
}


def _reader_note(name: str) -> str:
    return (
        f"{name} indexes '<key>_meta_dict' (MONAI 0.x meta dicts); given each MetaTensor's own "
        "metadata under that name"
    )


#: MONAI's class -> what its legacy class changes, one line (`clara check` lists it).
LEGACY_NOTES: dict[type, str] = {
    ToTensord: "ToTensord keeps the MetaTensor and its transform trace through its inverse "
    "(MONAI 0.x kept them in '*_meta_dict'), so Invertd can undo the pre-transforms",
    ToNumpyd: "ToNumpyd keeps a MetaTensor's metadata in '<key>_meta_dict' (as MONAI 0.x did) "
    "for a later ToTensord",
    Invertd: "Invertd also inverts a plain tensor (a TorchScript model's output) with the "
    "transform trace of its orig_keys",
    **{
        monai: _reader_note(monai.__name__)
        for monai in LEGACY_CLASSES
        if monai.__name__ in _META_DICT_READERS
    },
}


def adopt(transform: Any, where: str) -> Any:
    """`transform` as its legacy class when it is exactly one of MONAI's in LEGACY_CLASSES
    (a user's subclass is left alone); `where` names it in the warning.

    The legacy classes add no state of their own, so re-labelling the built object keeps
    every constructor argument exactly as MONAI stored it (rebuilding it would mean
    re-deriving MONAI's arguments from its attributes).
    """
    legacy = LEGACY_CLASSES.get(type(transform))
    if legacy is None:
        return transform
    transform.__class__ = legacy
    transform.clara_where = where
    if legacy.__name__[len("Legacy") :] in _META_DICT_READERS:
        # Said now, in this process: the transform itself may run in DataLoader workers.
        _report(transform, _reader_note(legacy.__name__[len("Legacy") :]))
    return transform


def with_meta_dicts(item: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
    """`item` plus `<key>_meta_dict` for each MetaTensor whose key lacks one."""
    out = dict(item)
    for key, value in item.items():
        if isinstance(value, MetaTensor) and meta_key(key) not in out:
            out[meta_key(key)] = value.meta
    return out


class MetaDictView:
    """A MONAI 0.x handler callable (`lambda x: x['image_meta_dict']`,
    `from_engine(['image_meta_dict'])`) applied to data whose metadata is on its MetaTensors.

    Args:
        fn: the config's callable.
        per_item: the callable was written for one dict (a lambda on MONAI 0.x's collated
            batch), so it is applied to each item of today's decollated list and the results
            listed; otherwise it is given the list (`from_engine` takes lists).
    """

    def __init__(self, fn: Callable[[Any], Any], per_item: bool) -> None:
        self.fn = fn
        self.per_item = per_item

    def __call__(self, data: Any) -> Any:
        if isinstance(data, list) and all(isinstance(item, Mapping) for item in data):
            items = [with_meta_dicts(item) for item in data]
            return [self.fn(item) for item in items] if self.per_item else self.fn(items)
        if isinstance(data, Mapping):
            return self.fn(with_meta_dicts(data))
        return self.fn(data)
