"""`clara validate`: run an MMAR's validation workflow."""

from __future__ import annotations

import click

from clara_cli.cli.params import ClaraCommand, mmar_options, reports_errors


@click.command("validate", cls=ClaraCommand)
@mmar_options("config/config_validation.json")
@reports_errors
def command(mmar_root, config_path, env_path, overrides, debug) -> None:
    """Validate the MMAR's model (config/config_validation.json)."""
    raise click.ClickException("not implemented yet")
