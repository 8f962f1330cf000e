"""`clara infer`: run an MMAR's inference config over images and write one segmentation each.

The cases are run one by one in a plain loop rather than through a MONAI evaluator, so that
an unreadable input is reported and skipped instead of ending the run, and each case is
timed; each finished case is recorded in the output folder's manifest.csv at once
(:mod:`clara_cli.workflows.infer_manifest`), which `--continue` reads to skip finished cases.
The pipeline itself (networks, transforms, inferer) is built by
:mod:`clara_cli.engine.inference`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clara_cli.engine.inference import CaseResult, Pipeline, build_pipeline, run_case
from clara_cli.errors import ConfigError, DataError
from clara_cli.workflows.infer_cases import InferenceCase, collect_cases, output_overlap
from clara_cli.workflows.infer_manifest import InferManifest, finished_output, read_earlier_rows
from clara_cli.workflows.prompts import PromptSet
from clara_cli.workflows.session import RunRequest, open_session

log = logging.getLogger("clara")


@dataclass(frozen=True)
class InferOptions:
    """What `clara infer` was asked for beyond the config.

    Attributes:
        input: an image file, a folder of images or a datalist; None reads the config's
            dataset.
        output_dir: where outputs go; None means MMAR_EVAL_OUTPUT_PATH.
        probabilities: also write the soft output (`<case>_prob.nii.gz`).
        progress: show a progress bar and one line per case (rank 0 only).
        prompts: clicks for models that take them (DeepGrow: ``--fg/--bg/--clicks``); the
            built-in workflow refuses them.
        skip_done: skip the cases an earlier run into `output_dir` finished (`--continue`:
            manifest row ok, output complete and on the input's grid).
    """

    input: Path | None = None
    output_dir: Path | None = None
    probabilities: bool = False
    progress: bool = True
    prompts: PromptSet | None = None
    skip_done: bool = False


@dataclass
class InferenceResult:
    """Every case of the run (all ranks), in input order within each rank's share.

    Attributes:
        cases: the per-case results.
        output_dir: where the outputs went.
        rank: the rank that returns this (only rank 0 should report).
    """

    cases: list[CaseResult] = field(default_factory=list)
    output_dir: Path | None = None
    rank: int = 0

    @property
    def failed(self) -> list[CaseResult]:
        return [case for case in self.cases if case.error is not None]

    @property
    def skipped(self) -> list[CaseResult]:
        return [case for case in self.cases if case.skipped]


class InferWorkflow:
    """Segment images with the inference config's pipeline; outputs on each input's grid."""

    name = "infer"
    command = "infer"
    default_config = "config/config_inference.json"
    options_type = InferOptions
    #: section -> the keys it builds itself (what `mmar.early_check` follows).
    builds = {"infer": ("model", "inferer", "pre_transforms", "post_transforms")}

    def run(self, request: RunRequest, options: InferOptions) -> InferenceResult:
        """Infer this rank's share of the cases."""
        return infer(request, options)


#: Registered lazily by name in clara_cli.workflows.base.
WORKFLOW = InferWorkflow()


def infer(request: RunRequest, options: InferOptions | None = None) -> InferenceResult:
    """Run the inference config of `request` over the inputs; one rank's share in a job.

    Returns:
        Every case's result (gathered from all ranks). Failed cases carry `error` and do not
        stop the others.

    Raises:
        ConfigError: the config lacks pre_transforms or an inferer, or its model cannot be
            loaded, or clicks were given to a model that takes none.
        DataError: the inputs cannot be listed.

    Example:
        >>> request = RunRequest(Path("mmars/clara_pt_spleen_ct_segmentation"), "config/config_inference.json")
        >>> infer(request, InferOptions(input=Path("scan.nii.gz"), output_dir=Path("out")))
    """
    from clara_cli.io.datalist import shard
    from clara_cli.launch import process_group as distributed

    options = options or InferOptions()
    refuse_prompts(request, options)
    session = open_session(request)
    try:
        output_dir = Path(options.output_dir or session.path_var("MMAR_EVAL_OUTPUT_PATH"))
        overlap = output_overlap(options.input, output_dir)
        if overlap:
            raise DataError(overlap)
        if session.dist.is_main:
            from clara_cli.io.writable import require_writable_folder

            require_writable_folder(output_dir, "output folder")
        cases = session_cases(session, options.input)
        # After the inputs: a wrong -i fails before the model loads.
        pipeline = inference_pipeline(session)
        mine = shard(cases, session.dist.rank, session.dist.world_size)
        show = options.progress and session.dist.is_main
        if show:
            log.info(
                "inference: %d case(s) -> %s (%d rank(s) on %s)",
                len(cases),
                output_dir,
                session.dist.world_size,
                session.dist.device,
            )
        manifest = InferManifest(
            output_dir, _volume_classes(session), session.dist.rank, session.dist.world_size
        )
        todo, skipped = _done_cases(mine, manifest, options) if options.skip_done else (mine, [])
        if skipped and show:
            log.info("--continue: %d case(s) done by an earlier run, skipped", len(skipped))
        ran = _run_cases(pipeline, todo, output_dir, options.probabilities, show, manifest.record)
        results, rows = skipped + ran, list(manifest.rows.values())
        if session.dist.world_size > 1:
            parts = distributed.all_gather_objects(session.dist, (results, rows))
            results = [result for part, _ in parts for result in part]
            rows = [row for _, part in parts for row in part]
        if session.dist.is_main:
            order = {case.name: index for index, case in enumerate(cases)}
            rows.sort(key=lambda row: order.get(row["case"], len(order)))
            manifest.merge(rows, session.dist.world_size)
        return InferenceResult(results, output_dir, session.dist.rank)
    finally:
        distributed.shutdown(session.dist)


def refuse_prompts(request: RunRequest, options: InferOptions) -> None:
    """Clicks given to a model whose inference takes none fail before anything runs.

    Raises:
        ConfigError: `options.prompts` is set.
    """
    if options.prompts is not None:
        raise ConfigError(
            f"this MMAR's inference takes no clicks ({options.prompts.source}): "
            f"{request.mmar_root} is not a click model (DeepGrow archives set "
            "PROCESSING_TASK: annotation or CLARA_FAMILY: deepgrow)\n"
            "  drop --fg/--bg/--clicks"
        )


def session_cases(session: Any, source: Path | None) -> list[InferenceCase]:
    """The cases to infer: `source` (a file, folder or datalist), else the config's dataset.

    Raises:
        DataError: the inputs cannot be listed.
    """
    dataset = session.conf.get("dataset")
    return collect_cases(
        source,
        dataset if isinstance(dataset, dict) else None,
        session.var("DATA_ROOT"),
        str(session.mmar.config_file),
    )


def inference_pipeline(session: Any) -> Pipeline:
    """The inference config's pre-transforms, network(s), inferer and post-transforms."""
    from clara_cli.engine.amp import resolve_amp
    from clara_cli.mmar.variables import truthy
    from clara_cli.workflows.sections import evaluation_section

    section = evaluation_section(session, "infer", ("pre_transforms", "inferer"))
    amp = resolve_amp(bool(session.var("amp", False)), session.dist.device)
    dtype = amp.dtype if amp.enabled else None
    pipeline = build_pipeline(section, session.dist.device, dtype, **network_options(session))
    pipeline.labels_first = truthy(session.var("labels_first", False))
    return pipeline


def network_options(session: Any) -> dict[str, Any]:
    """The variables that tune the inference network (build_pipeline's keyword arguments):
    `windows_per_pass`, `onednn_conv3d` and `bf16_pooling` (both on unless set false)."""
    from clara_cli.mmar.variables import truthy

    return {
        "windows_per_pass": _windows_per_pass(session),
        "onednn_conv3d": truthy(session.var("onednn_conv3d", True)),
        "bf16_pooling": truthy(session.var("bf16_pooling", True)),
    }


def _windows_per_pass(session: Any) -> int:
    """The `windows_per_pass` variable; unset: CPU_WINDOWS_PER_PASS on a CPU, all on a GPU."""
    from clara_cli.engine.inference import CPU_WINDOWS_PER_PASS

    value = session.var("windows_per_pass")
    if value is None:
        return CPU_WINDOWS_PER_PASS if session.dist.device.type == "cpu" else 0
    return int(value)


def _volume_classes(session: Any) -> list[str]:
    """Names of label values 1..K for the manifest's volumes; none (one foreground volume)
    for multi-label regions painted into one map, or a config without class_names."""
    from clara_cli.mmar.variables import truthy

    names = session.var("class_names")
    if truthy(session.var("multi_label", False)) or not isinstance(names, list):
        return []
    return [str(name) for name in names]


def _done_cases(
    cases: list[InferenceCase], manifest: InferManifest, options: InferOptions
) -> tuple[list[InferenceCase], list[CaseResult]]:
    """(cases to run, results of the cases an earlier run finished)."""
    output_dir = manifest.output_dir
    earlier = read_earlier_rows(output_dir) if output_dir.is_dir() else {}
    todo: list[InferenceCase] = []
    done: list[CaseResult] = []
    for case in cases:
        row = earlier.get(case.name)
        reason = finished_output(row, case, output_dir, options.probabilities)
        if reason is None and row is not None:
            manifest.keep(row)
            seconds = float(row.get("seconds") or 0.0)
            done.append(
                CaseResult(case.name, case.reference, seconds, Path(row["output"]), skipped=True)
            )
            continue
        if row is not None:
            log.info("%s: runs again (%s)", case.name, reason)
        todo.append(case)
    return todo, done


def _run_cases(
    pipeline: Pipeline,
    cases: list[InferenceCase],
    output_dir: Path,
    probabilities: bool,
    show: bool,
    record: Any = None,
) -> list[CaseResult]:
    from tqdm.auto import tqdm

    results: list[CaseResult] = []
    from clara_cli.logs import progress_bars_enabled

    bar_shown = show and progress_bars_enabled()
    with tqdm(
        total=len(cases), desc="infer", unit="case", disable=not bar_shown, leave=False
    ) as bar:
        for case in cases:
            image = list(case.image) if isinstance(case.image, tuple) else case.image
            result = run_case(pipeline, case.name, image, case.reference, output_dir, probabilities)
            results.append(result)
            if record is not None:
                record(result)
            if show:
                bar.write(describe_case(result))
            bar.update(1)
    return results


def describe_case(result: CaseResult) -> str:
    """One line per case: where its output went, or why it failed."""
    if result.error is not None:
        return f"{result.name}: FAILED after {result.seconds:.1f} s: {result.error}"
    extra = f" (+ {result.probabilities.name})" if result.probabilities else ""
    return f"{result.name}: {result.seconds:.1f} s -> {result.segmentation}{extra}"
