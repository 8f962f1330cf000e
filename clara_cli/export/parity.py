"""Shared pieces of export: the result record, the probe input and the eager-vs-export check."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from clara_cli.errors import ClaraError, first_line

#: Relative bound: max |exported - eager| <= DEFAULT_TOLERANCE x max(max |eager|, 1).
DEFAULT_TOLERANCE = 1e-4
#: Share of voxels whose segmentation label (argmax over channels) must agree.
MIN_LABEL_AGREEMENT = 0.9999
PROBE_SEED = 0
#: Spatial-axis probes larger than this many voxels are skipped (memory and time on CPU).
MAX_PROBE_VOXELS = 2**21


@dataclass(frozen=True)
class Parity:
    """How closely an exported model reproduces the eager model on one input.

    The bound is relative to the eager output's scale, because fp32 rounding grows with it:
    an untrained AHNet's logits reach ~1e5, where an absolute 1e-4 is below one fp32 ulp. The
    scale is floored at 1 so that near-zero outputs are held to the absolute tolerance. The
    segmentation the outputs imply must agree too: argmax over the channel axis, or
    ``y > 0`` (sigmoid > 0.5) for single-channel outputs.

    Attributes:
        max_abs_diff: max |exported - eager| over all outputs.
        scale: max |eager| over all outputs.
        label_agreement: share of voxels with the same label; None when no output has a
            channel axis and spatial axes (``[batch, channels, spatial...]``).
        tolerance: the relative tolerance applied.
    """

    max_abs_diff: float
    scale: float
    label_agreement: float | None
    tolerance: float

    @property
    def bound(self) -> float:
        """The largest accepted max abs difference: tolerance x max(scale, 1)."""
        return self.tolerance * max(self.scale, 1.0)

    @property
    def passed(self) -> bool:
        labels_ok = self.label_agreement is None or self.label_agreement >= MIN_LABEL_AGREEMENT
        return self.max_abs_diff <= self.bound and labels_ok

    def describe(self) -> str:
        """E.g. ``max abs diff vs eager 3.1e-05 (bound 0.0001 = 0.0001 x max(|eager| 0.8, 1)),
        labels agree on 100 % of voxels``."""
        text = (
            f"max abs diff vs eager {self.max_abs_diff:.3g} (bound {self.bound:.3g} = "
            f"{self.tolerance:g} x max(|eager| {self.scale:.3g}, 1))"
        )
        if self.label_agreement is not None:
            text += f", labels agree on {_percent(self.label_agreement)} of voxels"
        return text


@dataclass(frozen=True)
class ExportResult:
    """What an export produced and how closely it reproduces the eager model.

    Attributes:
        path: the exported file.
        format: ``"pt2"``, ``"torchscript"`` or ``"onnx"``.
        method: how the graph was captured: ``"torch.export"`` (pt2), ``"script"`` or
            ``"trace"`` (TorchScript), ``"torchscript-exporter"`` (ONNX,
            ``torch.onnx.export(dynamo=False)``).
        input_shape: shape of the probe input the parity check used.
        parity: the comparison with the eager model on that input.
        dynamic_axes: input axis index -> name of each dynamic axis (ONNX and pt2).
        notes: human-readable remarks (fallbacks taken, checks skipped).
    """

    path: Path
    format: str
    method: str
    input_shape: tuple[int, ...]
    parity: Parity
    dynamic_axes: dict[int, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def max_abs_diff(self) -> float:
        return self.parity.max_abs_diff

    @property
    def tolerance(self) -> float:
        """The absolute bound ``max_abs_diff`` had to stay under."""
        return self.parity.bound

    def describe(self) -> str:
        """One line for the terminal, e.g. ``models/model.ts (torchscript via script): ...``."""
        return (
            f"{self.path} ({self.format} via {self.method}): {self.parity.describe()} "
            f"on input {list(self.input_shape)}"
        )


def parse_input_shape(input_shape: Sequence[int]) -> tuple[int, ...]:
    """Return ``input_shape`` as a tuple of positive ints (batch, channels, spatial...) or raise."""
    shape = tuple(int(size) for size in input_shape)
    if len(shape) not in (4, 5) or any(size < 1 for size in shape):
        raise ClaraError(
            "export input shape must be [batch, channels, spatial...] with 2 or 3 positive "
            f"spatial sizes, not {list(input_shape)}\n"
            "  e.g. --input-shape 1 1 96 96 96 (the config's patch size)"
        )
    return shape


def probe_input(input_shape: Sequence[int], seed: int = PROBE_SEED) -> torch.Tensor:
    """A seeded standard-normal fp32 tensor, identical on every run and machine."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(tuple(input_shape), generator=generator, dtype=torch.float32)


