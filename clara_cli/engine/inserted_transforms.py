"""The dictionary transforms clara inserts into a config's pipeline.

They live at module level (not inside the functions that insert them) so that DataLoader
workers started with ``spawn`` (macOS and Windows default, or a config's
``multiprocessing_context``) can pickle them. Importing this module imports MONAI: the
modules that insert them import it only when they do.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

from monai.transforms import MapTransform

from clara_cli.engine.finite import describe_non_finite
from clara_cli.engine.wiring.crop_indices import as_int32


class RequireFinited(MapTransform):
    """Refuse a loaded image holding NaN or infinite voxels (DataError naming the file)."""

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            describe_non_finite(d, key)
        return d


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
