"""Batch conversion of image files and DICOM series, with optional resampling (tlt-dataconvert).

Every input volume under the source folder becomes one output file under the destination
folder, at the same relative path. The source is never written to; outputs are written to a
temporary name and renamed; outputs that exist are skipped (resumable) unless `overwrite`; a
failing input is recorded and the batch goes on.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from clara_cli.errors import ClaraError, DataError
from clara_cli.io.image import IMAGE_SUFFIXES, image_suffix, strip_image_suffix
from clara_cli.io.nifti_integrity import require_complete_nifti

if TYPE_CHECKING:
    import SimpleITK as sitk

CONVERTED, SKIPPED, FAILED = "converted", "skipped", "failed"

# Files that sit next to images or DICOM slices but are neither.
_NOT_DICOM_SUFFIXES = {
    ".raw",
    ".zraw",
    ".gz",
    ".json",
    ".txt",
    ".csv",
    ".md",
    ".png",
    ".jpg",
    ".xml",
}

_DICOM_SUFFIXES = {".dcm", ".dicom", ".ima"}
_NOT_IN_SERIES = (
    "DICOM file not part of any readable image series: corrupt or truncated, "
    "or not an image (e.g. RTSTRUCT, SR)"
)


@dataclass(frozen=True)
class ConvertOptions:
    """What to do to every volume.

    Attributes:
        spacing: target spacing in mm (one per axis), or None to convert the format only.
        is_label: label maps: nearest neighbour, integer type and label set kept.
        interpolation: "linear" or "bspline" for images.
        n4: N4 bias-field correction before resampling (MRI).
        overwrite: convert again when the output exists (otherwise skip it).
        spacing_tolerance: DICOM series: how far slice steps may stray from the mean step, as a
            fraction of it (None: clara_cli.io.dicom.DEFAULT_SPACING_TOLERANCE).
    """

    spacing: tuple[float, ...] | None = None
    is_label: bool = False
    interpolation: str = "linear"
    n4: bool = False
    overwrite: bool = False
    spacing_tolerance: float | None = None


@dataclass(frozen=True)
class ConvertJob:
    """One input volume: a file, or a DICOM series in a folder, and where it goes."""

    source: Path
    output: Path
    series_uid: str | None = None
    problem: str = ""  # known before reading: the job fails with this reason

    @property
    def name(self) -> str:
        return f"{self.source} [{self.series_uid}]" if self.series_uid else str(self.source)


@dataclass(frozen=True)
class ConvertResult:
    """The outcome of one job; `reason` explains a skip or a failure."""

    job: ConvertJob
    status: str
    reason: str = ""
    seconds: float = 0.0


@dataclass
class ConvertReport:
    """All results of a batch, in input order."""

    results: list[ConvertResult] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(result.status == status for result in self.results)

    @property
    def failed(self) -> list[ConvertResult]:
        return [result for result in self.results if result.status == FAILED]


def find_jobs(
    source_dir: Path,
    output_dir: Path,
    *,
    input_suffix: str | None = None,
    output_suffix: str = ".nii.gz",
    series: str | None = None,
) -> list[ConvertJob]:
    """List the volumes under `source_dir` and their outputs under `output_dir`.

    Image files are picked by `input_suffix` (any supported image suffix when None). A folder
    holding DICOM files contributes one job per series, named "PatientID_SeriesNumber_Description"
    (empty tags left out), with the SeriesInstanceUID appended only to tell apart series whose
    names tie, or alone when the series has none of these tags. With an `input_suffix`
    that is not an image suffix (e.g. ".dcm"), only DICOM series are converted. With `series`
    (see `DicomSeries.matches`), only the DICOM series it matches are converted (no image files).

    Raises:
        DataError: unsupported output suffix, missing source, or overlapping source and output.
    """
    from clara_cli.io.dicom import list_dicom_series, series_names

    source_dir, output_dir = Path(source_dir), Path(output_dir)
    check_folders(source_dir, output_dir)
    output_suffix = check_output_suffix(output_suffix)
    input_suffix = _dotted(input_suffix) if input_suffix else None
    wanted = input_suffix.lower() if input_suffix else None
    dicom_only = series is not None or (wanted is not None and image_suffix("x" + wanted) is None)
    jobs: list[ConvertJob] = []
    for folder, subfolders, files in os.walk(source_dir):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        folder_path = Path(folder)
        relative = folder_path.relative_to(source_dir)
        dicom_candidates = []
        for name in sorted(files):
            if name.startswith("."):
                continue
            suffix = image_suffix(name)
            if suffix and not dicom_only:
                if wanted is None or name.lower().endswith(wanted):
                    output = output_dir / relative / (strip_image_suffix(name) + output_suffix)
                    jobs.append(ConvertJob(folder_path / name, output))
            elif not suffix and Path(name).suffix.lower() not in _NOT_DICOM_SUFFIXES:
                if wanted is None or name.lower().endswith(wanted):
                    dicom_candidates.append(name)
        if dicom_candidates:
            found = list_dicom_series(folder_path)
            for item, stem in zip(found, series_names(found), strict=True):
                if series is not None and not item.matches(series):
                    continue
                output = output_dir / relative / (stem + output_suffix)
                jobs.append(ConvertJob(folder_path, output, series_uid=item.uid))
            # A corrupt slice file is silently left out of its series by GDCM: report it.
            in_series = {Path(file).name for item in found for file in item.files}
            for name in dicom_candidates:
                if name not in in_series and _looks_like_dicom(folder_path / name):
                    output = output_dir / relative / name
                    jobs.append(ConvertJob(folder_path / name, output, problem=_NOT_IN_SERIES))
    return _mark_duplicates(jobs)


def check_output_suffix(suffix: str) -> str:
    """`suffix` with its dot, when it names a format clara writes; else DataError."""
    dotted = _dotted(suffix)
    if image_suffix("x" + dotted) != dotted.lower():
        raise DataError(
            f"output extension must be one of {', '.join(IMAGE_SUFFIXES)}, not {suffix!r}"
        )
    return dotted


#: The staging folders of :func:`clara_cli.io.image.write_image` (`.<name>.<random>.tmp`).
_STAGING = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")


def remove_stale_staging(output_dir: Path) -> list[Path]:
    """Delete the staging folders a killed write left in `output_dir` (before a new batch).

    `write_image` removes its own on any Python-level failure; only a SIGKILL leaves one.
    """
    removed: list[Path] = []
    if not output_dir.is_dir():
        return removed
    for folder, subfolders, _files in os.walk(output_dir):
        for name in list(subfolders):
            if _STAGING.match(name):
                shutil.rmtree(Path(folder) / name, ignore_errors=True)
                subfolders.remove(name)
                removed.append(Path(folder) / name)
    return removed


def check_folders(source_dir: Path, output_dir: Path) -> None:
    """Refuse a missing source, or an output folder inside the source (or the reverse)."""
    if not source_dir.is_dir():
        raise DataError(f"input folder {str(source_dir)!r} does not exist or is not a folder")
    source, output = source_dir.resolve(), output_dir.resolve()
    if output == source or source in output.parents or output in source.parents:
        raise DataError(
            f"output folder {str(output_dir)!r} overlaps the input folder {str(source_dir)!r}\n"
            "  dataconvert never writes into its input: choose a separate output folder"
        )


def _looks_like_dicom(path: Path) -> bool:
    """A DICOM suffix, or the "DICM" marker after the 128-byte preamble (DICOMDIR excluded)."""
    if path.name.upper() == "DICOMDIR":
        return False
    if path.suffix.lower() in _DICOM_SUFFIXES:
        return True
    try:
        with path.open("rb") as stream:
            return stream.read(132)[128:] == b"DICM"
    except OSError:
        return False


def _dotted(suffix: str) -> str:
    return suffix if suffix.startswith(".") else f".{suffix}"


def _mark_duplicates(jobs: list[ConvertJob]) -> list[ConvertJob]:
    first_for: dict[Path, str] = {}
    marked = []
    for job in jobs:
        first = first_for.setdefault(job.output, job.name) if not job.problem else job.name
        if first != job.name:
            job = dataclasses.replace(job, problem=f"same output name as {first}; rename one")
        marked.append(job)
    return marked


def convert_volume(job: ConvertJob, options: ConvertOptions) -> ConvertResult:
    """Convert one volume; never raises for bad data: failures come back as a FAILED result."""
    started = time.perf_counter()
    if job.problem:
        return ConvertResult(job, FAILED, job.problem)
    if job.output.exists() and not options.overwrite:
        return ConvertResult(job, SKIPPED, "output exists (use -f to convert again)")
    try:
        from clara_cli.io.image import read_image, write_image

        if job.source.is_file():
            require_complete_nifti(job.source)
        image = read_image(job.source, job.series_uid, spacing_tolerance=options.spacing_tolerance)
        image = transform_volume(image, options)
        write_image(image, job.output)
    except ClaraError as err:
        return ConvertResult(job, FAILED, str(err), time.perf_counter() - started)
    except Exception as err:  # noqa: BLE001 - one bad volume must not stop the batch
        reason = f"{type(err).__name__}: {err}"
        return ConvertResult(job, FAILED, reason, time.perf_counter() - started)
    return ConvertResult(job, CONVERTED, "", time.perf_counter() - started)


def transform_volume(image: sitk.Image, options: ConvertOptions) -> sitk.Image:
    """Apply the conversion to one image: label checks, N4, resampling."""
    from clara_cli.io.resample import resample_to_spacing

    if options.is_label:
        if options.n4:
            raise DataError("N4 correction applies to MRI images, not to label maps (-l)")
        image = as_integer_label(image)
    elif options.n4:
        from clara_cli.data.n4 import n4_correct

        image = n4_correct(image)
    if options.spacing is not None:
        # A 2D input (one DICOM slice, a 2D NRRD) takes the in-plane part of `-r`.
        spacing = options.spacing[: image.GetDimension()]
        image = resample_to_spacing(
            image, spacing, is_label=options.is_label, interpolation=options.interpolation
        )
    return image


def as_integer_label(image: sitk.Image) -> sitk.Image:
    """Return a label map with an integer pixel type (float labels with whole values are cast).

    Raises:
        DataError: a float label map with fractional values.
    """
    import numpy as np
    import SimpleITK as sitk

    if image.GetPixelID() not in (sitk.sitkFloat32, sitk.sitkFloat64):
        return image
    values = sitk.GetArrayViewFromImage(image)
    if not np.array_equal(values, np.round(values)):
        raise DataError(
            "label map has fractional values; -l expects whole label numbers "
            "(is this an image rather than a label map?)"
        )
    fits_uint8 = values.size == 0 or (values.min() >= 0 and values.max() <= 255)
    return sitk.Cast(image, sitk.sitkUInt8 if fits_uint8 else sitk.sitkInt32)


def iter_convert(
    jobs: Sequence[ConvertJob], options: ConvertOptions, workers: int = 1
) -> Iterator[ConvertResult]:
    """Convert `jobs`, yielding each result as it completes (completion order when workers > 1).

    `workers` counts processes, this one included (see clara_cli.data.parallel).
    """
    from clara_cli.data.parallel import run_unordered

    if workers > 1:
        # Largest first: the last volumes to finish are then small, so no process idles long.
        jobs = sorted(jobs, key=_input_bytes, reverse=True)
    convert = functools.partial(_convert_with, options)
    return run_unordered(convert, jobs, workers, _crashed)


def _input_bytes(job: ConvertJob) -> int:
    try:
        if job.source.is_file():
            return job.source.stat().st_size
        return sum(p.stat().st_size for p in job.source.iterdir() if p.is_file())
    except OSError:
        return 0


def _convert_with(options: ConvertOptions, job: ConvertJob) -> ConvertResult:
    return convert_volume(job, options)


def _crashed(job: ConvertJob, err: BaseException) -> ConvertResult:
    return ConvertResult(job, FAILED, f"worker process crashed: {type(err).__name__}: {err}")


def convert_dataset(
    source_dir: str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    options: ConvertOptions | None = None,
    *,
    input_suffix: str | None = None,
    output_suffix: str = ".nii.gz",
    workers: int = 1,
    series: str | None = None,
) -> ConvertReport:
    """Convert every volume under `source_dir` into `output_dir` and report what happened.

    Example:
        >>> report = convert_dataset("dicom/", "nifti/", ConvertOptions(spacing=(1.0, 1.0, 1.0)))
        >>> print(format_report(report))
    """
    options = options or ConvertOptions()
    jobs = find_jobs(
        Path(source_dir),
        Path(output_dir),
        input_suffix=input_suffix,
        output_suffix=output_suffix,
        series=series,
    )
    return collect(jobs, iter_convert(jobs, options, workers))


def collect(jobs: Sequence[ConvertJob], results: Iterator[ConvertResult]) -> ConvertReport:
    """Gather `results` into a report ordered like `jobs`."""
    order = {job: index for index, job in enumerate(jobs)}
    return ConvertReport(sorted(results, key=lambda result: order[result.job]))


def format_report(report: ConvertReport) -> str:
    """The closing table: counts per status, then every failed input with its reason."""
    lines = ["", f"{'status':<10} {'inputs':>6}"]
    lines.append(f"{CONVERTED:<10} {report.count(CONVERTED):>6}")
    skipped = report.count(SKIPPED)
    note = "  outputs exist; -f converts them again" if skipped else ""
    lines.append(f"{SKIPPED:<10} {skipped:>6}{note}")
    lines.append(f"{FAILED:<10} {report.count(FAILED):>6}")
    for result in report.failed:
        reason = result.reason.replace("\n", "\n      ")
        lines.append(f"  failed: {result.job.name}\n      {reason}")
    return "\n".join(lines)
