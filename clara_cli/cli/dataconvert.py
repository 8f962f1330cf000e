"""`clara dataconvert` (being written)."""

from __future__ import annotations

import click


@click.command("dataconvert")
def command() -> None:
    """Not available yet."""
    raise click.ClickException("'clara dataconvert' is not implemented yet")
