"""`clara infer`: segment images with an MMAR's model and write one label map per image."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from clara_cli.cli.errors import configure_logging
from clara_cli.cli.options import device_option, launch_options, mmar_options
from clara_cli.cli.overrides import ClaraCommand, parse_overrides


@click.command("infer", cls=ClaraCommand)
@mmar_options("config/config_inference.json")
@click.option(
    "-i",
    "--input",
    "input_path",
    type=click.Path(exists=True, path_type=Path),
    help="An image file, a folder of images, or a datalist (.json: its datalist_key subset, "
    "paths relative to its folder). Default: the config's dataset.",
)
@click.option(
    "-o",
    "--output",
    "output_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder.  [default: MMAR_EVAL_OUTPUT_PATH]",
)
@click.option(
    "--probabilities", is_flag=True, help="Also write the soft output as <case>_prob.nii.gz."
)
@device_option
@launch_options
def command(
    mmar_root: Path,
    config_path: str,
    env_path: str,
    overrides: tuple[str, ...],
    debug: bool,
    input_path: Path | None,
    output_dir: Path | None,
    probabilities: bool,
    device: str,
    **launch: Any,
) -> None:
    """Segment images and write <case>_seg.nii.gz (uint8 labels) on each input's own grid.

    The model comes from MMAR_CKPT or MMAR_TORCHSCRIPT, whichever loader the config enables
    (dont_load_ckpt_model / dont_load_ts_model). The segmentations have the input's size,
    spacing, origin and direction, so they overlay it in 3D Slicer or ITK-SNAP. An input that
    cannot be read is reported and skipped; the exit code is then 1.

    \b
    Examples:
      clara infer -m mmars/clara_pt_spleen_ct_segmentation -i scan.nii.gz -o out
      clara infer -m MMAR -i imagesTs/ --probabilities
      clara infer -m MMAR --set dont_load_ts_model=false dont_load_ckpt_model=true
    """
    configure_logging(debug)
    from clara_cli.families import run_for_archive
    from clara_cli.launch.jobs import LaunchOptions
    from clara_cli.workflows.infer import InferOptions
    from clara_cli.workflows.session import RunRequest

    options = InferOptions(input_path, output_dir, probabilities)
    request = RunRequest(mmar_root, config_path, env_path, parse_overrides(overrides), device)
    result = run_for_archive("infer", request, options, LaunchOptions(**launch), debug)
    if result is None:  # not rank 0: rank 0 reports
        return
    done = len(result.cases) - len(result.failed)
    mean = sum(case.seconds for case in result.cases) / max(len(result.cases), 1)
    click.echo(
        f"{done} of {len(result.cases)} case(s) segmented ({mean:.1f} s per case) "
        f"-> {result.output_dir}"
    )
    if result.failed:
        lines = "\n".join(f"  {case.name}: {case.error}" for case in result.failed)
        raise click.ClickException(f"{len(result.failed)} case(s) failed:\n{lines}")