def prepare_model(model: torch.nn.Module) -> torch.nn.Module:
    """Put ``model`` in fp32 eval mode on the CPU (in place) and return it.

    Export happens on the CPU so that the saved graph has no device baked in.
    """
    return model.float().cpu().eval()


def eager_outputs(model: torch.nn.Module, inputs: torch.Tensor) -> list[np.ndarray]:
    """The outputs of ``model`` (eager, or a saved and reloaded export) on ``inputs``."""
    with torch.inference_mode():
        return flatten_outputs(model(inputs))


def eager_reference(
    model: torch.nn.Module, input_shape: Sequence[int]
) -> tuple[torch.nn.Module, tuple[int, ...], torch.Tensor, list[np.ndarray]]:
    """What every exporter checks its saved file against: the model prepared for export
    (see prepare_model), the checked shape, the probe input and the eager outputs on it."""
    shape = parse_input_shape(input_shape)
    model = prepare_model(model)
    inputs = probe_input(shape)
    return model, shape, inputs, eager_outputs(model, inputs)


def flatten_outputs(output: Any) -> list[np.ndarray]:
    """Tensors of a model output (tensor, tuple/list or dict of tensors) as numpy arrays."""
    if isinstance(output, torch.Tensor):
        return [output.detach().cpu().float().numpy()]
    if isinstance(output, np.ndarray):
        return [output.astype(np.float32, copy=False)]
    if isinstance(output, dict):
        return [array for key in sorted(output) for array in flatten_outputs(output[key])]
    if isinstance(output, (list, tuple)):
        return [array for item in output for array in flatten_outputs(item)]
    raise ClaraError(f"cannot compare model output of type {type(output).__name__}")


def compare_outputs(
    expected: list[np.ndarray], actual: list[np.ndarray], tolerance: float = DEFAULT_TOLERANCE
) -> Parity:
    """The Parity of ``actual`` against the eager outputs ``expected``.

    Raises:
        ClaraError: the two output lists differ in number or shape.
    """
    diff = max_abs_difference(expected, actual)
    scale = max((_max_abs(want) for want in expected), default=0.0)
    return Parity(diff, scale, _label_agreement(expected, actual), tolerance)


def max_abs_difference(expected: list[np.ndarray], actual: list[np.ndarray]) -> float:
    """Largest absolute difference between two output lists; raise if their structure differs."""
    _check_structure(expected, actual)
    return max(
        (
            _max_abs(want.astype(np.float64) - got.astype(np.float64))
            for want, got in zip(expected, actual, strict=True)
        ),
        default=0.0,
    )


def _check_structure(expected: list[np.ndarray], actual: list[np.ndarray]) -> None:
    if len(expected) != len(actual):
        raise ClaraError(
            f"exported model returns {len(actual)} outputs, the eager model {len(expected)}"
        )
    for index, (want, got) in enumerate(zip(expected, actual, strict=True)):
        if want.shape != got.shape:
            raise ClaraError(
                f"exported model output {index} has shape {list(got.shape)}, "
                f"the eager model's {list(want.shape)}"
            )


def _max_abs(array: np.ndarray) -> float:
    """max |array|; inf when it holds NaN or inf (so a broken output never passes)."""
    if not array.size:
        return 0.0
    value = float(np.max(np.abs(array)))
    return value if np.isfinite(value) else float("inf")


def _label_agreement(expected: list[np.ndarray], actual: list[np.ndarray]) -> float | None:
    agree = total = 0
    for want, got in zip(expected, actual, strict=True):
        if want.ndim < 3 or not want.size:
            continue  # not [batch, channels, spatial...]: no segmentation to compare
        if want.shape[1] == 1:
            same = (want[:, 0] > 0) == (got[:, 0] > 0)
        else:
            same = np.argmax(want, axis=1) == np.argmax(got, axis=1)
        agree += int(np.count_nonzero(same))
        total += same.size
    return agree / total if total else None


def _percent(share: float) -> str:
    """Truncated, not rounded: 99.995 % never prints as 100 %."""
    text = f"{math.floor(round(share * 1e6, 6)) / 1e4:.4f}".rstrip("0").rstrip(".")
    return f"{text} %"


