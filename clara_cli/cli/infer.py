"""`clara infer`: segment images with an MMAR's model and write one label map per image."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from clara_cli.workflows.prompts import PromptSet


class PointParam(click.ParamType):
    """``X,Y,Z``: three numbers (a click)."""

    name = "X,Y,Z"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[float, ...]:
        if isinstance(value, tuple):
            return value
        from clara_cli.errors import DataError
        from clara_cli.workflows.prompts import parse_point

        try:
            return parse_point(str(value))
        except DataError:
            self.fail(f"expected X,Y,Z (three numbers, no spaces), not {value!r}.", param, ctx)


def _prompts(
    foreground: tuple[tuple[float, ...], ...],
    background: tuple[tuple[float, ...], ...],
    mm: bool,
    clicks_file: Path | None,
) -> PromptSet | None:
    from clara_cli.workflows.prompts import PointPrompts, PromptSet, load_clicks

    space = "mm" if mm else "voxel"
    if clicks_file is not None:
        if foreground or background:
            raise click.UsageError("give clicks with --fg/--bg or with --clicks, not both")
        return load_clicks(clicks_file, space)
    if background and not foreground:
        raise click.UsageError("--bg needs at least one --fg click (the structure to segment)")
    if mm and not foreground:
        raise click.UsageError("--mm applies to --fg/--bg or --clicks; none was given")
    if not foreground:
        return None
    return PromptSet(single=PointPrompts(tuple(foreground), tuple(background), space))


@click.command("infer", cls=ClaraCommand)
@mmar_options("config/config_inference.json")
@output_options
@model_choice_options
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
@click.option(
    "--continue",
    "continue_run",
    is_flag=True,
    help="Skip the cases an earlier run into the output folder finished: manifest.csv says "
    "ok and the output is complete and on the input's grid (anything else runs again).",
)
@click.option(
    "--fg",
    "foreground",
    type=PointParam(),
    multiple=True,
    help="A foreground click X,Y,Z on the --input image, for click models (DeepGrow); "
    "repeat for more. Voxel indices (as ITK-SNAP shows them) unless --mm.",
)
@click.option(
    "--bg",
    "background",
    type=PointParam(),
    multiple=True,
    help="A background click X,Y,Z (outside the structure); repeat for more.",
)
@click.option(
    "--mm",
    is_flag=True,
    help="Clicks are physical LPS millimetres (ITK's world coordinates), not voxel indices.",
)
@click.option(
    "--clicks",
    "clicks_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help='Clicks of many cases: {"case": {"fg": [[x,y,z], ...], "bg": [...]}} (cases named '
    "like the outputs).",
)
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
    input_path: Path | None,
    output_dir: Path | None,
    probabilities: bool,
    continue_run: bool,
    foreground: tuple[tuple[float, ...], ...],
    background: tuple[tuple[float, ...], ...],
    mm: bool,
    clicks_file: Path | None,
    device: str,
    **launch: Any,
) -> None:
    """Segment images and write <case>_seg.nii.gz (uint8 labels) on each input's own grid.

    The model comes from MMAR_CKPT or the export (MMAR_TORCHSCRIPT, or MMAR_PT2 when that is
    the one written), whichever loader the config enables
    (dont_load_ckpt_model / dont_load_ts_model); --model ckpt|ts|onnx|pt2 and
    --checkpoint best|final|PATH choose it by name (they set those keys; a --set that
    contradicts them is refused, exit 2). An export made by clara records the preprocessing
    it was trained with (spacing, orientation, intensity window, ROI, classes): it is used in
    place of the config's values, and each change is printed. The segmentations have the
    input's size, spacing, origin and direction, so they overlay it in 3D Slicer or ITK-SNAP.
    An input that cannot be read is reported and skipped; the exit code is then 1.

    manifest.csv in the output folder gets one row per case as soon as it is done: case,
    input, output, seconds, status (ok/failed), error, and the volume in mL of each class
    (volume_ml_<class>, counted on the output's grid, which is the input's). --continue
    skips the cases whose row says ok and whose output is complete.

    Click models (DeepGrow) segment the structure under the clicks: --fg/--bg for one image,
    --clicks FILE for many; other models refuse clicks.

    \b
    Examples:
      clara infer -m mmars/clara_pt_spleen_ct_segmentation -i scan.nii.gz -o out
      clara infer -m MMAR -i imagesTs/ --probabilities
      clara infer -m MMAR -i imagesTs/ -o out --continue
      clara infer -m MMAR -i scans/ -o out --checkpoint best
      clara infer -m MMAR -i scans/ -o out --model pt2
      clara infer -m MMAR --set dont_load_ts_model=false dont_load_ckpt_model=true
      clara infer -m mmars/clara_pt_deepgrow_3d_annotation -i scan.nii.gz --fg 120,88,31 --bg 140,90,31
      clara infer -m mmars/clara_pt_deepgrow_3d_annotation -i scans/ --clicks clicks.json
    """
    configure_logging(debug)
    if output_dir is not None:
        from clara_cli.workflows.infer_cases import output_overlap

        overlap = output_overlap(input_path, output_dir)
        if overlap:
            raise click.BadParameter(overlap, param_hint="'-o' / '--output'")
    prompts = _prompts(foreground, background, mm, clicks_file)
    from clara_cli.families import run_for_archive
    from clara_cli.launch.jobs import LaunchOptions
    from clara_cli.workflows.infer import InferOptions
    from clara_cli.workflows.session import RunRequest

    options = InferOptions(
        input_path, output_dir, probabilities, prompts=prompts, skip_done=continue_run
    )
    from clara_cli.workflows.model_choice import ModelChoice, model_overrides

    chosen = ModelChoice(checkpoint, model)
    values = model_overrides(chosen, parse_overrides(overrides), mmar_root, config_path, env_path)
    request = RunRequest(mmar_root, config_path, env_path, values, device)
    result = run_for_archive("infer", request, options, LaunchOptions(**launch), debug)
    if result is None:  # not rank 0: rank 0 reports
        return
    done = len(result.cases) - len(result.failed)
    ran = [case for case in result.cases if not case.skipped]
    mean = sum(case.seconds for case in ran) / max(len(ran), 1)
    skipped = f", {len(result.skipped)} done earlier" if result.skipped else ""
    click.echo(
        f"{done} of {len(result.cases)} case(s) segmented ({mean:.1f} s per case{skipped}) "
        f"-> {result.output_dir}"
    )
    if result.failed:
        lines = "\n".join(f"  {case.name}: {case.error}" for case in result.failed)
        raise click.ClickException(f"{len(result.failed)} case(s) failed:\n{lines}")
