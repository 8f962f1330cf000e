"""A MONAI image reader on SimpleITK, so configs read NRRD/MetaImage without the `itk` package.

MONAI's `LoadImage` reads NRRD only through `ITKReader` (the `itk` package) or `NrrdReader`
(`pynrrd`); neither ships with clara, so `LoadImaged` fails on a `.nrrd` file with "cannot
find a suitable reader". This reader does what `ITKReader` does, on SimpleITK (which clara's
own IO already uses): a config names it by path::

    {"name": "LoadImaged", "args": {"keys": ["image", "label"],
                                    "reader": "clara_cli.io.monai_reader.SimpleITKReader"}}

The array comes back in MONAI's index order (x, y, z) with the RAS affine, exactly like
`NibabelReader`/`ITKReader`, so Orientationd, Spacingd and Invertd work unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from monai.data.image_reader import ImageReader, _copy_compatible_dict, _stack_images
from monai.data.utils import orientation_ras_lps
from monai.utils import MetaKeys, SpaceKeys, ensure_tuple

from clara_cli.io.image import TypePath, image_suffix, read_image
from clara_cli.io.nibabel_reader import c_order_copy


class SimpleITKReader(ImageReader):
    """Read NIfTI, NRRD, MetaImage files or a DICOM folder with SimpleITK (see module doc).

    Args:
        channel_dim: the channel axis of a multi-component image (None: components last).
        affine_lps_to_ras: give the affine in RAS, as MONAI's other readers do.
        spacing_tolerance: DICOM series: how far slice steps may stray from the mean step, as
            a fraction of it (None: clara's default, see `clara_cli.io.dicom`).
        suffixes: the file suffixes this reader claims (None: every one clara reads); folders
            (DICOM series) are always claimed.
    """

    def __init__(
        self,
        channel_dim: int | None = None,
        affine_lps_to_ras: bool = True,
        spacing_tolerance: float | None = None,
        suffixes: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        self.suffixes = tuple(suffixes) if suffixes is not None else None
        self.channel_dim = channel_dim
        self.affine_lps_to_ras = affine_lps_to_ras
        self.spacing_tolerance = spacing_tolerance

    def verify_suffix(self, filename: Sequence[TypePath] | TypePath) -> bool:
        """Whether every file has a suffix SimpleITK reads here (folders: DICOM series)."""
        from pathlib import Path

        def claimed(name: TypePath) -> bool:
            suffix = image_suffix(name)
            if self.suffixes is None:
                return suffix is not None
            return suffix in self.suffixes

        return all(Path(name).is_dir() or claimed(name) for name in ensure_tuple(filename))

    def read(self, data: Sequence[TypePath] | TypePath, **kwargs: Any) -> Any:
        """The SimpleITK image(s); a list of files becomes channels in :meth:`get_data`."""
        images = [
            read_image(name, spacing_tolerance=self.spacing_tolerance)
            for name in ensure_tuple(data)
        ]
        return images if len(images) > 1 else images[0]

    def get_data(self, img: Any) -> tuple[np.ndarray, dict[str, Any]]:
        """The (x, y, z[, c]) array and its metadata (affine, spatial shape, channel dim)."""
        import SimpleITK as sitk

        arrays: list[np.ndarray] = []
        meta: dict[str, Any] = {}
        # not ensure_tuple: a SimpleITK image is itself iterable (over its pixels)
        for image in img if isinstance(img, (list, tuple)) else [img]:
            # SimpleITK's numpy view is (z, y, x[, c]); MONAI's readers give (x, y, z[, c]).
            # A 4D image is (t, z, y, x): its 4th axis becomes channels, last, as nibabel's.
            array = sitk.GetArrayFromImage(image)
            axes = image.GetDimension()
            # Made C-contiguous here, plane by plane, rather than by MONAI's strided copy.
            array = c_order_copy(np.moveaxis(array, range(axes), range(axes)[::-1]))
            arrays.append(array)
            header = self._header(image)
            if self.channel_dim is None:
                several = image.GetNumberOfComponentsPerPixel() > 1 or axes > 3
                header[MetaKeys.ORIGINAL_CHANNEL_DIM] = -1 if several else float("nan")
            else:
                header[MetaKeys.ORIGINAL_CHANNEL_DIM] = self.channel_dim
            _copy_compatible_dict(header, meta)
        return _stack_images(arrays, meta), meta

    def _header(self, image: Any) -> dict[str, Any]:
        axes = image.GetDimension()
        spatial = min(axes, 3)
        direction = np.asarray(image.GetDirection(), dtype=np.float64).reshape(axes, axes)
        direction = direction[:spatial, :spatial]
        spacing = np.asarray(image.GetSpacing(), dtype=np.float64)[:spatial]
        affine = np.eye(spatial + 1)
        affine[:spatial, :spatial] = direction @ np.diag(spacing)
        affine[:spatial, -1] = image.GetOrigin()[:spatial]
        if self.affine_lps_to_ras:
            affine = orientation_ras_lps(affine)
        header: dict[str, Any] = {
            key: image.GetMetaData(key)
            for key in image.GetMetaDataKeys()
            if not key.startswith("ITK_")
        }
        header["spacing"] = spacing
        header[MetaKeys.ORIGINAL_AFFINE] = affine
        header[MetaKeys.AFFINE] = affine.copy()
        header[MetaKeys.SPACE] = SpaceKeys.RAS if self.affine_lps_to_ras else SpaceKeys.LPS
        header[MetaKeys.SPATIAL_SHAPE] = np.asarray(image.GetSize()[:spatial])
        return header
