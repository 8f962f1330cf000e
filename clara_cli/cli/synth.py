"""`clara synth`: write synthetic phantom datasets (one subcommand per dataset kind).

To add a kind, define a click command below and decorate it with `@command.command("name")`.
"""

from __future__ import annotations

from pathlib import Path

import click

from clara_cli.cli.params import reports_errors


@click.group("synth")
def command() -> None:
    """Write synthetic phantom datasets for demos and tests."""


@command.command("spleen")
@click.option(
    "-o",
    "--output",
    "output_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder to write (MSD layout: imagesTr/, labelsTr/, dataset.json, dataset_0.json).",
)
@click.option("-n", "--num-cases", default=12, show_default=True, type=click.IntRange(min=2))
@click.option("--seed", default=0, show_default=True, type=int, help="Same seed, same data.")
@click.option(
    "--size",
    "in_plane_size",
    default=128,
    show_default=True,
    type=click.IntRange(min=16),
    help="In-plane voxels (x and y); the anatomy scales with it.",
)
@click.option(
    "--train-fraction",
    default=0.8,
    show_default=True,
    type=click.FloatRange(0.0, 1.0, min_open=True),
    help="Share of the cases in the datalist's training list.",
)
@click.option("-f", "--force", is_flag=True, help="Write into a non-empty folder.")
@click.option("--debug", is_flag=True, help="Show the full traceback of an error.")
@reports_errors
def spleen(
    output_dir: Path,
    num_cases: int,
    seed: int,
    in_plane_size: int,
    train_fraction: float,
    force: bool,
    debug: bool,
) -> None:
    """Abdominal CT phantoms (int16 HU) with spleen labels, like MSD Task09_Spleen.

    \b
    Example:
      clara synth spleen -o data/spleen -n 12 --seed 0
    """
    from clara_cli.data.synth import PhantomOptions, synthesize_spleen

    datalist = synthesize_spleen(
        output_dir,
        num_cases=num_cases,
        seed=seed,
        options=PhantomOptions(in_plane_size=in_plane_size),
        train_fraction=train_fraction,
        overwrite=force,
    )
    click.echo(f"Wrote {num_cases} phantom cases to {output_dir}")
    click.echo(f"Datalist: {datalist}")
