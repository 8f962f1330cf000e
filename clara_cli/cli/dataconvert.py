"""`clara dataconvert`: convert and resample image files and DICOM series (tlt-dataconvert)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click

from clara_cli.cli.options import debug_option
from clara_cli.cli.overrides import numbers_command
from clara_cli.errors import DataError

_RESOLUTION_FLAGS = ("-r", "--resolution")
ResolutionCommand = numbers_command(*_RESOLUTION_FLAGS)  # `-r 1` or `-r 1 1 3`


class Spacing(click.ParamType):
    """One or three positive numbers of mm, from `1`, `1,1,3` or `1 1 3`."""

    name = "MM"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, tuple):
            return value
        parts = [p for p in re.split(r"[,\s]+", str(value).strip()) if p]
        try:
            numbers = [float(p) for p in parts]
        except ValueError:
            self.fail(f"expected 1 or 3 numbers of mm, not {value!r}", param, ctx)
        if len(numbers) not in (1, 3):
            self.fail(f"expected 1 or 3 numbers of mm, not {len(numbers)}: {value!r}", param, ctx)
        if not all(n > 0 for n in numbers):
            self.fail(f"spacing must be positive, not {value!r}", param, ctx)
        return tuple(numbers * 3 if len(numbers) == 1 else numbers)


@click.command("dataconvert", cls=ResolutionCommand)
@click.option(
    "-d",
    "--input",
    "source_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder of images (NIfTI, NRRD, MHA/MHD) and/or DICOM series; searched recursively.",
)
@click.option(
    "-o",
    "--output",
    "output_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write; mirrors the input folder's layout. Never inside the input.",
)
@click.option(
    "-r",
    "--resolution",
    "spacing",
    type=Spacing(),
    default=None,
    help="Target spacing in mm: one value (isotropic) or three (`-r 1 1 3`). "
    "Without it, only the format changes.",
)
@click.option(
    "-s",
    "--input-ext",
    "input_suffix",
    default=None,
    help="Only inputs ending with this (e.g. .nii.gz, or .dcm for DICOM only). Default: all.",
)
@click.option(
    "-e",
    "--output-ext",
    "output_suffix",
    default=".nii.gz",
    show_default=True,
    help="Output format by extension: .nii.gz .nii .nrrd .mha .mhd",
)
@click.option("-l", "--label", "is_label", is_flag=True, help="Inputs are label maps.")
@click.option("-f", "--force", is_flag=True, help="Convert again when the output exists.")
@click.option(
    "-j",
    "--jobs",
    "workers",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Parallel processes.",
)
@click.option(
    "--series",
    "series",
    default=None,
    metavar="PATTERN",
    help="DICOM: convert only the series whose number, description, UID or output name "
    "matches (wildcards, any case), e.g. --series 3 or --series '*arterial*'.",
)
@click.option(
    "--spacing-tolerance",
    type=click.FloatRange(min=0, min_open=True, max=1),
    default=None,
    metavar="FRACTION",
    help="DICOM: how far slice steps may stray from the series' mean step, as a fraction of it "
    "[default: 0.05]. Jitter and rounding pass; a missing slice (a 100% gap) never does.",
)
@click.option("--n4", is_flag=True, help="N4 bias-field correction before resampling (MRI).")
@click.option("--bspline", is_flag=True, help="B-spline instead of linear for images.")
@debug_option
def command(
    source_dir: Path,
    output_dir: Path,
    spacing: tuple[float, float, float] | None,
    input_suffix: str | None,
    output_suffix: str,
    is_label: bool,
    force: bool,
    workers: int,
    n4: bool,
    bspline: bool,
    series: str | None,
    spacing_tolerance: float | None,
    debug: bool,
) -> None:
    """Convert images and DICOM series to one format, optionally resampled to a spacing.

    Labels (-l) are resampled by nearest neighbour and keep their integer type and label set;
    images linearly (or B-spline). The resampling grid keeps the input's physical extent: n
    voxels of spacing s become max(1, round(n x s / t)) voxels of spacing t (-r) covering the
    same box (the origin moves by (t - s) / 2 along each axis), with the input's direction.
    Existing outputs are skipped, so an interrupted run can be
    started again; one unreadable input is reported and the others are still converted
    (exit code 1 when any failed).

    \b
    Examples:
      clara dataconvert -d dicom/ -o nifti/ -r 1 -s .dcm
      clara dataconvert -d labels/ -o labels_1mm/ -r 1 1 3 -l -j 2
      clara dataconvert -d dicom/ -o nifti/ --series '*arterial*'   # one series per study
    """
    from tqdm import tqdm

    from clara_cli.data.dataconvert import (
        FAILED,
        ConvertOptions,
        check_folders,
        check_output_suffix,
        collect,
        find_jobs,
        format_report,
        iter_convert,
        remove_stale_staging,
    )

    if is_label and (n4 or bspline):
        raise click.UsageError("-l (labels) cannot be combined with --n4 or --bspline")
    try:
        check_folders(source_dir, output_dir)
        check_output_suffix(output_suffix)
    except DataError as err:  # -d and -o that overlap, or -e no format: wrong options
        raise click.UsageError(str(err)) from None
    remove_stale_staging(output_dir)
    options = ConvertOptions(
        spacing=spacing,
        is_label=is_label,
        interpolation="bspline" if bspline else "linear",
        n4=n4,
        overwrite=force,
        spacing_tolerance=spacing_tolerance,
    )
    jobs = find_jobs(
        source_dir,
        output_dir,
        input_suffix=input_suffix,
        output_suffix=output_suffix,
        series=series,
    )
    if not jobs:
        raise DataError(
            f"no input volumes found in {source_dir}"
            + (f" ending with {input_suffix!r}" if input_suffix else "")
            + (f" matching --series {series!r}" if series else "")
            + "\n  accepted: .nii .nii.gz .nrrd .nhdr .mha .mhd files and folders of DICOM series"
        )
    with tqdm(total=len(jobs), unit="vol", desc="dataconvert", disable=None) as bar:

        def tracked():
            for result in iter_convert(jobs, options, workers):
                bar.update()
                if result.status == FAILED:
                    bar.write(f"failed: {result.job.name}")
                yield result

        report = collect(jobs, tracked())
    click.echo(format_report(report))
    if report.failed:
        first = report.failed[0].job.name
        more = f" and {len(report.failed) - 1} more" if len(report.failed) > 1 else ""
        raise click.ClickException(
            f"{len(report.failed)} of {len(jobs)} input(s) failed: {first}{more}; "
            "see the table above"
        )
