"""`clara synth NAME`: write a model family's synthetic phantom dataset.

One subcommand per phantom that a family declares (`clara_cli/families`): adding a family
adds its subcommand, with no edit here. Family modules import only the standard library, so
listing them keeps `clara --help` instant.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from clara_cli.cli.options import debug_option


class _PhantomGroup(click.Group):
    """Lists the families' phantoms as subcommands, built when first asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        from clara_cli.families import phantoms

        return sorted(phantoms())

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        from clara_cli.families import phantoms

        phantom = phantoms().get(name)
        return None if phantom is None else _phantom_command(phantom)


@click.group("synth", cls=_PhantomGroup)
@debug_option
def command(debug: bool) -> None:
    """Write synthetic phantom datasets for demos and tests (one per model family)."""


def _phantom_command(phantom: Any) -> click.Command:
    @click.command(phantom.name, help=f"{phantom.summary}\n\n{phantom.description}".strip())
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
        default=phantom.default_size,
        show_default=True,
        type=click.IntRange(min=16),
        help="Voxels along the phantom's main axes; the anatomy scales with it.",
    )
    @click.option(
        "--train-fraction",
        default=0.8,
        show_default=True,
        type=click.FloatRange(0.0, 1.0, min_open=True),
        help="Share of the cases in the datalist's training list.",
    )
    @click.option("-f", "--force", is_flag=True, help="Write into a non-empty folder.")
    @debug_option
    def run(
        output_dir: Path,
        num_cases: int,
        seed: int,
        size: int,
        train_fraction: float,
        force: bool,
        debug: bool,
    ) -> None:
        from clara_cli.families import PhantomRequest

        datalist = phantom.run(
            PhantomRequest(output_dir, num_cases, seed, size, train_fraction, force)
        )
        click.echo(f"Wrote {num_cases} phantom cases to {output_dir}")
        click.echo(f"Datalist: {datalist}")

    return run
