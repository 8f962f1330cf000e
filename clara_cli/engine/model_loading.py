"""Where a validation/inference config's network comes from.

Clara's `model` entry is a list of loaders, the first enabled one wins:
`[{"ts_path": "{MMAR_TORCHSCRIPT}", "disabled": ...}, {"ckpt_path": "{MMAR_CKPT}", ...}]`.
A checkpoint saved with `train_conf` rebuilds its own network; otherwise the network is built
from the MMAR's config_train.json.

`clara export` writes a `torch.export` program (`.pt2`, MMAR_PT2) by default, TorchScript only
on request. An exported-model loader therefore takes either: `{"pt2_path": "{MMAR_PT2}"}`, a
`ts_path` naming a `.pt2` file, or a `ts_path` whose TorchScript file does not exist while the
pt2 export (MMAR_PT2, default: MMAR_TORCHSCRIPT with the suffix .pt2) does; the log says which
file was loaded.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from clara_cli.errors import ConfigError

log = logging.getLogger("clara")

LOADER_KEYS = ("ts_path", "pt2_path", "ckpt_path")


def is_loader_spec(spec: Any) -> bool:
    """True for Clara's `model` loader entries (a loader dict or a list of them)."""
    items = spec if isinstance(spec, list) else [spec]
    return bool(items) and all(
        isinstance(i, dict) and any(k in i for k in LOADER_KEYS) for i in items
    )


def load_network(spec: Any, session: Any, where: str) -> Any:
    """The network an MMAR loader spec points at, on this rank's device, in eval mode.

    Raises:
        ConfigError: every loader is disabled, or the file does not exist.
    """
    from clara_cli.mmar.resolver import _truthy

    items = spec if isinstance(spec, list) else [spec]
    for item in items:
        if _truthy(item.get("disabled")):
            continue
        if "pt2_path" in item:
            return _load_pt2(Path(item["pt2_path"]), session.dist.device)
        if "ts_path" in item:
            return load_exported(Path(item["ts_path"]), session)
        return network_from_checkpoint(Path(item["ckpt_path"]), session)
    raise ConfigError(
        f"{where}: every model loader is disabled (dont_load_ts_model / dont_load_ckpt_model); "
        "enable one, e.g. --set dont_load_ckpt_model=false"
    )


def enabled_export(spec: Any, session: Any) -> Path | None:
    """The exported file the first enabled loader of `spec` loads (as load_network would),
    or None when that loader is a checkpoint or every loader is disabled."""
    from clara_cli.mmar.resolver import _truthy

    items = spec if isinstance(spec, list) else [spec]
    for item in items:
        if not isinstance(item, dict) or _truthy(item.get("disabled")):
            continue
        if "pt2_path" in item:
            return Path(item["pt2_path"])
        if "ts_path" in item:
            path = Path(item["ts_path"])
            fallback = path.suffix not in (".pt2", ".onnx") and not path.is_file()
            if fallback and pt2_path(session, path).is_file():
                return pt2_path(session, path)
            return path
        return None
    return None


def load_exported(path: Path, session: Any) -> Any:
    """The exported model a `ts_path` loader names: TorchScript, or the pt2 export.

    A `.pt2` path is loaded with torch.export, an `.onnx` path with onnxruntime; a missing TorchScript file is replaced by the
    pt2 export when that exists (MMAR_PT2, else `path` with the suffix .pt2).
    """
    device = session.dist.device
    if path.suffix == ".onnx":
        from clara_cli.engine.onnx_model import load_onnx

        return load_onnx(path)
    if path.suffix == ".pt2":
        return _load_pt2(path, device)
    if not path.is_file():
        pt2 = pt2_path(session, path)
        if pt2.is_file():
            log.info("%s not found: loading the pt2 export %s instead", path, pt2)
            return _load_pt2(pt2, device)
    return load_torchscript(path, device)


def pt2_path(session: Any, torchscript: Path) -> Path:
    """MMAR_PT2 when set, else the TorchScript path `torchscript` with the suffix .pt2."""
    value = session.var("MMAR_PT2")
    return Path(value) if value else torchscript.with_suffix(".pt2")


