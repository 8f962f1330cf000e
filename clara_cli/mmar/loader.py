"""Read MMAR JSON files and gather the variables of one workflow run.

Load, resolve, build and run are separate steps: this module only reads files and merges
variables (`--set` > environment.json > the config's top-level keys).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clara_cli.errors import ConfigError
from clara_cli.io.json_keys import unique_keys
from clara_cli.mmar import layout


def load_json(path: Path) -> Any:
    """Read a JSON file, rejecting duplicate keys and pointing at the line of a syntax error."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}{_siblings_hint(path)}") from None
    except IsADirectoryError:
        raise ConfigError(f"expected a JSON file, found a folder: {path}") from None
    try:
        return json.loads(text, object_pairs_hook=unique_keys(path, ConfigError))
    except json.JSONDecodeError as err:
        raise ConfigError(
            f"{path}:{err.lineno}:{err.colno}: invalid JSON: {err.msg}\n{_caret(text, err)}"
        ) from None


def _caret(text: str, err: json.JSONDecodeError) -> str:
    lines = text.splitlines() or [""]
    line = lines[min(err.lineno, len(lines)) - 1]
    gutter = f"{err.lineno} | "
    return f"  {gutter}{line}\n  {' ' * (len(gutter) - 2)}| {' ' * (err.colno - 1)}^"


def _siblings_hint(path: Path) -> str:
    parent = path.parent
    if not parent.is_dir():
        return ""
    names = sorted(p.name for p in parent.iterdir() if p.suffix == ".json")
    return f"\n  files in {parent}/: {', '.join(names)}" if names else ""


@dataclass
class MmarConfig:
    """One workflow config with everything needed to resolve it.

    Attributes:
        mmar_root: the archive folder.
        config_file: the workflow config (config_train.json, ...).
        env_file: environment.json.
        config: the parsed config, untouched.
        variables: merged variables, highest priority first: --set, environment.json, the
            config's top-level keys; path variables made absolute.
        origins: for each variable, the file (or "--set") it came from.
    """

    mmar_root: Path
    config_file: Path
    env_file: Path
    config: dict[str, Any]
    variables: dict[str, Any]
    origins: dict[str, str] = field(default_factory=dict)

    def where(self, key_path: str) -> str:
        """`<config file>: <key path>` for error messages."""
        return f"{self.config_file}: {key_path}" if key_path else str(self.config_file)


def resolve_in_mmar(mmar_root: Path, path: str | Path) -> Path:
    """A path given for an MMAR: absolute as is, else relative to MMAR_ROOT."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else mmar_root / p


def load_mmar_config(
    mmar_root: Path,
    config_path: str | Path,
    env_path: str | Path = layout.DEFAULT_ENV,
    overrides: dict[str, Any] | None = None,
    check_overrides: bool = False,
) -> MmarConfig:
    """Read a workflow config and environment.json and merge the variables.

    Args:
        mmar_root: the archive folder.
        config_path: the workflow config, relative to mmar_root unless absolute.
        env_path: environment.json, relative to mmar_root unless absolute.
        overrides: `--set` values; relative path variables among them resolve against
            MMAR_ROOT, like those of environment.json (as Clara did: an archive's scripts
            pass `--set MMAR_CKPT=models/model.pt` from any folder).
        check_overrides: refuse a `--set` key that nothing reads or a value that does not
            fit the variable it replaces (see :mod:`clara_cli.mmar.set_values`).

    Raises:
        ConfigError: a file is missing, malformed or not a JSON object.
        OverrideError: (check_overrides) a wrong `--set` key or value.
    """
    mmar_root = Path(mmar_root).resolve()
    config_file = resolve_in_mmar(mmar_root, config_path)
    env_file = resolve_in_mmar(mmar_root, env_path)
    config = load_json(config_file)
    if not isinstance(config, dict):
        raise ConfigError(f"{config_file}: the top level must be a JSON object")
    if not env_file.exists() and Path(env_path) != Path(layout.DEFAULT_ENV):
        # Only the default may be absent (an archive without one); a file asked for by name
        # (-e) must exist, or its variables would silently fall back to the config's.
        raise ConfigError(f"environment file not found: {env_file}\n  check the -e path")
    env = load_json(env_file) if env_file.exists() else {}
    if not isinstance(env, dict):
        raise ConfigError(f"{env_file}: the top level must be a JSON object of variables")

    if check_overrides and overrides:
        overrides = _checked_overrides(overrides, config, env, mmar_root)
    variables: dict[str, Any] = {}
    origins: dict[str, str] = {}
    layers = [
        (_config_variables(config), str(config_file)),
        (env, str(env_file)),
        (overrides or {}, "--set"),
    ]
    for values, origin in layers:
        for key, value in values.items():
            key = layout.LEGACY_VARIABLES.get(key, key)
            if key in layout.PATH_VARIABLES and isinstance(value, str) and "{" not in value:
                value = _absolute(value, mmar_root)
            variables[key] = value
            origins[key] = origin
    variables["MMAR_ROOT"] = str(mmar_root)
    origins["MMAR_ROOT"] = "-m"
    _absolutize_templated_paths(variables, mmar_root)
    return MmarConfig(mmar_root, config_file, env_file, config, variables, origins)


def _checked_overrides(
    overrides: dict[str, Any], config: dict[str, Any], env: dict[str, Any], mmar_root: Path
) -> dict[str, Any]:
    from clara_cli.mmar.set_values import check_overrides

    legacy = layout.LEGACY_VARIABLES
    defined = {legacy.get(k, k): v for k, v in _config_variables(config).items()}
    defined.update((legacy.get(k, k), v) for k, v in env.items())
    configs: list[Any] = [config]
    # Validation and inference load their network from the training config: its variables
    # are read by the run as well.
    train_file = mmar_root / layout.DEFAULT_TRAIN_CONFIG
    if train_file.is_file():
        train = load_json(train_file)
        if isinstance(train, dict):
            configs.append(train)
            defined = {**_config_variables(train), **defined}
    named = {legacy.get(k, k): v for k, v in overrides.items()}
    return check_overrides(named, defined, configs)


def _config_variables(config: dict[str, Any]) -> dict[str, Any]:
    reserved = set(layout.SECTION_KEYS) | set(layout.TOP_SECTIONS)
    return {k: v for k, v in config.items() if k not in reserved}


def _absolute(value: str, base: Path) -> str:
    if not value:
        return value
    p = Path(value).expanduser()
    return os.path.normpath(p if p.is_absolute() else base / p)


def _absolutize_templated_paths(variables: dict[str, Any], mmar_root: Path) -> None:
    """Path variables written as templates ("{MMAR_CKPT_DIR}/model.pt") get resolved later;
    resolve them now against the other variables so callers always see absolute paths."""
    from clara_cli.mmar.variables import substitute

    for key in layout.PATH_VARIABLES:
        value = variables.get(key)
        if isinstance(value, str) and "{" in value:
            resolved = substitute(value, variables, key)
            if isinstance(resolved, str):
                variables[key] = _absolute(resolved, mmar_root)
