"""`clara train`: run an MMAR's training workflow."""

from __future__ import annotations

import click

from clara_cli.cli.params import ClaraCommand, mmar_options, reports_errors


@click.command("train", cls=ClaraCommand)
@mmar_options("config/config_train.json")
@reports_errors
def command(mmar_root, config_path, env_path, overrides, debug) -> None:
    """Train the MMAR's model (config/config_train.json)."""
    raise click.ClickException("not implemented yet")
