"""N4 bias-field correction as a MONAI transform, switched on by the config's ``n4`` variable.

Put it after ``Orientationd`` and before resampling, inside the cached part of the chain
(``CacheDataset`` caches up to the first random transform), so each volume is corrected
once per run::

    {"path": "clara_cli.families.cervical.transforms.N4BiasFieldCorrectiond",
     "args": {"keys": "image", "enabled": "{n4}", "shrink_factor": 4}}

The correction itself is :func:`clara_cli.data.n4.n4_correct` (SimpleITK), the one
`clara dataconvert --n4` runs; for a long queue, correcting the data once with dataconvert
and pointing DATA_ROOT at it saves the per-run cost (benchmarks/bench_cervical_n4.py).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

from monai.config import KeysCollection
from monai.transforms import MapTransform


class N4BiasFieldCorrectiond(MapTransform):
    """Divide a smooth multiplicative bias field out of channel-first MRI volumes (C, X, Y, Z).

    Args:
        keys: the images to correct (never a label).
        enabled: the config's ``n4`` switch (a bool, or "true"/"false"); off: pass-through.
        shrink_factor: downsampling used to fit the field (seconds vs detail).
        iterations: fitting iterations per B-spline level.
        allow_missing_keys: skip keys that are absent.

    Raises:
        ValueError: `enabled` is not a yes/no value.
    """

    def __init__(
        self,
        keys: KeysCollection,
        enabled: bool | str = True,
        shrink_factor: int = 4,
        iterations: tuple[int, ...] = (50, 50, 30),
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.enabled = _switch(enabled)
        self.shrink_factor = int(shrink_factor)
        self.iterations = tuple(int(i) for i in iterations)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        if not self.enabled:
            return d
        for key in self.key_iterator(d):
            d[key] = self._correct(d[key])
        return d

    def _correct(self, volume: Any) -> Any:
        import numpy as np
        import SimpleITK as sitk
        import torch
        from monai.utils import convert_to_dst_type

        from clara_cli.data.n4 import n4_correct

        array = torch.as_tensor(volume).detach().cpu().float().numpy()
        if array.ndim != 4:
            raise ValueError(f"N4 expects a channel-first 3D volume, not shape {array.shape}")
        spacing = _spacing(volume)
        corrected = np.empty_like(array)
        for channel in range(array.shape[0]):
            # SimpleITK's array order is (z, y, x); MONAI's is (x, y, z).
            image = sitk.GetImageFromArray(array[channel].transpose(2, 1, 0).copy())
            image.SetSpacing(spacing)
            fixed = n4_correct(image, shrink_factor=self.shrink_factor, iterations=self.iterations)
            corrected[channel] = sitk.GetArrayFromImage(fixed).transpose(2, 1, 0)
        return convert_to_dst_type(corrected, volume, dtype=torch.float32)[0]


def _spacing(volume: Any) -> tuple[float, float, float]:
    """Voxel sizes from a MetaTensor's affine (1 mm when there is none)."""
    import numpy as np

    affine = getattr(volume, "affine", None)
    if affine is None:
        return (1.0, 1.0, 1.0)
    matrix = np.asarray(affine, dtype=float)[:3, :3]
    return tuple(float(v) for v in np.linalg.norm(matrix, axis=0))  # type: ignore[return-value]


def _switch(value: bool | str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "1"):
        return True
    if text in ("false", "no", "0", ""):
        return False
    raise ValueError(f"N4 'enabled' must be true or false (the config's n4), not {value!r}")