def _load_pt2(path: Path, device: Any) -> Any:
    from clara_cli.export.pt2 import load_pt2

    log.info("loading the torch.export program %s", path)
    return load_pt2(path, device)


def load_torchscript(path: Path, device: Any) -> Any:
    """A TorchScript model from `path`."""
    import torch

    if not path.is_file():
        raise ConfigError(
            f"TorchScript model not found: {path}\n"
            "  export one with `clara export -m MMAR --format torchscript`, or validate the checkpoint with "
            "--set dont_load_ts_model=true dont_load_ckpt_model=false"
        )
    try:
        model = torch.jit.load(str(path), map_location=device)
    except (RuntimeError, ValueError, OSError) as err:
        raise ConfigError(
            f"cannot load TorchScript model {path}: {_torchscript_problem(path, err)}\n"
            "  export it again with `clara export -m MMAR --format torchscript`, or validate the "
            "checkpoint with --set dont_load_ts_model=true dont_load_ckpt_model=false"
        ) from None
    return model.eval()


def _torchscript_problem(path: Path, err: BaseException) -> str:
    """What is wrong with a file torch.jit.load refused, without torch's internal wording."""
    import zipfile

    text = str(err)
    if path.stat().st_size == 0:
        return "the file is empty"
    if not zipfile.is_zipfile(path):
        return "the file is not a TorchScript archive (truncated, or another format)"
    if "constants.pkl" in text or "code/" in text:
        return "the file is a PyTorch archive but not TorchScript (a checkpoint? load it with ckpt_path)"
    return text.splitlines()[0].split(". This is an internal")[0] if text else type(err).__name__


def network_from_checkpoint(path: Path, session: Any) -> Any:
    """Rebuild the network a checkpoint was trained with and load its weights.

    The network spec comes from the checkpoint's `train_conf` when present, else from the
    MMAR's config/config_train.json (with the run's variables).
    """
    from clara_cli.engine.checkpoint import load_checkpoint
    from clara_cli.engine.state_fit import load_fitting_weights

    if not path.is_file():
        raise ConfigError(
            f"checkpoint not found: {path}\n"
            f"  train first (`clara train -m {session.mmar.mmar_root}`) or point MMAR_CKPT at one"
        )
    checkpoint = load_checkpoint(path, map_location=session.dist.device)
    train_conf = checkpoint.get("train_conf")
    if not isinstance(train_conf, dict) or "train" not in train_conf:
        train_conf = _mmar_train_conf(session)
    network = build_network(train_conf, session, str(path))
    state = checkpoint.get("model", checkpoint)
    if not isinstance(state, dict):
        raise ConfigError(f"{path}: 'model' is not a state_dict")
    load_fitting_weights(network, state, path)
    return network.eval()


def build_network(train_conf: dict[str, Any], session: Any, source: str) -> Any:
    """Build only `train.model` of a (substituted) training config on this rank's device."""
    from clara_cli.mmar.resolver import Runtime, Section

    model_spec = train_conf.get("train", {}).get("model")
    if model_spec is None:
        raise ConfigError(f"{source}: the training config has no train.model to rebuild")
    dist = session.dist

    def to_device(section: Any, obj: Any, spec: Any, where: str) -> Any:
        return obj.to(dist.device) if hasattr(obj, "to") else obj

    runtime = Runtime(dist.rank, dist.world_size, str(dist.device), {"after_build": to_device})
    section = Section("train", {"model": model_spec}, source, runtime, train_conf)
    return section.get("model")


def _mmar_train_conf(session: Any) -> dict[str, Any]:
    from clara_cli.mmar import layout
    from clara_cli.mmar.loader import load_mmar_config
    from clara_cli.mmar.variables import substitute

    request = session.request
    mmar = load_mmar_config(
        request.mmar_root, layout.DEFAULT_TRAIN_CONFIG, request.env_path, request.overrides
    )
    result: dict[str, Any] = substitute(mmar.config, mmar.variables, "", str(mmar.config_file))
    return result
