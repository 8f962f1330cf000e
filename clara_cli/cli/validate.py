"""`clara validate`: run an MMAR's validation workflow and write its report."""

from __future__ import annotations

from pathlib import Path

import click

from clara_cli.cli.params import (
    ClaraCommand,
    configure_logging,
    device_option,
    mmar_options,
    parse_overrides,
    reports_errors,
)


@click.command("validate", cls=ClaraCommand)
@mmar_options("config/config_validation.json")
@device_option
@reports_errors
def command(
    mmar_root: Path,
    config_path: str,
    env_path: str,
    overrides: tuple[str, ...],
    debug: bool,
    device: str,
) -> None:
    """Score the MMAR's model on the validation list (config/config_validation.json).

    The model comes from MMAR_TORCHSCRIPT or MMAR_CKPT, whichever loader the config enables
    (dont_load_ts_model / dont_load_ckpt_model). Writes under MMAR_EVAL_OUTPUT_PATH:
    metrics_per_case.csv (Dice and HD95 per case and class), metrics_summary.json,
    dice_per_case.png and overlays/<case>.png; prints the summary.

    \b
    Examples:
      clara validate -m mmars/clara_pt_spleen_ct_segmentation
      clara validate -m MMAR --set dont_load_ts_model=false dont_load_ckpt_model=true
    """
    configure_logging(debug)
    from clara_cli.engine.session import RunRequest
    from clara_cli.engine.workflows import validate
    from clara_cli.report.tables import format_summary

    request = RunRequest(mmar_root, config_path, env_path, parse_overrides(overrides), device)
    result = validate(request)
    click.echo(format_summary(result.summary))
    click.echo(f"report: {result.output_dir}")
