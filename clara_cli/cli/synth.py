"""`clara synth` (being written)."""

from __future__ import annotations

import click


@click.command("synth")
def command() -> None:
    """Not available yet."""
    raise click.ClickException("'clara synth' is not implemented yet")
