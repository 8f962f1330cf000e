"""Export a network to ONNX (``models/model.onnx``) and check it with onnxruntime.

Exporter choice (torch 2.14): ``torch.onnx.export(..., dynamo=True)``, the default, needs the
``onnxscript`` package, which the ``clara-mmar[onnx]`` extra does not install. The TorchScript-based
exporter (``dynamo=False``) needs only ``onnx`` and exports the MONAI networks the project
ships (UNet, SegResNet, AHNet) and segmentation_models_pytorch's Unet, so it is used here.

Dynamic axes: the batch axis always, and the spatial axes when the model allows. This is
verified by running the exported graph on a second probe (batch 2, then doubled spatial
sizes); if a probe fails the model is re-exported with fewer dynamic axes and a note says so.
"""

from __future__ import annotations

import functools
import logging
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from clara_cli.errors import ClaraError, first_line
from clara_cli.export.metadata import METADATA_NAME, encode
from clara_cli.export.parity import (
    DEFAULT_TOLERANCE,
    ExportResult,
    check_dynamic_axes,
    check_parity,
    compare_outputs,
    eager_reference,
)
from clara_cli.io.atomic import atomic_path

logger = logging.getLogger(__name__)

INPUT_NAME = "input"
INSTALL_HINT = "pip install 'clara-mmar[onnx]'"


def export_onnx(
    model: torch.nn.Module,
    input_shape: Sequence[int],
    path: str | os.PathLike[str],
    opset: int | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    metadata: Mapping[str, Any] | None = None,
) -> ExportResult:
    """Export ``model`` to ONNX, validate the graph and compare onnxruntime against eager.

    Args:
        model: the network; it is moved to the CPU and put in fp32 eval mode in place.
        input_shape: ``[batch, channels, spatial...]``, normally the config's patch size.
        path: destination ``.onnx`` file; replaced only when every check passes.
        opset: ONNX opset version; None uses the exporter's default.
        tolerance: relative tolerance of the parity check (see parity.Parity).
        metadata: the preprocessing record (export.metadata), saved in the model's
            ``metadata_props`` under ``clara.json``.

    Returns:
        The ExportResult with the measured parity and the dynamic axes kept.

    Raises:
        ClaraError: onnx/onnxruntime are not installed, the export or the ONNX checker
            fails, or onnxruntime's output fails the parity check against eager.

    Example:
        >>> export_onnx(net, [1, 1, 96, 96, 96], "models/model.onnx").max_abs_diff
    """
    onnx, onnxruntime = _require_onnx()
    model, shape, inputs, expected = eager_reference(model, input_shape)
    notes: list[str] = []
    spatial_axes = {axis: f"spatial_{axis - 2}" for axis in range(2, len(shape))}
    candidates = [{0: "batch", **spatial_axes}, {0: "batch"}, {}]

    with atomic_path(path, suffix=".onnx") as temp:
        for position, axes in enumerate(candidates):
            last = position == len(candidates) - 1
            try:
                _export(model, inputs, temp, axes, len(expected), opset)
                onnx.checker.check_model(str(temp))
                session = _session(onnxruntime, temp)
            except Exception as err:
                if last:
                    raise ClaraError(
                        f"ONNX export to {path} failed: {type(err).__name__}: "
                        f"{first_line(err)}\n"
                        "  try another --opset, or export to TorchScript instead"
                    ) from err
                notes.append(f"export with dynamic axes {axes} failed ({first_line(err)})")
                continue
            parity = compare_outputs(expected, _run(session, inputs), tolerance)
            check_parity(model, inputs, parity, what=f"ONNX export to {path}")
            problem = check_dynamic_axes(
                model, functools.partial(_run, session), shape, axes, tolerance, notes
            )
            if problem is None:
                break
            notes.append(f"{problem}; re-exported with fewer dynamic axes")
            logger.info("ONNX: %s", notes[-1])
        if metadata:
            _add_metadata(onnx, temp, metadata)

    logger.info("ONNX written to %s, %s, dynamic axes %s", path, parity.describe(), axes)
    return ExportResult(
        path=Path(path),
        format="onnx",
        method="torchscript-exporter",
        input_shape=shape,
        parity=parity,
        dynamic_axes=dict(axes),
        notes=tuple(notes),
    )


def _require_onnx() -> tuple[Any, Any]:
    try:
        import onnx
        import onnxruntime
    except ImportError as err:
        raise ClaraError(
            f"ONNX export needs the optional packages onnx and onnxruntime ({err})\n"
            f"  install them with: {INSTALL_HINT}\n"
            "  or export to TorchScript only: clara export --format torchscript"
        ) from None
    return onnx, onnxruntime


def _export(
    model: torch.nn.Module,
    inputs: torch.Tensor,
    target: Path,
    axes: dict[int, str],
    num_outputs: int,
    opset: int | None,
) -> None:
    output_names = ["output"] if num_outputs == 1 else [f"output_{i}" for i in range(num_outputs)]
    dynamic_axes: dict[str, dict[int, str]] = {}
    if axes:
        dynamic_axes[INPUT_NAME] = dict(axes)
        for name in output_names:
            dynamic_axes[name] = {0: axes[0]}
    options: dict[str, Any] = {} if opset is None else {"opset_version": opset}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.onnx.export(
            model,
            (inputs,),
            str(target),
            dynamo=False,
            input_names=[INPUT_NAME],
            output_names=output_names,
            dynamic_axes=dynamic_axes or None,
            **options,
        )
    for warning in caught:
        logger.debug("torch.onnx.export: %s", warning.message)


def _add_metadata(onnx: Any, path: Path, metadata: Mapping[str, Any]) -> None:
    model = onnx.load(str(path))
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_NAME, encode(metadata)
    onnx.save(model, str(path))


def _session(onnxruntime: Any, path: Path) -> Any:
    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _run(session: Any, inputs: torch.Tensor) -> list[np.ndarray]:
    return list(session.run(None, {INPUT_NAME: inputs.numpy()}))
