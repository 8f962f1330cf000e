"""Export a network with ``torch.export`` to a ``.pt2`` file (MMAR_PT2) and load it back.

TorchScript is deprecated from PyTorch 2.9 on; ``torch.export`` programs (``.pt2``) are what
MONAI bundles move to. The batch and spatial axes are exported as ``Dim.AUTO``: the exporter
keeps an axis dynamic when the network allows any size, and specialises it (or records the
constraint, e.g. "divisible by 4") otherwise. The axes that stayed dynamic are read back from
the program and checked like ONNX's: the saved file is run at batch 2 and at doubled spatial
sizes next to the eager model. A failing probe re-exports with fewer dynamic axes.

A network that gives TorchScript a smaller module to compile through
``__prepare_scriptable__`` (e.g. BraTS's SegResNetVAE without its training-only VAE branch)
gets the same module exported here; the parity check still runs against the full network.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from clara_cli.errors import ClaraError, ConfigError, first_line
from clara_cli.export.metadata import METADATA_NAME, encode
from clara_cli.export.parity import (
    DEFAULT_TOLERANCE,
    ExportResult,
    check_dynamic_axes,
    check_parity,
    compare_outputs,
    eager_outputs,
    eager_reference,
    probe_input,
)
from clara_cli.io.atomic import atomic_path

logger = logging.getLogger(__name__)


def export_pt2(
    model: torch.nn.Module,
    input_shape: Sequence[int],
    path: str | os.PathLike[str],
    tolerance: float = DEFAULT_TOLERANCE,
    require_dynamic_spatial: bool = False,
    metadata: Mapping[str, Any] | None = None,
) -> ExportResult:
    """Export ``model`` with ``torch.export``, save it atomically and verify the saved file.

    Args:
        model: the network; it is moved to the CPU and put in fp32 eval mode in place.
        input_shape: ``[batch, channels, spatial...]``, normally the config's patch size.
        path: destination ``.pt2`` file; replaced only when every check passes.
        tolerance: relative tolerance of the parity check (see parity.Parity).
        require_dynamic_spatial: fail, instead of fixing the spatial size, when the program
            does not run at other spatial sizes (`clara export`'s default: sliding windows of
            another roi_size than the patch would fail at inference).
        metadata: the preprocessing record (export.metadata), saved as the extra file
            ``clara.json``.

    Returns:
        The ExportResult with the measured parity and the axes that stayed dynamic.

    Raises:
        ClaraError: ``torch.export`` cannot capture the network (data-dependent control flow,
            unsupported Python), the reloaded program fails the parity check, or (with
            ``require_dynamic_spatial``) its spatial size is fixed; ``path`` is then left
            untouched.

    Example:
        >>> export_pt2(net, [1, 1, 96, 96, 96], "models/model.pt2").dynamic_axes
        {0: 'batch', 2: 'spatial_0', 3: 'spatial_1', 4: 'spatial_2'}
    """
    model, shape, inputs, expected = eager_reference(model, input_shape)
    spatial = tuple(range(2, len(shape)))
    notes: list[str] = []
    exportable = _inference_module(model)
    candidates = [(0, *spatial)] if require_dynamic_spatial else [(0, *spatial), (0,), ()]
    with atomic_path(path, suffix=".pt2") as temp:
        for dynamic in candidates:
            try:
                program = _export(exportable, shape, dynamic, path)
            except ClaraError as err:
                if dynamic == candidates[-1]:
                    raise
                notes.append(f"export with dynamic axes {list(dynamic)} failed ({first_line(err)})")
                continue
            axes = _dynamic_axes(program)
            try:
                extra = {METADATA_NAME: encode(metadata)} if metadata else None
                torch.export.save(program, str(temp), extra_files=extra)
                loaded = load_pt2(temp)
                actual = eager_outputs(loaded, inputs)
            except Exception as err:
                raise ClaraError(
                    f"pt2 export to {path}: saving or running the exported program failed: "
                    f"{type(err).__name__}: {first_line(err)}"
                ) from err
            parity = compare_outputs(expected, actual, tolerance)
            check_parity(model, inputs, parity, what=f"pt2 export to {path}")
            problem = check_dynamic_axes(
                model,
                functools.partial(eager_outputs, loaded),
                shape,
                axes,
                tolerance,
                notes,
                require_spatial_probe=require_dynamic_spatial,
            )
            if problem is None and require_dynamic_spatial and not set(spatial) <= set(axes):
                problem = f"torch.export fixed the spatial axes {sorted(set(spatial) - set(axes))}"
            if problem is None:
                break
            if require_dynamic_spatial:
                raise ClaraError(
                    f"pt2 export to {path}: the program does not keep the spatial size dynamic "
                    f"({problem}); sliding windows of other sizes would fail"
                )
            notes.append(f"{problem}; re-exported with fewer dynamic axes")
            logger.info("pt2: %s", notes[-1])
    logger.info("pt2 written to %s, %s, dynamic axes %s", path, parity.describe(), axes)
    return ExportResult(
        path=Path(path),
        format="pt2",
        method="torch.export",
        input_shape=shape,
        parity=parity,
        dynamic_axes=axes,
        notes=tuple(notes),
    )


class ExportedModule(torch.nn.Module):
    """A loaded ``.pt2`` program as an ordinary inference module.

    The program's module refuses ``eval()``/``train()``; engines (MONAI's evaluator) call
    ``eval()`` on every iteration. The graph was captured in eval mode, so ``eval()`` is a
    no-op here and ``train()`` is refused with a clear error.
    """

    def __init__(self, program_module: torch.nn.Module, path: Path) -> None:
        super().__init__()
        self.program = program_module
        self.path = path
        self.training = False

    def forward(self, inputs: torch.Tensor) -> Any:
        return self.program(inputs)

    def train(self, mode: bool = True) -> ExportedModule:
        if mode:
            raise ClaraError(
                f"{self.path} is a torch.export program for inference only: train from the "
                "checkpoint (MMAR_CKPT) instead"
            )
        return self


def load_pt2(path: str | os.PathLike[str], device: Any = "cpu") -> ExportedModule:
    """The program saved at ``path`` (by export_pt2) as a module on ``device``.

    Raises:
        ConfigError: the file does not exist or is not a ``torch.export`` program.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"pt2 model not found: {path}\n"
            "  export one with `clara export -m MMAR --format pt2`, or validate the checkpoint "
            "with --set dont_load_ts_model=true dont_load_ckpt_model=false"
        )
    try:
        program = torch.export.load(str(path))
    except Exception as err:
        raise ConfigError(
            f"{path} is not a torch.export program ({type(err).__name__}: {first_line(err)})\n"
            "  re-export it with `clara export -m MMAR --format pt2`"
        ) from None
    return ExportedModule(program.module(), path).to(device)