def check_parity(model: torch.nn.Module, inputs: torch.Tensor, parity: Parity, what: str) -> None:
    """Raise ClaraError when the exported model fails the Parity bound or the label agreement.

    The message gives both numbers and how far the eager model itself is from a float64
    evaluation, so that the user can tell an export bug (difference far above that fp32 noise
    floor) from rounding in a badly scaled network (difference at the noise floor).
    """
    if parity.passed:
        return
    reference = eager_outputs(model, inputs)
    floor = _fp32_noise_floor(model, inputs, reference)
    hint = f"  the eager model itself differs from its float64 evaluation by {floor:.3g}\n"
    if parity.max_abs_diff <= parity.bound:
        hint += (
            "  the outputs are within the bound but flip the label of some voxels: on a "
            "random probe, near-tied channels; try another --input-shape or a trained "
            "checkpoint\n"
        )
    elif floor >= parity.bound / 10:
        hint += (
            "  a difference this close to the fp32 noise floor is rounding, not an export "
            "bug: raise the tolerance if that is acceptable for this network\n"
        )
    else:
        hint += (
            "  the network is numerically well-behaved in eager mode, so the export changed "
            "the computation (randomness in forward(), data-dependent control flow captured "
            "by tracing, or an operator the exporter translates differently)\n"
        )
    required = (
        f"needs <= {parity.bound:.3g} and labels agreeing on >= {_percent(MIN_LABEL_AGREEMENT)}"
    )
    raise ClaraError(
        f"{what}: exported model differs from the eager model on a seeded input of shape "
        f"{list(inputs.shape)}: {parity.describe()}; {required}\n"
        f"{hint}  the exported file was not written"
    )


def _fp32_noise_floor(
    model: torch.nn.Module, inputs: torch.Tensor, reference: list[np.ndarray]
) -> float:
    try:
        double = copy.deepcopy(model).double()
        with torch.inference_mode():
            exact = flatten_outputs(double(inputs.double()))
        return max_abs_difference(reference, exact)
    except Exception:  # a diagnostic only: some models refuse float64
        return float("nan")


def check_dynamic_axes(
    model: torch.nn.Module,
    run: Callable[[torch.Tensor], list[np.ndarray]],
    shape: tuple[int, ...],
    axes: dict[int, str],
    tolerance: float,
    notes: list[str],
    require_spatial_probe: bool = False,
) -> str | None:
    """Run an export at other sizes of its dynamic axes; return what failed, or None.

    Probes: batch 2 when axis 0 is dynamic, then batch 1 at doubled spatial sizes when the
    spatial axes are (doubling keeps every size divisible by what the network's strides need);
    with ``require_spatial_probe``, at halved sizes when the doubled probe would exceed
    MAX_PROBE_VOXELS, and a spatial axis that cannot be probed is a failure.

    Args:
        model: the eager model (the reference).
        run: runs the export on an input and returns its outputs as numpy arrays.
        shape: the probe shape of the parity check.
        axes: the dynamic axes, index -> name.
        tolerance: relative tolerance (see Parity).
        notes: a note is appended when the spatial probe is skipped for its size.
        require_spatial_probe: see above (clara export's default pt2 export).
    """
    probes: list[tuple[str, tuple[int, ...]]] = []
    if 0 in axes:
        probes.append(("batch", (2, *shape[1:])))
    if any(axis >= 2 for axis in axes):
        spatial = [axis for axis in axes if axis >= 2]
        resized = [tuple(2 * size if axis in spatial else size for axis, size in enumerate(shape))]
        if require_spatial_probe:  # a smaller probe rather than none
            resized.append(
                tuple(size // 2 if axis in spatial else size for axis, size in enumerate(shape))
            )
        fitting = [
            (1, *sizes[1:])
            for sizes in resized
            if min(sizes[2:]) >= 1 and int(np.prod(sizes[1:])) <= MAX_PROBE_VOXELS
        ]
        if fitting:
            probes.append(("spatial", fitting[0]))
        else:
            skipped = (
                f"the spatial probes {[list(sizes) for sizes in resized]} exceed "
                f"{MAX_PROBE_VOXELS} voxels"
            )
            if require_spatial_probe:
                return f"spatial axes not verified: {skipped}"
            notes.append(f"spatial axes declared dynamic but not verified: {skipped}")
    for kind, probe_shape in probes:
        inputs = probe_input(probe_shape, seed=1)
        try:
            expected = eager_outputs(model, inputs)
        except Exception:
            # The eager model itself rejects this size, so it cannot be dynamic there.
            return f"the model does not accept {kind} size {list(probe_shape)}"
        try:
            parity = compare_outputs(expected, run(inputs), tolerance)
        except Exception as err:
            return (
                f"the exported graph fails on {kind} size {list(probe_shape)} ({first_line(err)})"
            )
        if not parity.passed:
            return f"the exported graph at {kind} size {list(probe_shape)}: {parity.describe()}"
    return None
