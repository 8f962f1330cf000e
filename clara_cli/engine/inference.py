"""`clara infer`: run an MMAR's inference config over images and write one segmentation each.

The config's `model` loaders, `pre_transforms`, `inferer` and `post_transforms` are built by
the same config engine as validation (Section + Wiring, so `"device": "cuda"` falls back to
the running device). The cases are then run one by one in a plain loop rather than through a
MONAI evaluator, so that an unreadable input is reported and skipped instead of ending the
run, each case is timed, and the network runs the way that measured fastest on CPU:
`torch.inference_mode`, channels-last weights for 3D convolutions, and bf16 autocast when the
config asks for `amp` (see benchmarks/bench_infer.py).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clara_cli.engine.infer_inputs import InferenceCase, collect_cases
from clara_cli.engine.session import RunRequest, Session, open_session
from clara_cli.errors import ConfigError

log = logging.getLogger("clara")

SEG_SUFFIX = "_seg.nii.gz"
PROB_SUFFIX = "_prob.nii.gz"


@dataclass
class InferOptions:
    """What `clara infer` was asked for beyond the config.

    Attributes:
        input: an image file, a folder of images or a datalist; None reads the config's
            dataset.
        output_dir: where outputs go; None means MMAR_EVAL_OUTPUT_PATH.
        probabilities: also write the soft output (`<case>_prob.nii.gz`).
        progress: show a progress bar and one line per case (rank 0 only).
    """

    input: Path | None = None
    output_dir: Path | None = None
    probabilities: bool = False
    progress: bool = True


@dataclass
class CaseResult:
    """How one case went: its outputs and time, or why it failed."""

    name: str
    image: str
    seconds: float
    segmentation: Path | None = None
    probabilities: Path | None = None
    error: str | None = None


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


@dataclass
class Pipeline:
    """The built pieces of an inference config, ready to run one case at a time."""

    network: Any
    pre_transforms: Any
    inferer: Any
    post_transforms: Any
    device: Any


def infer(request: RunRequest, options: InferOptions | None = None) -> InferenceResult:
    """Run the inference config of `request` over the inputs; one rank's share in a job.

    Returns:
        Every case's result (gathered from all ranks). Failed cases carry `error` and do not
        stop the others.

    Raises:
        ConfigError: the config lacks pre_transforms or an inferer, or its model cannot be
            loaded.
        DataError: the inputs cannot be listed.

    Example:
        >>> request = RunRequest(Path("mmars/spleen"), "config/config_inference.json")
        >>> infer(request, InferOptions(input=Path("scan.nii.gz"), output_dir=Path("out")))
    """
    from clara_cli.engine import distributed
    from clara_cli.mmar.datalist import shard

    options = options or InferOptions()
    session = open_session(request)
    try:
        pipeline = build_pipeline(session)
        dataset = session.conf.get("dataset")
        cases = collect_cases(
            options.input,
            dataset if isinstance(dataset, dict) else None,
            session.var("DATA_ROOT"),
            str(session.mmar.config_file),
        )
        output_dir = Path(options.output_dir or session.path_var("MMAR_EVAL_OUTPUT_PATH"))
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
        results = _run_cases(pipeline, mine, output_dir, options.probabilities, show)
        if session.dist.world_size > 1:
            parts = distributed.all_gather_objects(session.dist, results)
            results = [result for part in parts for result in part]
        return InferenceResult(results, output_dir, session.dist.rank)
    finally:
        distributed.shutdown(session.dist)


def build_pipeline(session: Session) -> Pipeline:
    """Build the model, transforms and inferer of an inference config for this rank."""
    from clara_cli.engine.amp import resolve_amp
    from clara_cli.engine.model_loading import is_loader_spec, load_network
    from clara_cli.engine.wiring import Wiring
    from clara_cli.mmar import layout
    from clara_cli.mmar.resolver import Runtime, Section

    conf, dist = session.conf, session.dist
    source = str(session.mmar.config_file)
    for key in ("pre_transforms", "inferer"):
        if key not in conf:
            raise ConfigError(f"{source}: no '{key}': is this an inference config?")
    wiring = Wiring(session.variables, dist.device, rank=dist.rank, world_size=dist.world_size)
    runtime = Runtime(dist.rank, dist.world_size, str(dist.device), wiring.hooks())
    spec = {k: conf[k] for k in layout.SECTION_KEYS if k in conf}
    section = Section("infer", spec, source, runtime, conf, prefix="")
    model_spec = spec.get("model")
    if model_spec is None or is_loader_spec(model_spec):
        loaders = model_spec or [{"ckpt_path": str(session.path_var("MMAR_CKPT"))}]
        section.provide("model", load_network(loaders, session, f"{source}: model"))
    amp = resolve_amp(bool(session.var("amp", False)), dist.device)
    network = prepare_for_inference(section.get("model"), amp.dtype if amp.enabled else None)
    return Pipeline(
        network=network,
        pre_transforms=section.get("pre_transforms"),
        inferer=section.get("inferer"),
        post_transforms=section.get_optional("post_transforms"),
        device=dist.device,
    )


def prepare_for_inference(network: Any, autocast_dtype: Any = None) -> Any:
    """Eval mode, channels-last 3D weights, and autocast to `autocast_dtype` (None: fp32).

    Channels-last weights make oneDNN run 3D convolutions in its blocked layout without
    converting every window batch (measured faster for AHNet/UNet on CPU, identical fp32
    results); autocast runs them in bf16 on CPUs that have it.
    """
    import torch

    from clara_cli.engine.compute import AutocastForward

    network = network.eval()
    device = next((p.device for p in network.parameters()), torch.device("cpu"))
    if device.type == "cpu" and _has_3d_convolutions(network):
        network = network.to(memory_format=torch.channels_last_3d)
    if autocast_dtype is not None:
        network = AutocastForward(network, device.type, autocast_dtype)
    return network


def _has_3d_convolutions(network: Any) -> bool:
    return any(p.dim() == 5 for p in network.parameters())


def _run_cases(
    pipeline: Pipeline,
    cases: list[InferenceCase],
    output_dir: Path,
    probabilities: bool,
    show: bool,
) -> list[CaseResult]:
    from tqdm.auto import tqdm

    results: list[CaseResult] = []
    with tqdm(total=len(cases), desc="infer", unit="case", disable=not show, leave=False) as bar:
        for case in cases:
            result = run_case(pipeline, case, output_dir, probabilities)
            results.append(result)
            if show:
                bar.write(_describe(result))
            bar.update(1)
    return results


def run_case(
    pipeline: Pipeline, case: InferenceCase, output_dir: Path, probabilities: bool
) -> CaseResult:
    """Infer one case and write its outputs; a failure is returned, not raised."""
    import torch

    from clara_cli.engine.infer_output import read_grid, write_prediction

    start = time.perf_counter()
    result = CaseResult(case.name, case.reference, 0.0)
    try:
        grid = read_grid(case.reference)
        image = list(case.image) if isinstance(case.image, tuple) else case.image
        data = pipeline.pre_transforms({"image": image})
    except Exception as err:  # noqa: BLE001 - any unreadable input only fails its own case
        result.error = f"cannot read {case.reference}: {root_message(err)}"
    else:
        try:
            with torch.inference_mode():
                batch = data["image"].unsqueeze(0).to(pipeline.device)
                data["pred"] = pipeline.inferer(batch, pipeline.network)[0].cpu()
                if pipeline.post_transforms is not None:
                    data = pipeline.post_transforms(data)
                prob_path = output_dir / f"{case.name}{PROB_SUFFIX}" if probabilities else None
                result.segmentation, result.probabilities = write_prediction(
                    data["pred"], grid, output_dir / f"{case.name}{SEG_SUFFIX}", prob_path
                )
        except Exception as err:  # noqa: BLE001 - reported per case; the batch goes on
            log.debug("case %s failed", case.name, exc_info=True)
            result.error = f"{type(root_cause(err)).__name__}: {root_message(err)}"
    result.seconds = time.perf_counter() - start
    return result


def root_cause(err: BaseException) -> BaseException:
    """The innermost exception of a chain (MONAI wraps transform errors several times)."""
    while err.__cause__ is not None:
        err = err.__cause__
    return err


def root_message(err: BaseException) -> str:
    """The first non-empty line of the innermost exception's message."""
    cause = root_cause(err)
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    return lines[0] if lines else type(cause).__name__


def _describe(result: CaseResult) -> str:
    if result.error is not None:
        return f"{result.name}: FAILED after {result.seconds:.1f} s: {result.error}"
    extra = f" (+ {result.probabilities.name})" if result.probabilities else ""
    return f"{result.name}: {result.seconds:.1f} s -> {result.segmentation}{extra}"
