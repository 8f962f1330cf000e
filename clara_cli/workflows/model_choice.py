"""`--checkpoint best|final|PATH` and `--model ckpt|ts|onnx|pt2` of validate and infer, as
Clara's own variables.

Clara chose the model with two switches and two paths: `dont_load_ts_model`,
`dont_load_ckpt_model`, `MMAR_TORCHSCRIPT` and `MMAR_CKPT`; those keep working through
`--set`. The options are spelled out onto them here, a `--set` that says otherwise is a
conflict (exit 2), and the config is checked to load what was asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clara_cli.errors import ConfigError, OverrideError

MODEL_FORMATS = ("ckpt", "ts", "onnx", "pt2")
CHECKPOINTS = ("best", "final")
#: The checkpoint names when config_train.json's CheckpointSaver names none: the names clara's
#: wiring gives them (engine/wiring/defaults.py, not imported here: it loads MONAI).
DEFAULT_NAMES = {"best": "model.pt", "final": "final_model.pt"}
_NAME_ARGS = {"best": "key_metric_filename", "final": "final_filename"}
_WHAT = {"ckpt": "checkpoint", "ts": "TorchScript", "onnx": "ONNX", "pt2": "pt2"}


@dataclass(frozen=True)
class ModelChoice:
    """What the user asked for; None leaves the config's own choice.

    Attributes:
        checkpoint: "best", "final" or a checkpoint file (implies model "ckpt").
        model: "ckpt", "ts", "onnx" or "pt2".
    """

    checkpoint: str | None = None
    model: str | None = None

    @property
    def format(self) -> str | None:
        return self.model or ("ckpt" if self.checkpoint else None)


def model_overrides(
    choice: ModelChoice,
    overrides: dict[str, Any],
    mmar_root: Path,
    config_path: str | Path,
    env_path: str | Path,
) -> dict[str, Any]:
    """`overrides` (the `--set` values) plus the variables that select `choice`.

    Raises:
        OverrideError: the options contradict each other or a `--set` value (exit 2).
        ConfigError: the config cannot load that kind of model, or the file is missing.
    """
    from clara_cli.mmar.loader import load_mmar_config

    fmt = choice.format
    if fmt is None:
        return dict(overrides)
    if fmt not in MODEL_FORMATS:
        raise OverrideError(f"--model {fmt}: expected one of {', '.join(MODEL_FORMATS)}")
    if choice.checkpoint and fmt != "ckpt":
        raise OverrideError(
            f"--checkpoint {choice.checkpoint} chooses a checkpoint, --model {fmt} an export: "
            "give one of them"
        )
    exported = fmt != "ckpt"
    wanted: dict[str, Any] = {"dont_load_ts_model": not exported, "dont_load_ckpt_model": exported}
    mmar = load_mmar_config(mmar_root, config_path, env_path, overrides)
    variables = mmar.variables
    if choice.checkpoint:
        if "MMAR_CKPT" in overrides:
            raise OverrideError(
                f"--checkpoint {choice.checkpoint} and --set MMAR_CKPT=... both name the "
                "checkpoint: give one of them"
            )
        wanted["MMAR_CKPT"] = str(_checkpoint_path(choice.checkpoint, mmar_root, env_path, mmar))
    elif exported and fmt != "ts":
        torchscript = _var(mmar, "MMAR_TORCHSCRIPT") or "models/model.ts"
        pt2 = _var(mmar, "MMAR_PT2") if fmt == "pt2" else None
        path = Path(pt2) if pt2 else Path(torchscript).with_suffix(f".{fmt}")
        wanted["MMAR_TORCHSCRIPT"] = str(path)
    for key in ("dont_load_ts_model", "dont_load_ckpt_model"):
        if key in overrides and _switch(overrides[key]) != wanted[key]:
            raise OverrideError(
                f"--{'checkpoint' if choice.checkpoint else 'model'} "
                f"{choice.checkpoint or fmt} loads the {_WHAT[fmt]}, but --set {key}="
                f"{str(overrides[key]).lower()} says otherwise: drop one of them"
            )
        if key not in variables:
            wanted.pop(key)  # the config has no such switch (Clara's check refuses it)
    merged = {**overrides, **wanted}
    loader = _enabled_loader(fmt, load_mmar_config(mmar_root, config_path, env_path, merged))
    if fmt == "ts" and "ts_path" in loader and not Path(str(loader["ts_path"])).is_file():
        # Without --model, a missing TorchScript file falls back to the pt2 export; asked
        # for TorchScript by name, the user gets TorchScript or an error.
        raise ConfigError(
            f"--model ts: TorchScript model not found: {loader['ts_path']}\n"
            "  export one with `clara export -m MMAR --format torchscript`, "
            "or choose --model pt2|onnx|ckpt"
        )
    return merged


def _checkpoint_path(checkpoint: str, mmar_root: Path, env_path: str | Path, mmar: Any) -> Path:
    if checkpoint not in CHECKPOINTS:
        path = Path(checkpoint).expanduser().resolve()
        if not path.is_file():
            raise OverrideError(
                f"--checkpoint {checkpoint}: no such file; give best, final or a checkpoint file"
            )
        return path
    folder = _var(mmar, "MMAR_CKPT_DIR") or str(Path(mmar_root) / "models")
    path = Path(folder) / _saved_name(checkpoint, mmar_root, env_path)
    if not path.is_file():
        raise ConfigError(
            f"--checkpoint {checkpoint}: {path} does not exist\n"
            f"  train first (`clara train -m {mmar_root}`), or give a checkpoint file"
        )
    return path


def _saved_name(checkpoint: str, mmar_root: Path, env_path: str | Path) -> str:
    """The file name config_train.json's CheckpointSaver gives the best/final checkpoint."""
    from clara_cli.mmar import layout
    from clara_cli.mmar.loader import load_mmar_config

    try:
        train = load_mmar_config(mmar_root, layout.DEFAULT_TRAIN_CONFIG, env_path).config
    except ConfigError:
        return DEFAULT_NAMES[checkpoint]
    found = _find_arg(train, _NAME_ARGS[checkpoint])
    return found if found and "{" not in found else DEFAULT_NAMES[checkpoint]


