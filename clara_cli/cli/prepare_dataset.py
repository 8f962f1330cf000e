"""`clara prepare-dataset`: datalists, DeepGrow samples or 2D slices from an MSD-layout folder."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click

from clara_cli.cli.options import debug_option
from clara_cli.cli.overrides import numbers_command

PixdimCommand = numbers_command("--pixdim")  # `--pixdim 1 1 3`


def _parse_numbers(
    ctx: click.Context, param: click.Parameter, value: Any
) -> tuple[float, ...] | None:
    if value is None:
        return None
    try:
        numbers = tuple(float(v) for v in re.split(r"[,\s]+", str(value).strip()) if v)
    except ValueError:
        raise click.BadParameter(f"expected numbers of mm, not {value!r}") from None
    if not numbers:
        raise click.BadParameter("expected 1 to 3 numbers of mm")
    return numbers


@click.command("prepare-dataset", cls=PixdimCommand)
@click.option(
    "-d",
    "--dataset-root",
    "root",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="MSD-layout folder: dataset.json and/or imagesTr/, labelsTr/ (imagesTs/).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="Datalist file (default ROOT/dataset_0.json), or the output folder with "
    "--deepgrow/--slices (required there).",
)
@click.option("--dataset-json", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--split",
    "train_fraction",
    type=click.FloatRange(0.0, 1.0, min_open=True),
    default=None,
    help="Share of the cases for training [default: 0.8; 0.9 with --deepgrow].",
)
@click.option("--seed", default=0, show_default=True, help="Shuffling seed.")
@click.option("--folds", type=click.IntRange(min=2), help="Write one datalist per fold instead.")
@click.option(
    "--deepgrow", is_flag=True, help="DeepGrow samples: one binary sample per label value."
)
@click.option("--dimensions", type=click.Choice(["2", "3"]), default="3", show_default=True)
@click.option(
    "--pixdim",
    callback=_parse_numbers,
    metavar="MM [MM MM]",
    help="DeepGrow target spacing (`--pixdim 1 1 1`) [default: 1 mm].",
)
@click.option(
    "--limit",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="DeepGrow: first N cases only (0: all).",
)
@click.option(
    "--relative-path", is_flag=True, help="DeepGrow: datalist paths relative to the output."
)
@click.option("--slices", is_flag=True, help="Write 2D slices of every pair.")
@click.option(
    "--axis",
    type=click.IntRange(0, 2),
    default=2,
    show_default=True,
    help="Slices: index axis (2 = z).",
)
@click.option(
    "--empty-fraction",
    type=click.FloatRange(0.0, 1.0),
    default=1.0,
    show_default=True,
    help="Slices: share of label-free slices to keep.",
)
@click.option("--no-geometry-check", is_flag=True, help="Do not compare image and label headers.")
@click.option("-f", "--force", is_flag=True, help="Replace existing datalists / output files.")
@debug_option
def command(
    root: Path,
    output: Path | None,
    dataset_json: Path | None,
    train_fraction: float | None,
    seed: int,
    folds: int | None,
    deepgrow: bool,
    dimensions: str,
    pixdim: tuple[float, ...] | None,
    limit: int,
    relative_path: bool,
    slices: bool,
    axis: int,
    empty_fraction: float,
    no_geometry_check: bool,
    force: bool,
    debug: bool,
) -> None:
    """Write datalists for an MSD-layout dataset, or DeepGrow / 2D-slice samples of it.

    \b
    Examples:
      clara prepare-dataset -d data/Task09_Spleen --split 0.8 --seed 0
      clara prepare-dataset -d data/Task09_Spleen --folds 5
      clara prepare-dataset -d data/Task09_Spleen --deepgrow --dimensions 2 -o data/deepgrow2d
      clara prepare-dataset -d data/SegTHOR --slices --axis 2 --empty-fraction 0.1 -o data/slices
    """
    if deepgrow and slices:
        raise click.UsageError("choose one of --deepgrow and --slices")
    if (deepgrow or slices) and output is None:
        raise click.UsageError("--deepgrow and --slices need -o/--output FOLDER")
    output_dir = output if output is not None else root  # only used with --deepgrow/--slices
    if folds and (deepgrow or slices):
        raise click.UsageError("--folds applies to plain datalists only")

    if deepgrow:
        from clara_cli.data.deepgrow import prepare_deepgrow

        report = prepare_deepgrow(
            root,
            output_dir,
            dimensions=int(dimensions),
            pixdim=pixdim,
            limit=limit,
            train_fraction=0.9 if train_fraction is None else train_fraction,
            seed=seed,
            relative_path=relative_path,
            dataset_json=dataset_json,
            overwrite=force,
        )
        click.echo(
            f"Wrote {report.samples} DeepGrow {dimensions}D samples of {report.cases} case(s)"
        )
        click.echo(f"Datalist: {report.datalist}")
        return
    if slices:
        from clara_cli.data.slices import extract_slices

        sliced = extract_slices(
            root,
            output_dir,
            axis=axis,
            empty_fraction=empty_fraction,
            train_fraction=0.8 if train_fraction is None else train_fraction,
            seed=seed,
            dataset_json=dataset_json,
            overwrite=force,
        )
        click.echo(
            f"Wrote {sliced.slices} slices of {sliced.cases} case(s) "
            f"({sliced.empty_dropped} empty slices left out)"
        )
        click.echo(f"Datalist: {sliced.datalist}")
        return

    from clara_cli.data.prepare import prepare_datalist

    prepared = prepare_datalist(
        root,
        output,
        train_fraction=0.8 if train_fraction is None else train_fraction,
        seed=seed,
        folds=folds,
        dataset_json=dataset_json,
        check_geometry=not no_geometry_check,
        overwrite=force,
    )
    for line in prepared.warnings():
        click.echo(f"Warning: {line}" if not line.startswith(" ") else line, err=True)
    click.echo(
        f"{len(prepared.cases.pairs)} image/label pairs, {len(prepared.cases.test)} test images"
    )
    for path in prepared.datalists:
        click.echo(f"Datalist: {path}")
