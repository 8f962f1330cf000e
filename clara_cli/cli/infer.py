"""`clara infer` (being written)."""

from __future__ import annotations

import click


@click.command("infer")
def command() -> None:
    """Not available yet."""
    raise click.ClickException("'clara infer' is not implemented yet")