def _find_arg(value: Any, key: str) -> str | None:
    if isinstance(value, dict):
        if isinstance(value.get(key), str):
            return str(value[key])
        value = list(value.values())
    if isinstance(value, list):
        for item in value:
            found = _find_arg(item, key)
            if found:
                return found
    return None


def _enabled_loader(fmt: str, mmar: Any) -> dict[str, Any]:
    """The config's first enabled `model` loader (substituted); it must be the kind asked for."""
    from clara_cli.engine.model_loading import LOADER_KEYS
    from clara_cli.mmar.variables import substitute, truthy

    spec = mmar.config.get("model")
    where = str(mmar.config_file)
    found: dict[str, Any] = {}
    if spec is None:
        kind = "ckpt"  # no `model` entry: clara loads MMAR_CKPT
    else:
        items = spec if isinstance(spec, list) else [spec]
        kind = ""
        for item in items:
            if not isinstance(item, dict):
                continue
            if truthy(substitute(item.get("disabled", False), mmar.variables, "model", where)):
                continue
            loader = next((k for k in LOADER_KEYS if k in item), None)
            if loader is not None:
                found = {loader: substitute(item[loader], mmar.variables, "model", where)}
            kind = "ckpt" if loader in (None, "ckpt_path") else "exported"
            break
    if kind != ("ckpt" if fmt == "ckpt" else "exported"):
        raise ConfigError(
            f"{where}: its 'model' entry has no enabled {_WHAT[fmt]} loader "
            f"(found {kind or 'none'}), so --model {fmt} cannot apply\n"
            "  choose another --model, or add a loader like Clara's "
            '{"ts_path": "{MMAR_TORCHSCRIPT}", "disabled": "{dont_load_ts_model}"}'
        )
    return found


def _var(mmar: Any, name: str) -> str | None:
    from clara_cli.mmar.variables import substitute

    value = mmar.variables.get(name)
    if not value:
        return None
    return str(substitute(value, mmar.variables, name, str(mmar.config_file)))


def _switch(value: Any) -> bool:
    from clara_cli.mmar.variables import truthy

    return truthy(value)
