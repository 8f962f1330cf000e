"""`clara validate`: run an MMAR's validation workflow and write its report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from clara_cli.cli.params import (
    ClaraCommand,
    configure_logging,
    device_option,
    launch_options,
    mmar_options,
    parse_overrides,
    reports_errors,
)


@click.command("validate", cls=ClaraCommand)
@mmar_options("config/config_validation.json")
@device_option
@launch_options
@reports_errors
def command(
    mmar_root: Path,
    config_path: str,
    env_path: str,
    overrides: tuple[str, ...],
    debug: bool,
    device: str,
    **launch: Any,
) -> None:
    """Score the MMAR's model on the validation list (config/config_validation.json).

    The model comes from MMAR_TORCHSCRIPT or MMAR_CKPT, whichever loader the config enables
    (dont_load_ts_model / dont_load_ckpt_model). Writes under MMAR_EVAL_OUTPUT_PATH:
    metrics_per_case.csv (Dice and HD95 per case and class), metrics_summary.json,
    dice_per_case.png and overlays/<case>.png; prints the summary. With --gpus N each process
    scores its own share of the cases and the scores are gathered over the whole list.

    \b
    Examples:
      clara validate -m mmars/clara_pt_spleen_ct_segmentation
      clara validate -m MMAR --set dont_load_ts_model=false dont_load_ckpt_model=true
      clara validate -m MMAR --gpus 2
    """
    configure_logging(debug)
    from clara_cli.engine.jobs import LaunchOptions, run_job
    from clara_cli.engine.session import RunRequest

    request = RunRequest(mmar_root, config_path, env_path, parse_overrides(overrides), device)
    result = run_job("validate", request, LaunchOptions(**launch), debug)
    if result is None:  # not rank 0: rank 0 reports
        return
    from clara_cli.report.tables import format_summary

    click.echo(format_summary(result.summary))
    click.echo(f"report: {result.output_dir}")
