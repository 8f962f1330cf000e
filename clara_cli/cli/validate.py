"""`clara validate`: run an MMAR's validation workflow and write its report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from clara_cli.cli.errors import configure_logging
from clara_cli.cli.options import (
    device_option,
    launch_options,
    mmar_options,
    model_choice_options,
    output_options,
)
from clara_cli.cli.overrides import ClaraCommand, parse_overrides


@click.command("validate", cls=ClaraCommand)
@mmar_options("config/config_validation.json")
@output_options
@model_choice_options
@device_option
@launch_options
def command(
    mmar_root: Path,
    config_path: str,
    env_path: str,
    overrides: tuple[str, ...],
    debug: bool,
    checkpoint: str | None,
    model: str | None,
    device: str,
    **launch: Any,
) -> None:
    """Score the MMAR's model on the validation list (config/config_validation.json).

    The model comes from the export (MMAR_TORCHSCRIPT, or MMAR_PT2 when that is the one
    written) or MMAR_CKPT, whichever loader the config enables (dont_load_ts_model /
    dont_load_ckpt_model); --model ckpt|ts|onnx|pt2 and --checkpoint best|final|PATH choose
    it by name (they set those keys; a --set that contradicts them is refused, exit 2).

    Writes under MMAR_EVAL_OUTPUT_PATH: metrics_per_case.csv (per case: image and label
    files, Dice and HD95 per class, label and predicted volume in mL per class on the grid
    the metrics are computed on), metrics_summary.json, dice_per_case.png,
    overlays/<case>.png and report.html (all of it on one self-contained page); prints the
    summary. With --gpus N each process scores its own share of the cases and the scores
    are gathered over the whole list.

    An earlier validation's (or inference's) outputs in that folder are never replaced: they
    are first moved, whole, to previous-<its start time>/ inside it. An exported model that
    records its preprocessing (clara export) brings its own voxel spacing, orientation,
    intensity window and ROI: they replace the config's, with one warning per change.

    \b
    Examples:
      clara validate -m mmars/clara_pt_spleen_ct_segmentation
      clara validate -m MMAR --checkpoint final
      clara validate -m MMAR --model onnx
      clara validate -m MMAR --set dont_load_ts_model=false dont_load_ckpt_model=true
      clara validate -m MMAR --gpus 2
    """
    configure_logging(debug)
    from clara_cli.families import run_for_archive
    from clara_cli.launch.jobs import LaunchOptions
    from clara_cli.workflows.model_choice import ModelChoice, model_overrides
    from clara_cli.workflows.session import RunRequest

    chosen = ModelChoice(checkpoint, model)
    values = model_overrides(chosen, parse_overrides(overrides), mmar_root, config_path, env_path)
    request = RunRequest(mmar_root, config_path, env_path, values, device)
    result = run_for_archive("validate", request, None, LaunchOptions(**launch), debug)
    if result is None:  # not rank 0: rank 0 reports
        return
    from clara_cli.report.tables import format_summary

    # A family's own validation (DeepGrow's Dice per click) says how its result reads.
    describe = getattr(result, "describe", None)
    click.echo(describe() if callable(describe) else format_summary(result.summary))
    click.echo(f"report: {result.output_dir}")
