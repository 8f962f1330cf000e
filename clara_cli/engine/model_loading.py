"""Where a validation/inference config's network comes from.

Clara's `model` entry is a list of loaders, the first enabled one wins:
`[{"ts_path": "{MMAR_TORCHSCRIPT}", "disabled": ...}, {"ckpt_path": "{MMAR_CKPT}", ...}]`.
A checkpoint saved with `train_conf` rebuilds its own network; otherwise the network is built
from the MMAR's config_train.json.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from clara_cli.errors import ConfigError

LOADER_KEYS = ("ts_path", "ckpt_path")


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
        if "ts_path" in item:
            return load_torchscript(Path(item["ts_path"]), session.dist.device)
        return network_from_checkpoint(Path(item["ckpt_path"]), session)
    raise ConfigError(
        f"{where}: every model loader is disabled (dont_load_ts_model / dont_load_ckpt_model); "
        "enable one, e.g. --set dont_load_ckpt_model=false"
    )


def load_torchscript(path: Path, device: Any) -> Any:
    """A TorchScript model from `path`."""
    import torch

    if not path.is_file():
        raise ConfigError(
            f"TorchScript model not found: {path}\n"
            "  export one with `clara export -m MMAR`, or validate the checkpoint with "
            "--set dont_load_ts_model=true dont_load_ckpt_model=false"
        )
    model = torch.jit.load(str(path), map_location=device)
    return model.eval()


def network_from_checkpoint(path: Path, session: Any) -> Any:
    """Rebuild the network a checkpoint was trained with and load its weights.

    The network spec comes from the checkpoint's `train_conf` when present, else from the
    MMAR's config/config_train.json (with the run's variables).
    """
    from clara_cli.engine.checkpoint import load_checkpoint

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
    try:
        network.load_state_dict(state)
    except RuntimeError as err:
        raise ConfigError(
            f"{path}: the weights do not fit the network of the config: {err}"
        ) from None
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
