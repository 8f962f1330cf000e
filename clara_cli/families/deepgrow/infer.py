"""`clara infer` for DeepGrow: segment the structure under the user's clicks, per image.

Clicks come as voxel indices of the input (ITK order x, y, z) or LPS millimetres; they are
checked against the input's grid (a click outside it fails its case, naming the click), taken
to LPS millimetres, and handed to the inference config's pre-transforms, which place them in
the model's array through that array's affine (see ``transforms.ClicksToGuidanced``) after
every reorientation, resampling, crop and resize. The network's output lies on the grid the
guidance was placed in; it is written back on the input's own grid by the same code as every
other model's (``clara_cli.io.prediction``).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from clara_cli.errors import ConfigError, DataError, first_line, root_cause
from clara_cli.workflows.infer import InferenceResult, InferOptions, describe_case
from clara_cli.workflows.prompts import PointPrompts
from clara_cli.workflows.session import RunRequest, open_session

log = logging.getLogger("clara")

#: The keys the config's pre-transforms read the clicks from (LPS mm) and write the grid to.
FOREGROUND, BACKGROUND = "foreground", "background"
GUIDANCE_AFFINE = "guidance_affine"


class DeepgrowInferWorkflow:
    """Click inference: one mask per image, on the image's own grid."""

    name = "deepgrow_infer"
    command = "infer"
    default_config = "config/config_inference.json"
    options_type = InferOptions

    def run(self, request: RunRequest, options: InferOptions) -> InferenceResult:
        """Infer this rank's share of the cases."""
        return infer_with_clicks(request, options)


#: Named in the family's FAMILY.workflows (clara_cli/families/deepgrow/__init__.py).
WORKFLOW = DeepgrowInferWorkflow()


def infer_with_clicks(request: RunRequest, options: InferOptions) -> InferenceResult:
    """Run the inference config on each input with its clicks.

    Raises:
        DataError: no clicks, clicks for several inputs from the command line, or a clicks
            file that does not match the inputs.
        ConfigError: the config lacks pre_transforms or an inferer, or --continue was given.
    """
    from clara_cli.io.datalist import shard
    from clara_cli.launch import process_group as distributed
    from clara_cli.workflows.infer import inference_pipeline, session_cases

    if options.skip_done:
        # Each run's clicks may differ: an earlier output is no answer to this run's clicks.
        raise ConfigError(
            f"{request.mmar_root} is a click model: its inference writes no manifest, so "
            "--continue cannot tell which cases are done\n  drop --continue"
        )
    if options.prompts is None:
        raise DataError(
            f"{request.mmar_root.name} is a click model: give the clicks of the structure to "
            "segment\n  --fg X,Y,Z (repeatable) [--bg X,Y,Z] for one image, or --clicks FILE"
        )
    session = open_session(request)
    try:
        pipeline = inference_pipeline(session)
        cases = session_cases(session, options.input)
        clicks = options.prompts.for_cases([case.name for case in cases])
        output_dir = Path(options.output_dir or session.path_var("MMAR_EVAL_OUTPUT_PATH"))
        mine = shard(cases, session.dist.rank, session.dist.world_size)
        show = options.progress and session.dist.is_main
        results = []
        for case in mine:
            image = list(case.image) if isinstance(case.image, tuple) else case.image
            result = run_click_case(
                pipeline, case.name, image, case.reference, clicks[case.name], output_dir,
                options.probabilities,
            )  # fmt: skip
            results.append(result)
            if show:
                log.info("%s", describe_case(result))
        if session.dist.world_size > 1:
            parts = distributed.all_gather_objects(session.dist, results)
            results = [result for part in parts for result in part]
        return InferenceResult(results, output_dir, session.dist.rank)
    finally:
        distributed.shutdown(session.dist)


def clicks_in_mm(prompts: PointPrompts, reference: str) -> tuple[list[list[float]], ...]:
    """The clicks as LPS millimetres, each checked to lie in the image `reference`.

    Raises:
        DataError: no foreground click, or a click outside the image (named as given).
    """
    from clara_cli.io.points import index_to_physical, is_inside, physical_to_index
    from clara_cli.io.prediction import read_grid

    if not prompts.foreground:
        raise DataError(f"{prompts.source}: no foreground click (--fg): nothing to segment")
    grid = read_grid(reference)
    shape = " x ".join(str(n) for n in grid.size)
    groups: tuple[list[list[float]], list[list[float]]] = ([], [])
    for text, point in prompts.labelled():
        if prompts.space == "mm":
            index, mm = physical_to_index(grid, point).tolist(), list(point)
        else:
            index, mm = list(point), index_to_physical(grid, point).tolist()
        if not is_inside(grid, index):
            at = ", ".join(f"{v:.1f}" for v in index)
            raise DataError(
                f"click {text} lies outside {Path(reference).name} "
                f"(voxel {at}; the image has {shape} voxels, indices 0..size-1 in x, y, z)"
            )
        groups[0 if text.startswith("--fg") else 1].append(mm)
    return groups


def run_click_case(
    pipeline: Any,
    name: str,
    image: str | list[str],
    reference: str,
    prompts: PointPrompts,
    output_dir: Path,
    probabilities: bool,
) -> Any:
    """Segment one image from its clicks and write `<name>_seg.nii.gz` on its grid.

    A failure (unreadable image, a click outside it) is returned in the result, not raised.
    """
    import torch

    from clara_cli.engine.inference import PROB_SUFFIX, SEG_SUFFIX, CaseResult
    from clara_cli.io.prediction import read_grid, write_prediction

    start = time.perf_counter()
    result = CaseResult(name, reference, 0.0)
    try:
        foreground, background = clicks_in_mm(prompts, reference)
        grid = read_grid(reference)
        data = pipeline.pre_transforms(
            {"image": image, FOREGROUND: foreground, BACKGROUND: background}
        )
        if GUIDANCE_AFFINE not in data:
            raise ConfigError(
                "the inference config's pre_transforms place no clicks: add "
                "clara_cli.families.deepgrow.transforms.ClicksToGuidanced after the last "
                "spatial transform (see mmars/clara_pt_deepgrow_3d_annotation)"
            )
        with torch.inference_mode():
            batch = torch.as_tensor(data["image"]).unsqueeze(0).to(pipeline.device)
            data["pred"] = _on_grid(pipeline.predict(batch)[0].cpu(), data[GUIDANCE_AFFINE])
            if pipeline.post_transforms is not None:
                data = pipeline.post_transforms(data)
            prob_path = output_dir / f"{name}{PROB_SUFFIX}" if probabilities else None
            result.segmentation, result.probabilities = write_prediction(
                data["pred"], grid, output_dir / f"{name}{SEG_SUFFIX}", prob_path
            )
    except Exception as err:  # noqa: BLE001 - reported per case; the others go on
        log.debug("case %s failed", name, exc_info=True)
        result.error = first_line(root_cause(err))
    result.seconds = time.perf_counter() - start
    return result


def _on_grid(pred: Any, affine: Any) -> Any:
    """The network's output as a MetaTensor placed where the guidance was (its RAS affine)."""
    import torch
    from monai.data import MetaTensor

    return MetaTensor(pred.float(), affine=torch.as_tensor(affine, dtype=torch.float64))
