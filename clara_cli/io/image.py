"""Read and write medical images with SimpleITK, keeping spacing, origin and direction.

`read_image` accepts NIfTI, NRRD and MetaImage files, or a folder holding a DICOM series
(read and checked by `clara_cli.io.dicom`).
`write_image` writes atomically: the file appears under its final name only once complete.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from clara_cli.errors import DataError, first_line
from clara_cli.io.native_stderr import metaio_to_log

if TYPE_CHECKING:
    import SimpleITK as sitk

TypePath = str | os.PathLike[str]

#: File suffixes read and written through SimpleITK, longest first so ".nii.gz" wins over ".gz".
IMAGE_SUFFIXES: tuple[str, ...] = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")
_ACCEPTED = "NIfTI (.nii, .nii.gz), NRRD (.nrrd, .nhdr), MetaImage (.mha, .mhd), or a DICOM folder"


def image_suffix(path: TypePath) -> str | None:
    """Return the recognised image suffix of `path` (e.g. ".nii.gz"), or None."""
    name = Path(path).name.lower()
    for suffix in IMAGE_SUFFIXES:
        if name.endswith(suffix):
            return suffix
    return None


def strip_image_suffix(path: TypePath) -> str:
    """Return the file name of `path` without its image suffix ("a/ct.nii.gz" -> "ct")."""
    name = Path(path).name
    suffix = image_suffix(name)
    return name[: -len(suffix)] if suffix else name


def read_image(
    path: TypePath, series_uid: str | None = None, *, spacing_tolerance: float | None = None
) -> sitk.Image:
    """Read an image file, or a DICOM series when `path` is a folder.

    Args:
        path: a .nii/.nii.gz/.nrrd/.nhdr/.mha/.mhd file or a folder of DICOM slices.
        series_uid: for a DICOM folder with several series, the one to read.
        spacing_tolerance: for a DICOM series, how far slice steps may stray from the mean
            step, as a fraction of it (default: clara_cli.io.dicom.DEFAULT_SPACING_TOLERANCE).

    Returns:
        The SimpleITK image, with its spacing, origin and direction.

    Raises:
        DataError: the path is missing, of an unsupported format, or unreadable.
    """
    import SimpleITK as sitk

    path = Path(path)
    if path.is_dir():
        from clara_cli.io.dicom import DEFAULT_SPACING_TOLERANCE, read_dicom_series

        if spacing_tolerance is None:
            spacing_tolerance = DEFAULT_SPACING_TOLERANCE
        return read_dicom_series(path, series_uid, spacing_tolerance=spacing_tolerance)
    if not path.exists():
        raise DataError(f"image not found: {str(path)!r}")
    if image_suffix(path) is None:
        raise DataError(f"{str(path)!r} is not a supported image file; accepted: {_ACCEPTED}")
    try:
        with metaio_to_log():
            return sitk.ReadImage(str(path))
    except RuntimeError as err:
        raise DataError(
            f"cannot read image {str(path)!r}: {first_line(err)}\n"
            "  is the file complete and of the format its suffix says?"
        ) from None


def write_image(image: sitk.Image, path: TypePath, *, compress: bool = True) -> Path:
    """Write `image` to `path` atomically, creating the parent folder.

    The image is written under a temporary folder next to `path`, then moved into place with
    `os.replace` (header last for two-file formats such as .mhd + .raw), so an interrupted or
    failed write never leaves a half-written file under the final name.

    Args:
        image: the image to write.
        path: the destination; its suffix chooses the format (see IMAGE_SUFFIXES).
        compress: compress the pixel data where the format allows (.nii.gz is always gzipped).

    Returns:
        `path` as a Path.

    Raises:
        DataError: an unsupported suffix, or the write failed.
    """
    import SimpleITK as sitk

    path = Path(path)
    if image_suffix(path) is None:
        raise DataError(f"cannot write {str(path)!r}: unsupported suffix; accepted: {_ACCEPTED}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    except OSError as err:
        raise DataError(f"cannot write {str(path)!r}: {err.strerror}") from None
    try:
        # No compression level is passed: SimpleITK's NIfTI writer ignores it (identical bytes
        # at 1, 6 and 9) and gzips with zlib-ng at level 6 size, 3.8x faster than Python's zlib
        # at level 6 and only 1.25x slower than its level 1 (benchmarks/bench_dataconvert.py).
        # NRRD and MetaImage get ITK's default level, between levels 1 and 6 in size and time.
        if image_suffix(path) in (".mha", ".mhd"):
            image = _without_unwritable_metadata(image)
        sitk.WriteImage(image, str(staging / path.name), useCompression=compress)
        # Data files (.raw, .zraw) first, the header under the final name last.
        for produced in sorted(staging.iterdir(), key=lambda p: p.name == path.name):
            os.replace(produced, path.parent / produced.name)
    except (RuntimeError, OSError) as err:
        raise DataError(f"cannot write image {str(path)!r}: {first_line(err)}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path


#: NIfTI header items as matrices: MetaImage cannot store them (they restate the geometry).
_MATRIX_ITEMS = ("qto_xyz", "sto_xyz")


def _without_unwritable_metadata(image: sitk.Image) -> sitk.Image:
    """A copy of `image` without the header items MetaImageIO cannot write.

    ITK prints one multi-line warning per empty or non-text item (a NIfTI input has five:
    `descrip`, `aux_file`, `intent_name`, `ITK_FileNotes`, `qto_xyz`) and drops it anyway;
    dropping them first writes the same file without the noise. Other warnings still show.
    """
    import SimpleITK as sitk

    keys = [
        key
        for key in image.GetMetaDataKeys()
        if key in _MATRIX_ITEMS or not image.GetMetaData(key).strip()
    ]
    if not keys:
        return image
    copy = sitk.Image(image)
    for key in keys:
        copy.EraseMetaData(key)
    return copy
