"""Truncated NIfTI files: a read that ends early is an error, not an image of zeros."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from clara_cli.errors import DataError


def require_complete_nifti(path: Path) -> None:
    """Refuse a NIfTI file (.nii, .nii.gz) whose voxel data ends early; others pass.

    SimpleITK reads a truncated .nii.gz without complaint, the missing voxels as zeros, and
    no reader option makes it check; so the data is measured here: the gzip stream must be
    complete (gzip raises at a missing end or a bad checksum) and hold at least the header's
    offset plus shape x voxel size bytes (nibabel reads only the header for that).

    Raises:
        DataError: the file ends early or its gzip stream is corrupt.
    """
    import gzip
    import zlib

    import nibabel
    import numpy as np

    name = path.name.lower()
    if not name.endswith((".nii", ".nii.gz")):
        return
    try:
        # A NIfTI header (nibabel's stubs only know FileBasedHeader).
        header: Any = nibabel.load(str(path)).header
        expected = int(header.get_data_offset()) + int(
            np.prod(header.get_data_shape(), dtype=np.int64)
        ) * int(header.get_data_dtype().itemsize)
    except Exception:  # noqa: BLE001 - an unreadable header is left to the image reader
        return
    try:
        if name.endswith(".gz"):
            actual = 0
            with gzip.open(path, "rb") as stream:
                while chunk := stream.read(1 << 22):
                    actual += len(chunk)
        else:
            actual = path.stat().st_size
    except (EOFError, OSError, zlib.error) as err:
        raise DataError(
            f"cannot read image {str(path)!r}: the file is truncated or corrupt ({err})\n"
            "  copy or download it again"
        ) from None
    if actual < expected:
        raise DataError(
            f"cannot read image {str(path)!r}: it ends early ({actual} of {expected} bytes of "
            "header and voxels)\n  copy or download it again"
        )
