"""DICOM series as scanners write them: find the series of a folder, check their slice
geometry, read them as 3D images and name them after the patient and series.

Scanners write slice positions with jitter (0.001 mm) or rounded to two decimals (3.33 mm,
3.34 mm steps). ITK flags any such unevenness and reports its size as
"[UNKNOWN_PRINT_CHARACTERISTICS]", so clara checks the geometry itself, with a tolerance
relative to the slice step, and keeps refusing what would give a wrong volume: a missing slice
(a gap), stacked acquisitions at one position, mixed orientations and gantry tilt.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from clara_cli.errors import DataError, first_line

if TYPE_CHECKING:
    import SimpleITK as sitk

    from clara_cli.io.image import TypePath

#: Default spacing tolerance: each slice step (and each slice's distance from the regular grid)
#: may differ from the series' step by this fraction of it. Jitter and rounding stay far below
#: it (0.3% for 3.33/3.34 mm steps); a missing slice is a 100% deviation.
DEFAULT_SPACING_TOLERANCE = 0.05

_ACCEPTED = "NIfTI (.nii, .nii.gz), NRRD (.nrrd, .nhdr), MetaImage (.mha, .mhd), or a DICOM folder"
_PATIENT_ID, _SERIES_NUMBER, _DESCRIPTION = "0010|0020", "0020|0011", "0008|103e"
_POSITION, _ORIENTATION = "0020|0032", "0020|0037"


@dataclass(frozen=True)
class DicomSeries:
    """One DICOM series found in a folder: its UID, naming tags and slice files (sorted)."""

    uid: str
    description: str
    files: tuple[str, ...]
    patient_id: str = ""
    series_number: str = ""

    @property
    def label(self) -> str:
        """A readable name: "PatientID_SeriesNumber_Description" (empty parts left out)."""
        return clean_name("_".join(p for p in self._parts() if p))

    def _parts(self) -> tuple[str, str, str]:
        return self.patient_id, self.series_number, self.description

    def matches(self, pattern: str) -> bool:
        """Whether `pattern` (shell wildcards, any case) matches the series' UID, number,
        description or label: "3", "*arterial*", "1.2.840.113619.*"."""
        import fnmatch

        names = (self.uid, self.series_number, self.description, self.label)
        return any(fnmatch.fnmatch(name.lower(), pattern.lower()) for name in names if name)


def clean_name(text: str) -> str:
    """`text` as a file name: runs of other characters than letters, digits, `.+-` become `_`."""
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", text).strip("_.")


def series_names(series: Sequence[DicomSeries]) -> list[str]:
    """A file stem per series: its label, with the UID appended only where labels tie.

    A series without any naming tag is named by its UID alone.
    """
    labels = [item.label for item in series]
    return [
        label if label and labels.count(label) == 1 else "_".join(filter(None, (label, item.uid)))
        for label, item in zip(labels, series, strict=True)
    ]


def list_dicom_series(folder: TypePath) -> list[DicomSeries]:
    """List the DICOM series directly inside `folder` (not recursive).

    Returns:
        One entry per SeriesInstanceUID, with its files in slice order; empty when none.
    """
    import SimpleITK as sitk

    folder = str(folder)
    series = []
    for uid in sitk.ImageSeriesReader.GetGDCMSeriesIDs(folder) or ():
        files = tuple(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(folder, uid))
        if files:
            description, patient, number = _header_tags(
                files[0], (_DESCRIPTION, _PATIENT_ID, _SERIES_NUMBER)
            )
            series.append(DicomSeries(uid, description, files, patient, number))
    return series


def _header_tags(file: str, keys: Sequence[str]) -> list[str]:
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetFileName(file)
    try:
        reader.ReadImageInformation()
    except RuntimeError:
        return ["" for _ in keys]
    return [reader.GetMetaData(k).strip() if reader.HasMetaDataKey(k) else "" for k in keys]


def read_dicom_series(
    folder: TypePath,
    series_uid: str | None = None,
    *,
    spacing_tolerance: float = DEFAULT_SPACING_TOLERANCE,
) -> sitk.Image:
    """Read one DICOM series of `folder` as a 3D image, after checking its slice geometry.

    Args:
        folder: a folder with the series' slice files.
        series_uid: the SeriesInstanceUID to read; may be omitted when the folder holds one series.
        spacing_tolerance: how far slice steps may stray from the series' step, as a fraction of
            it (see `check_slice_positions`).

    Raises:
        DataError: no series, an unknown UID, several series and no UID, unreadable slices, or
            a slice geometry that no regular volume represents (gaps, tilt, mixed orientations).
    """
    import SimpleITK as sitk

    chosen = _choose_series(folder, series_uid)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(list(chosen.files))
    reader.MetaDataDictionaryArrayUpdateOn()
    # ITK prints a C++ warning for any unevenly spaced slices and carries on; clara checks the
    # positions itself (below) with a tolerance, so the warning would only mislead.
    warnings_shown = sitk.ProcessObject.GetGlobalWarningDisplay()
    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    try:
        image = reader.Execute()
    except RuntimeError as err:
        raise DataError(
            f"cannot read DICOM series {chosen.uid!r} in {str(folder)!r}: {first_line(err)}"
        ) from None
    finally:
        sitk.ProcessObject.SetGlobalWarningDisplay(warnings_shown)
    count = len(chosen.files)
    positions = [_numbers(reader, i, _POSITION) for i in range(count)]
    orientations = [_numbers(reader, i, _ORIENTATION) for i in range(count)]
    # Without positions (secondary captures) ITK's own 1 mm default is all there is to go on.
    if count > 1 and all(
        p is not None and len(p) == 3 and o is not None and len(o) == 6
        for p, o in zip(positions, orientations, strict=True)
    ):
        problem = check_slice_positions(
            np.asarray(positions, dtype=float),
            np.asarray(orientations, dtype=float),
            in_plane_spacing=min(image.GetSpacing()[:2]),
            tolerance=spacing_tolerance,
            names=[Path(f).name for f in chosen.files],
        )
        if problem:
            raise DataError(
                f"DICOM series {chosen.uid!r} in {str(folder)!r} ({count} slice files): {problem}"
            )
    return image


def _numbers(reader: sitk.ImageSeriesReader, index: int, key: str) -> list[float] | None:
    if not reader.HasMetaDataKey(index, key):
        return None
    try:
        return [float(v) for v in reader.GetMetaData(index, key).strip().split("\\")]
    except ValueError:
        return None


def _choose_series(folder: TypePath, series_uid: str | None) -> DicomSeries:
    found = list_dicom_series(folder)
    if not found:
        raise DataError(f"no DICOM series in folder {str(folder)!r}; accepted inputs: {_ACCEPTED}")
    listing = "\n  series found: " + ", ".join(f"{s.uid} ({s.label or 'no name'})" for s in found)
    if series_uid is None:
        if len(found) > 1:
            raise DataError(
                f"folder {str(folder)!r} holds {len(found)} DICOM series; choose one by UID"
                + listing
            )
        return found[0]
    matches = [s for s in found if s.uid == series_uid]
    if not matches:
        raise DataError(f"no DICOM series {series_uid!r} in folder {str(folder)!r}" + listing)
    return matches[0]


def check_slice_positions(
    positions: np.ndarray,
    orientations: np.ndarray,
    *,
    in_plane_spacing: float,
    tolerance: float = DEFAULT_SPACING_TOLERANCE,
    names: Sequence[str] | None = None,
) -> str:
    """Say why slices at `positions` do not form a regular volume, or "" when they do.

    Hand-written because neither ITK nor GDCM report this with a tolerance: ITK flags any
    unevenness (and cannot print its size), GDCM only sorts.

    Args:
        positions: (n, 3) ImagePositionPatient of the slices, in reading order.
        orientations: (n, 6) ImageOrientationPatient of the slices.
        in_plane_spacing: the pixel size in mm (gantry tilt is judged against it).
        tolerance: each step between neighbouring slices, and each slice's distance from the
            regular grid from the first to the last slice, may differ by this fraction of the
            mean step.
        names: the slice file names, to say where a problem is.
    """
    names = list(names) if names is not None else [f"#{i + 1}" for i in range(len(positions))]
    if np.abs(orientations - orientations[0]).max() > 1e-3:
        return (
            "the slices have different orientations (ImageOrientationPatient); is it a localizer?"
        )
    row, column = orientations[0, :3], orientations[0, 3:]
    normal = np.cross(row, column)
    normal /= np.linalg.norm(normal)
    along = positions @ normal
    steps = np.diff(along)
    span = along[-1] - along[0]
    mean_step = span / (len(along) - 1)
    if abs(mean_step) < 1e-6 or np.any(np.abs(steps) < 1e-3 * abs(mean_step)):
        at = int(np.argmin(np.abs(steps)))
        return (
            f"slices {names[at]} and {names[at + 1]} lie at the same position: several "
            "acquisitions (time points, echoes) in one series\n"
            "  split the series (e.g. by acquisition or echo number) before converting"
        )
    deviation = np.abs(steps - mean_step)
    worst = int(np.argmax(deviation))
    grid = np.abs(along - (along[0] + mean_step * np.arange(len(along))))
    allowed = tolerance * abs(mean_step)
    if deviation[worst] > allowed or grid.max() > allowed:
        ratio = steps[worst] / mean_step
        hint = (
            "  is a slice file missing?"
            if ratio > 1.5
            else "  if the scanner really wrote these positions, a spacing tolerance above "
            f"{max(deviation[worst], grid.max()) / abs(mean_step):.2g} accepts them "
            "(dataconvert --spacing-tolerance)"
        )
        return (
            f"uneven slice spacing: the step from {names[worst]} to {names[worst + 1]} is "
            f"{abs(steps[worst]):.4g} mm where the series averages {abs(mean_step):.4g} mm "
            f"(deviates by {deviation[worst]:.4g} mm; tolerance {100 * tolerance:.3g}% of the step = "
            f"{allowed:.3g} mm)\n{hint}"
        )
    offsets = positions - positions[0]
    sideways = offsets - np.outer(offsets @ normal, normal)
    shift = float(np.linalg.norm(sideways, axis=1).max())
    if shift > 0.5 * in_plane_spacing:
        degrees = math.degrees(math.atan2(float(np.linalg.norm(sideways[-1])), abs(span)))
        return (
            f"gantry tilt: the slices shift sideways by {shift:.3g} mm over the series "
            f"(about {degrees:.1f} degrees); a regular volume would misplace them\n"
            "  resample it with a tilt correction (e.g. dcm2niix) first"
        )
    return ""
