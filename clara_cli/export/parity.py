"""Shared pieces of export: the result record, the probe input and the eager-vs-export check."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from clara_cli.errors import ClaraError

DEFAULT_TOLERANCE = 1e-4
PROBE_SEED = 0


@dataclass(frozen=True)
class ExportResult:
    """What an export produced and how closely it reproduces the eager model.

    Attributes:
        path: the exported file.
        format: ``"torchscript"`` or ``"onnx"``.
        method: how the graph was captured: ``"script"`` or ``"trace"`` (TorchScript),
            ``"torchscript-exporter"`` (ONNX, ``torch.onnx.export(dynamo=False)``).
        input_shape: shape of the probe input the parity check used.
        max_abs_diff: max |exported(x) - eager(x)| over all outputs on the probe input.
        tolerance: the bound ``max_abs_diff`` had to stay under.
        dynamic_axes: ONNX only: input axis index -> name of each dynamic axis.
        notes: human-readable remarks (fallbacks taken, checks skipped).
    """

    path: Path
    format: str
    method: str
    input_shape: tuple[int, ...]
    max_abs_diff: float
    tolerance: float
    dynamic_axes: dict[int, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def describe(self) -> str:
        """One line for the terminal, e.g. ``models/model.ts (torchscript via script): ...``."""
        return (
            f"{self.path} ({self.format} via {self.method}): max abs diff vs eager "
            f"{self.max_abs_diff:.3g} on input {list(self.input_shape)} "
            f"(tolerance {self.tolerance:g})"
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
    with torch.inference_mode():
        return flatten_outputs(model(inputs))


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


def max_abs_difference(expected: list[np.ndarray], actual: list[np.ndarray]) -> float:
    """Largest absolute difference between two output lists; raise if their structure differs."""
    if len(expected) != len(actual):
        raise ClaraError(
            f"exported model returns {len(actual)} outputs, the eager model {len(expected)}"
        )
    worst = 0.0
    for index, (want, got) in enumerate(zip(expected, actual, strict=True)):
        if want.shape != got.shape:
            raise ClaraError(
                f"exported model output {index} has shape {list(got.shape)}, "
                f"the eager model's {list(want.shape)}"
            )
        if want.size:
            diff = float(np.max(np.abs(want.astype(np.float64) - got.astype(np.float64))))
            worst = max(worst, diff if np.isfinite(diff) else float("inf"))
    return worst


def check_parity(
    model: torch.nn.Module,
    inputs: torch.Tensor,
    max_abs_diff: float,
    tolerance: float,
    what: str,
) -> None:
    """Raise ClaraError when the exported model strays more than ``tolerance`` from eager.

    The message says how large the eager outputs are and how far the eager model itself is
    from a float64 evaluation, so that the user can tell an export bug (diff far above that
    fp32 noise floor) from rounding in a badly scaled network (diff at the noise floor).
    """
    if max_abs_diff <= tolerance:
        return
    reference = eager_outputs(model, inputs)
    scale = max((float(np.max(np.abs(array))) for array in reference if array.size), default=0.0)
    floor = _fp32_noise_floor(model, inputs, reference)
    hint = (
        f"  eager outputs reach |y| = {scale:.3g}; the eager model itself differs from its "
        f"float64 evaluation by {floor:.3g}\n"
    )
    if floor >= tolerance / 10:
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
    raise ClaraError(
        f"{what}: exported model differs from the eager model by {max_abs_diff:.3g} "
        f"(max abs) on a seeded input of shape {list(inputs.shape)}, above the tolerance "
        f"{tolerance:g}\n{hint}  the exported file was not written"
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
