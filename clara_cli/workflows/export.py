"""`clara export`: an MMAR's checkpoint to a torch.export program (MMAR_PT2), TorchScript
(MMAR_TORCHSCRIPT) and/or ONNX.

A single-process workflow (the export runs on the CPU); the format writers and the parity
check live in `clara_cli/export/`.

The network is rebuilt from the checkpoint's `train_conf` (else from config_train.json) as
validation does, exported, and the exported file is run next to the eager model on a seeded
random input of the config's patch shape: the export fails, and nothing is written, when the
largest absolute difference exceeds tolerance x max(|eager output|, 1) (tolerance 1e-4) or
the segmentations disagree on more than 0.01 % of the voxels.

Without a format, `pt2` is written, and TorchScript instead (with one warning saying why) when
torch.export cannot capture the network, its program fails the check, or it fixes the spatial
size (inference windows may differ from the patch): TorchScript is deprecated from PyTorch 2.9
on, but still loads in validate/infer.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clara_cli.errors import ConfigError
from clara_cli.workflows.session import RunRequest, Session

log = logging.getLogger("clara")

FORMATS = ("pt2", "torchscript", "onnx")
#: Variables that may hold the patch shape, in order of preference.
SHAPE_VARIABLES = ("patch_size", "roi_size")


@dataclass(frozen=True)
class ExportOptions:
    """`clara export`'s own options.

    Attributes:
        formats: any of "pt2", "torchscript" and "onnx"; empty: pt2, else TorchScript.
        input_shape: `[batch, channels, spatial...]` of the parity check; None: from the config.
        tolerance: relative tolerance of the parity check; None means 1e-4.
    """

    formats: tuple[str, ...] = ()
    input_shape: tuple[int, ...] | None = None
    tolerance: float | None = None


class ExportWorkflow:
    """Checkpoint to pt2/TorchScript/ONNX, each checked against the eager model."""

    name = "export"
    command = "export"
    default_config = "config/config_train.json"
    options_type = ExportOptions

    def run(self, request: RunRequest, options: ExportOptions) -> list[Any]:
        """Export in this process (always one process, on the CPU)."""
        return export_mmar(request, options.formats, options.input_shape, options.tolerance)


#: Registered lazily by name in clara_cli.workflows.base.
WORKFLOW = ExportWorkflow()


def export_mmar(
    request: RunRequest,
    formats: Sequence[str] = (),
    input_shape: Sequence[int] | None = None,
    tolerance: float | None = None,
) -> list[Any]:
    """Export the checkpoint MMAR_CKPT of `request`'s MMAR and check each export.

    Args:
        request: a RunRequest for the training config (config/config_train.json).
        formats: any of "pt2" (to MMAR_PT2, default MMAR_TORCHSCRIPT with the suffix .pt2,
            models/model.pt2), "torchscript" (to MMAR_TORCHSCRIPT, models/model.ts) and "onnx"
            (MMAR_TORCHSCRIPT with the suffix .onnx, models/model.onnx). Empty: pt2, and
            TorchScript instead when the pt2 export fails.
        input_shape: `[batch, channels, spatial...]` of the parity check; None takes
            `[1, in_channels, *patch_size]` from the config (patch_size, else roi_size).
        tolerance: relative tolerance of the parity check; None means 1e-4.

    Returns:
        One ExportResult per format, with the measured difference.

    Raises:
        ConfigError: an unknown format, no checkpoint, or no patch shape in the config.
        ClaraError: the export fails or differs from the eager model (nothing is written).

    Example:
        >>> request = RunRequest(Path("mmars/clara_pt_spleen_ct_segmentation"), "config/config_train.json", device="cpu")
        >>> for result in export_mmar(request, ["pt2", "onnx"]):
        ...     print(result.describe())
    """
    from dataclasses import replace

    from clara_cli.engine.model_loading import network_from_checkpoint
    from clara_cli.export.parity import DEFAULT_TOLERANCE
    from clara_cli.launch import process_group as distributed
    from clara_cli.workflows.session import open_session

    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ConfigError(f"export format must be one of {', '.join(FORMATS)}, not {unknown or []}")
    # The exported graph must not depend on a device: build and check on the CPU.
    session = open_session(replace(request, device="cpu"))
    try:
        _require_writable_targets(session, formats or ("pt2", "torchscript"))
        checkpoint = session.path_var("MMAR_CKPT")
        network = network_from_checkpoint(checkpoint, session)
        shape = list(input_shape) if input_shape else default_input_shape(session, network)
        log.info("exporting %s (input shape %s)", checkpoint, shape)
        tol = DEFAULT_TOLERANCE if tolerance is None else tolerance
        meta = export_metadata(session, checkpoint)
        if not formats:
            return [_report(_export_default(session, network, shape, tol, meta))]
        # Reported as each export completes: a later failing format keeps this one.
        return [
            _report(_export(kind, network, shape, _target(session, kind), tol, meta))
            for kind in dict.fromkeys(formats)
        ]
    finally:
        distributed.shutdown(session.dist)


def export_metadata(session: Session, checkpoint: Path) -> dict[str, Any]:
    """The preprocessing record stored in each export (clara_cli.export.metadata): from the
    checkpoint's resolved `train_conf` when it has one, else from the MMAR's config."""
    from clara_cli.engine.checkpoint import load_checkpoint
    from clara_cli.export.metadata import describe, preprocessing_metadata

    train_conf = load_checkpoint(checkpoint).get("train_conf")
    if isinstance(train_conf, dict) and "train" in train_conf:
        conf, source = train_conf, f"{session.mmar.config_file} (as saved in {checkpoint.name})"
    else:
        conf, source = session.conf, str(session.mmar.config_file)
    meta = preprocessing_metadata(conf, _plain_variables(session, conf), source)
    log.info("preprocessing stored in the export: %s", describe(meta))
    return meta


def _plain_variables(session: Session, conf: dict[str, Any]) -> dict[str, Any]:
    dataset = (conf.get("train") or {}).get("dataset") or {}
    # The training's datalist (as resolved in the checkpoint), else this run's.
    datalist = dataset.get("data_list_file_path") if isinstance(dataset, dict) else None
    # Top-level values as the checkpoint saved them (resolved), else this run's.
    names = conf.get("class_names") or session.var("class_names")
    names = names or _dataset_labels(datalist or session.var("DATASET_JSON"))
    return {"patch_size": conf.get("patch_size", session.var("patch_size")), "class_names": names}


def _dataset_labels(datalist: Any) -> list[str] | None:
    """Class names 1..K from the MSD `dataset.json` "labels" beside the datalist, if any."""
    import json

    if not isinstance(datalist, str) or not datalist:
        return None
    candidate = Path(datalist).parent / "dataset.json"
    try:
        labels = json.loads(candidate.read_text(encoding="utf-8")).get("labels")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(labels, dict):
        return None
    try:
        ordered = sorted((int(k), str(v)) for k, v in labels.items())
    except ValueError:
        return None
    return [name for value, name in ordered if value > 0] or None


def default_input_shape(session: Session, network: Any) -> list[int]:
    """`[1, in_channels, *patch]`: patch from patch_size/roi_size, channels from the network.

    Raises:
        ConfigError: the config has no patch shape variable.
    """
    for name in SHAPE_VARIABLES:
        patch = session.var(name)
        if isinstance(patch, list) and patch and all(isinstance(v, int) for v in patch):
            return [1, _in_channels(network), *patch]
    raise ConfigError(
        f"{session.mmar.config_file}: no {' or '.join(SHAPE_VARIABLES)} to take the export's "
        "input shape from\n  pass it, e.g. --input-shape 1 1 96 96 96"
    )


def _in_channels(network: Any) -> int:
    channels = getattr(network, "in_channels", None)
    if isinstance(channels, int):
        return channels
    first = next((p for p in network.parameters() if p.dim() >= 3), None)
    return int(first.shape[1]) if first is not None else 1


def _export_default(
    session: Session, network: Any, shape: list[int], tolerance: float, meta: dict[str, Any]
) -> Any:
    """pt2; TorchScript, with one warning, when the network does not export cleanly to pt2.

    Cleanly: captured, within the parity bound, and runnable at other spatial sizes (an AHNet
    program fixes its size; TorchScript scripts it for any size).
    """
    from clara_cli.errors import ClaraError, first_line
    from clara_cli.export.pt2 import export_pt2

    try:
        return export_pt2(
            network,
            shape,
            _target(session, "pt2"),
            tolerance,
            require_dynamic_spatial=True,
            metadata=meta,
        )
    except ClaraError as err:
        log.warning(
            "no pt2 export (%s); writing TorchScript instead (deprecated from PyTorch 2.9 on)",
            first_line(err),
        )
    target = _target(session, "torchscript")
    return _export("torchscript", network, shape, target, tolerance, meta)


def _report(result: Any) -> Any:
    log.info("%s", result.describe())
    for note in result.notes:
        log.info("  note: %s", note)
    return result


def _require_writable_targets(session: Session, formats: Sequence[str]) -> None:
    """Refuse an export folder we cannot write before the network is built and traced."""
    from clara_cli.io.writable import require_writable_folder

    for kind in dict.fromkeys(formats):
        require_writable_folder(_target(session, kind).parent, f"{kind} export folder")


def _target(session: Session, kind: str) -> Path:
    from clara_cli.engine.model_loading import pt2_path

    torchscript = session.path_var("MMAR_TORCHSCRIPT")
    if kind == "pt2":
        return pt2_path(session, torchscript)
    return torchscript if kind == "torchscript" else torchscript.with_suffix(".onnx")


def _export(
    kind: str,
    network: Any,
    shape: list[int],
    target: Path,
    tolerance: float,
    meta: dict[str, Any] | None = None,
) -> Any:
    if kind == "pt2":
        from clara_cli.export.pt2 import export_pt2

        return export_pt2(network, shape, target, tolerance=tolerance, metadata=meta)
    if kind == "torchscript":
        from clara_cli.export.torchscript import export_torchscript

        return export_torchscript(network, shape, target, tolerance=tolerance, metadata=meta)
    from clara_cli.export.onnx import export_onnx

    return export_onnx(network, shape, target, tolerance=tolerance, metadata=meta)
