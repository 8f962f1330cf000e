"""`clara prepare-dataset` (being written)."""

from __future__ import annotations

import click


@click.command("prepare-dataset")
def command() -> None:
    """Not available yet."""
    raise click.ClickException("'clara prepare-dataset' is not implemented yet")
