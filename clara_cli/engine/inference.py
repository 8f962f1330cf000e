"""The inference pipeline of an MMAR: its network(s), transforms and inferer, run on one case.

Built by the same config engine as validation (Section + wiring rules, so `"device": "cuda"`
falls back to the running device). The network runs the way that measured fastest on CPU:
`torch.inference_mode`, channels-last weights for 3D convolutions, and bf16 autocast when the
config asks for `amp` (see benchmarks/bench_infer.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clara_cli.errors import first_line, root_cause

log = logging.getLogger("clara")

#: Windows per forward pass on a CPU when the config does not say (`windows_per_pass`): the
#: spleen MMAR's AHNet on 4 windows of 96^3 peaked at 3.6 GB, in passes of 2 at 2.2 GB, no
#: slower (benchmarks/bench_infer.py --windows-per-pass).
CPU_WINDOWS_PER_PASS = 2

SEG_SUFFIX = "_seg.nii.gz"
PROB_SUFFIX = "_prob.nii.gz"


@dataclass
class CaseResult:
    """How one case went: its outputs and time, or why it failed (`skipped`: done by an
    earlier run, `clara infer --continue`; `seconds` is that run's). `stages` splits the
    seconds: `read` (header and pre-transforms), `predict` (inferer and networks), `post`
    (post-transforms) and `write` (onto the input grid, and to disk)."""

    name: str
    image: str
    seconds: float
    segmentation: Path | None = None
    probabilities: Path | None = None
    error: str | None = None
    skipped: bool = False
    stages: dict[str, float] = field(default_factory=dict)


@dataclass
class Member:
    """One network of a pipeline and how it is run over a case.

    Attributes:
        network: the network, ready for inference (see :func:`prepare_for_inference`).
        inferer: a MONAI inferer (`SlidingWindowInferer`, `SimpleInferer`, or a
            `SliceInferer` that applies a 2D network along one axis of a 3D volume).
        weight: its share in a weighted combination (the default combiner ignores it
            unless the weights differ).
    """

    network: Any
    inferer: Any
    weight: float = 1.0


@dataclass
class Pipeline:
    """The built pieces of an inference config, ready to run one case at a time.

    One network is run as is (its raw output goes to the post-transforms). Several networks
    (an ensemble, or one 2D model per view axis) are each run with their own inferer and
    their outputs merged by `combine` (default: :func:`mean_of_probabilities`), so the
    post-transforms then see probabilities, not logits.
    """

    members: list[Member]
    pre_transforms: Any
    post_transforms: Any
    device: Any
    combine: Callable[[list[Any], list[float]], Any] | None = None
    #: Labels at the model's resolution, resampled by nearest neighbour (see write_prediction).
    labels_first: bool = False

    @property
    def network(self) -> Any:
        """The first network (the only one in a single-network pipeline)."""
        return self.members[0].network

    def predict(self, batch: Any) -> Any:
        """The pipeline's output for a batch: one network's, or the combination of all."""
        outputs = [member.inferer(batch, member.network) for member in self.members]
        if len(outputs) == 1:
            return outputs[0]
        combine = self.combine or mean_of_probabilities
        return combine(outputs, [member.weight for member in self.members])


def mean_of_probabilities(outputs: list[Any], weights: list[float] | None = None) -> Any:
    """Average the networks' probabilities (softmax over channels, sigmoid for one channel).

    Averaging probabilities, not logits, keeps one over-confident member from dominating; it
    is what ensembles and multi-view fusion in the field report.
    """
    import torch

    weights = weights or [1.0] * len(outputs)
    if len(weights) != len(outputs):
        raise ValueError(f"{len(outputs)} outputs but {len(weights)} weights")
    shapes = {tuple(o.shape) for o in outputs}
    if len(shapes) != 1:
        raise ValueError(f"the networks' outputs differ in shape: {sorted(shapes)}")
    total = float(sum(weights))
    merged = None
    for output, weight in zip(outputs, weights, strict=True):
        logits = output.float()
        probs = torch.sigmoid(logits) if logits.shape[1] == 1 else torch.softmax(logits, dim=1)
        part = probs * (weight / total)
        merged = part if merged is None else merged + part
    return merged


def slicewise_inferer(axis: int, sw_batch_size: int = 8, roi_size: Any = None) -> Any:
    """A MONAI SliceInferer that runs a 2D network on every slice along `axis` of a 3D volume.

    Args:
        axis: spatial axis of the (C, X, Y, Z) volume the slices are taken along (0, 1, 2).
        sw_batch_size: slices per forward pass.
        roi_size: 2D window inside a slice; None covers the whole slice.
    """
    from monai.inferers import SliceInferer

    if axis not in (0, 1, 2):
        raise ValueError(f"slice axis must be 0, 1 or 2, not {axis}")
    return SliceInferer(
        roi_size=tuple(roi_size) if roi_size is not None else (-1, -1),
        sw_batch_size=sw_batch_size,
        spatial_dim=axis,
        progress=False,
    )


def build_pipeline(
    section: Any,
    device: Any,
    autocast_dtype: Any = None,
    extra_members: list[Member] | None = None,
    windows_per_pass: int = 0,
    onednn_conv3d: bool = True,
    bf16_pooling: bool = True,
) -> Pipeline:
    """The pipeline of a built inference section (its `model` provided or built).

    Args:
        section: the config section (model, pre_transforms, inferer, post_transforms).
        device: this rank's device.
        autocast_dtype: bf16 autocast for the networks on CPUs that have it; None: fp32.
        extra_members: further networks to run and combine with the config's.
        windows_per_pass: at most this many windows per forward pass (see
            :class:`WindowPasses`); 0 runs the inferer's batches as they come.
        onednn_conv3d: on a CPU, batch-1 fp32 3D convolutions run through oneDNN (see
            engine/onednn_conv.py).
        bf16_pooling: under CPU autocast, 3D max pooling keeps bf16 activations in bf16
            (see engine/bf16_pooling.py).
    """
    # The case writer's image library, imported with the pipeline rather than in the first
    # case (0.1 s, which the first case's reported seconds would otherwise carry).
    import SimpleITK  # noqa: F401

    import clara_cli.io.prediction  # noqa: F401

    network = prepare_for_inference(
        section.get("model"), autocast_dtype, windows_per_pass, onednn_conv3d, bf16_pooling
    )
    members = [Member(network, section.get("inferer"))] + list(extra_members or [])
    return Pipeline(
        members=members,
        pre_transforms=section.get("pre_transforms"),
        post_transforms=section.get_optional("post_transforms"),
        device=device,
    )


def prepare_for_inference(
    network: Any,
    autocast_dtype: Any = None,
    windows_per_pass: int = 0,
    onednn_conv3d: bool = True,
    bf16_pooling: bool = True,
) -> Any:
    """Eval mode, channels-last 3D weights, autocast to `autocast_dtype` (None: fp32), at most
    `windows_per_pass` windows per forward pass (0: as the inferer batches them), and on a
    CPU batch-1 3D convolutions through oneDNN unless `onednn_conv3d` is false, and 3D max
    pooling in bf16 under autocast unless `bf16_pooling` is false (engine/bf16_pooling.py).

    Channels-last weights make oneDNN run 3D convolutions in its blocked layout without
    converting every window batch (measured faster for AHNet/UNet on CPU, identical fp32
    results); autocast runs them in bf16 on CPUs that have it.
    """
    import torch

    from clara_cli.engine.bf16_pooling import keep_pooling_in_bf16
    from clara_cli.engine.onednn_conv import route_batch1_conv3d
    from clara_cli.engine.precision import AutocastForward
    from clara_cli.engine.window_passes import WindowPasses

    network = network.eval()
    device = next((p.device for p in network.parameters()), torch.device("cpu"))
    if device.type == "cpu" and _has_3d_convolutions(network):
        network = network.to(memory_format=torch.channels_last_3d)
        if onednn_conv3d and isinstance(network, torch.nn.Module):
            route_batch1_conv3d(network)
    if autocast_dtype is not None:
        if bf16_pooling and device.type == "cpu" and isinstance(network, torch.nn.Module):
            keep_pooling_in_bf16(network)
        network = AutocastForward(network, device.type, autocast_dtype)
    if windows_per_pass > 0:
        network = WindowPasses(network, windows_per_pass)
    return network


def _has_3d_convolutions(network: Any) -> bool:
    return any(p.dim() == 5 for p in network.parameters())


def run_case(
    pipeline: Pipeline,
    name: str,
    image: str | list[str],
    reference: str,
    output_dir: Path,
    probabilities: bool,
) -> CaseResult:
    """Infer one case and write its outputs on `reference`'s grid; a failure is returned.

    Args:
        pipeline: the built pipeline.
        name: the case name (outputs are `<name>_seg.nii.gz`, `<name>_prob.nii.gz`).
        image: the input file, or one file per channel.
        reference: the file whose grid the outputs take.
        output_dir: where the outputs go.
        probabilities: also write the soft output.
    """
    import torch

    from clara_cli.io.prediction import read_grid, write_prediction

    start = time.perf_counter()
    result = CaseResult(name, reference, 0.0)
    stages = _StageClock(result.stages)
    try:
        grid = read_grid(reference)
        data = pipeline.pre_transforms({"image": image})
        stages.done("read")
    except Exception as err:  # noqa: BLE001 - any unreadable input only fails its own case
        result.error = f"cannot read {reference}: {first_line(root_cause(err))}"
    else:
        try:
            with torch.inference_mode():
                batch = data["image"].unsqueeze(0).to(pipeline.device)
                data["pred"] = pipeline.predict(batch)[0].cpu()
                stages.done("predict")
                if pipeline.post_transforms is not None:
                    data = pipeline.post_transforms(data)
                stages.done("post")
                prob_path = output_dir / f"{name}{PROB_SUFFIX}" if probabilities else None
                result.segmentation, result.probabilities = write_prediction(
                    data["pred"],
                    grid,
                    output_dir / f"{name}{SEG_SUFFIX}",
                    prob_path,
                    labels_first=pipeline.labels_first,
                )
                stages.done("write")
        except Exception as err:  # noqa: BLE001 - reported per case; the batch goes on
            log.debug("case %s failed", name, exc_info=True)
            result.error = f"{type(root_cause(err)).__name__}: {first_line(root_cause(err))}"
    result.seconds = time.perf_counter() - start
    if result.error is None:
        log.debug(
            "case %s: %s", name, ", ".join(f"{k} {v:.2f} s" for k, v in result.stages.items())
        )
    return result


class _StageClock:
    """Seconds since the previous stage ended, recorded under each stage's name."""

    def __init__(self, into: dict[str, float]) -> None:
        self.into = into
        self.last = time.perf_counter()

    def done(self, stage: str) -> None:
        now = time.perf_counter()
        self.into[stage] = now - self.last
        self.last = now
