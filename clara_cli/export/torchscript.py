"""Export a network to TorchScript (MMAR_TORCHSCRIPT, ``models/model.ts``) and check it."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from clara_cli.errors import ClaraError, first_line
from clara_cli.export.metadata import METADATA_NAME, encode
from clara_cli.export.parity import (
    DEFAULT_TOLERANCE,
    ExportResult,
    check_parity,
    compare_outputs,
    eager_outputs,
    eager_reference,
)
from clara_cli.io.atomic import atomic_path

logger = logging.getLogger(__name__)


def export_torchscript(
    model: torch.nn.Module,
    input_shape: Sequence[int],
    path: str | os.PathLike[str],
    tolerance: float = DEFAULT_TOLERANCE,
    metadata: Mapping[str, Any] | None = None,
) -> ExportResult:
    """Compile ``model`` to TorchScript, save it atomically and verify the saved file.

    ``torch.jit.script`` is tried first because it keeps control flow; when the model cannot
    be scripted, ``torch.jit.trace`` on the probe input is used and the reason is logged.
    The saved file is reloaded and run next to the eager model on a seeded random input of
    ``input_shape`` (fp32, eval mode, ``torch.inference_mode``).

    Args:
        model: the network; it is moved to the CPU and put in fp32 eval mode in place.
        input_shape: ``[batch, channels, spatial...]``, normally the config's patch size.
        path: destination, e.g. MMAR_TORCHSCRIPT; replaced only when the check passes.
        tolerance: relative tolerance of the parity check (see parity.Parity).
        metadata: the preprocessing record (export.metadata), saved as the extra file
            ``clara.json``.

    Returns:
        The ExportResult with the method used and the measured parity.

    Raises:
        ClaraError: neither scripting nor tracing works, or the reloaded model fails the
            parity check (``path`` is then left untouched).

    Example:
        >>> result = export_torchscript(net, [1, 1, 96, 96, 96], "models/model.ts")
        >>> print(result.describe())
    """
    model, shape, inputs, expected = eager_reference(model, input_shape)
    compiled, method, notes = _compile(model, inputs)

    with atomic_path(path, suffix=".ts") as temp:
        try:
            extra = {METADATA_NAME: encode(metadata)} if metadata else {}
            torch.jit.save(compiled, str(temp), _extra_files=extra)
            reloaded = torch.jit.load(str(temp), map_location="cpu").eval()
            actual = eager_outputs(reloaded, inputs)
        except ClaraError:
            raise
        except Exception as err:
            raise ClaraError(
                f"TorchScript export to {path}: saving or reloading the {method}d model "
                f"failed: {type(err).__name__}: {err}"
            ) from err
        parity = compare_outputs(expected, actual, tolerance)
        check_parity(model, inputs, parity, what=f"TorchScript export to {path}")

    logger.info("TorchScript (%s) written to %s, %s", method, path, parity.describe())
    return ExportResult(
        path=Path(path),
        format="torchscript",
        method=method,
        input_shape=shape,
        parity=parity,
        notes=tuple(notes),
    )


def _compile(
    model: torch.nn.Module, inputs: torch.Tensor
) -> tuple[torch.jit.ScriptModule, str, list[str]]:
    try:
        return torch.jit.script(model), "script", []
    except Exception as script_error:
        reason = (
            f"torch.jit.script failed ({type(script_error).__name__}: {first_line(script_error)})"
        )
        logger.warning("%s; falling back to torch.jit.trace", reason)
    try:
        with torch.no_grad():
            traced = torch.jit.trace(model, inputs, check_trace=False)
    except Exception as trace_error:
        raise ClaraError(
            f"cannot export {type(model).__name__} to TorchScript: {reason}, and "
            f"torch.jit.trace failed too ({type(trace_error).__name__}: "
            f"{first_line(trace_error)})\n"
            "  check that the input shape fits the network (e.g. AHNet needs sizes divisible "
            "by 32, and by 128 in the first two spatial axes with psp_block_num=4)"
        ) from trace_error
    note = f"{reason}; traced instead: control flow is frozen for the probe input's shape"
    return traced, "trace", [note]
