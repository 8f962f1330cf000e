"""Packages a config needs that clara does not install: whole-slide image readers.

Clara's digital-pathology archives read whole-slide images (WSI) through cuCIM or OpenSlide.
Neither is a dependency of clara (cuCIM needs CUDA on Linux), so a config that needs one is
refused before anything is built, with one message naming the package to install.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from typing import Any

from clara_cli.mmar.items import Problem

#: A WSI reader name as Clara configs spell it (lower case) → (import name, pip package, label).
WSI_READERS: dict[str, tuple[str, str, str]] = {
    "cucim": ("cucim", "cucim", "cuCIM"),
    "openslide": ("openslide", "openslide-python", "OpenSlide"),
}
_READER_ARGS = ("image_reader_name", "reader", "backend")


def missing_packages(config: dict[str, Any], source: str) -> list[Problem]:
    """One problem per config when it reads whole-slide images with a reader not installed.

    Args:
        config: the config as read (not substituted).
        source: the config file, for the message.
    """
    for key_path, component in _components(config, ""):
        name = str(component.get("name") or component.get("path") or "")
        raw_args = component.get("args")
        args: dict[str, Any] = raw_args if isinstance(raw_args, dict) else {}
        readers = [str(args[k]) for k in _READER_ARGS if isinstance(args.get(k), str)]
        wanted = [r for r in readers if r.lower() in WSI_READERS]
        if not wanted and "WSI" not in name:
            continue
        reader = wanted[0].lower() if wanted else "cucim"
        module, package, label = WSI_READERS[reader]
        if importlib.util.find_spec(module) is not None:
            continue
        other = next(v for k, v in WSI_READERS.items() if k != reader)
        return [
            Problem(
                key_path,
                f"{source}: {key_path}: {name} reads whole-slide images with {label}, which "
                f"is not installed: pip install {package} (or {other[1]} with "
                f"image_reader_name '{other[2]}'); clara cannot run this config without it",
            )
        ]
    return []


def _components(value: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(key path, spec) of every JSON object naming a component, depth first."""
    if isinstance(value, dict):
        if isinstance(value.get("name"), str) or isinstance(value.get("path"), str):
            yield path, value
        for key, item in value.items():
            yield from _components(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _components(item, f"{path}[{i}]")
