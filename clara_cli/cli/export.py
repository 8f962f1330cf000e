"""`clara export` (being written)."""

from __future__ import annotations

import click


@click.command("export")
def command() -> None:
    """Not available yet."""
    raise click.ClickException("'clara export' is not implemented yet")