def _export(
    model: torch.nn.Module, shape: tuple[int, ...], dynamic: tuple[int, ...], path: Any
) -> torch.export.ExportedProgram:
    # Batch 2 in the example: torch.export specialises axes of size 1 to 1.
    example = probe_input((2, *shape[1:]) if 0 in dynamic else shape)
    dynamic_shapes = ({axis: torch.export.Dim.AUTO for axis in dynamic},)
    try:
        return torch.export.export(model, (example,), dynamic_shapes=dynamic_shapes)
    except Exception as err:
        raise ClaraError(
            f"cannot export {type(model).__name__} with torch.export to {path}: "
            f"{type(err).__name__}: {first_line(err)}\n"
            "  export to TorchScript instead: clara export --format torchscript"
        ) from err


def _inference_module(model: torch.nn.Module) -> torch.nn.Module:
    prepare = getattr(model, "__prepare_scriptable__", None)
    module = prepare() if callable(prepare) else model
    return module.eval() if isinstance(module, torch.nn.Module) else model


def _dynamic_axes(program: torch.export.ExportedProgram) -> dict[int, str]:
    """The input axes the exported program left symbolic, named like ONNX's."""
    user_input = program.graph_signature.user_inputs[0]
    node = next(n for n in program.graph.nodes if n.op == "placeholder" and n.name == user_input)
    axes: dict[int, str] = {}
    for axis, size in enumerate(node.meta["val"].shape):
        if isinstance(size, torch.SymInt):
            axes[axis] = "batch" if axis == 0 else f"spatial_{axis - 2}"
    return axes
