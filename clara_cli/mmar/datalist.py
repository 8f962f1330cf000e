"""Read an MMAR datalist (Decathlon-style JSON) and split it across distributed ranks."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from clara_cli.errors import DataError
from clara_cli.mmar.loader import load_json

_SHOWN = 5


def load_datalist(path: str | Path, key: str, base_dir: str | Path) -> list[dict[str, Any]]:
    """The items of one subset of a datalist, with paths made absolute and checked.

    Values of `image`/`label` (and other path-like keys, lists included) are relative to
    `base_dir` unless absolute, as MONAI's `load_decathlon_datalist` does. A bare string item
    (the `test` subset of MSD) becomes `{"image": path}`.

    Raises:
        DataError: the subset is missing or empty, or files it lists do not exist (the first
            few are shown with the total count).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"datalist not found: {path} (set DATASET_JSON in environment.json or --set)"
        )
    content = load_json(path)
    if not isinstance(content, dict) or key not in content:
        keys = ", ".join(content) if isinstance(content, dict) else "none"
        raise DataError(f"{path}: no {key!r} list in the datalist (it has: {keys})")
    raw = content[key]
    if not isinstance(raw, list) or not raw:
        raise DataError(f"{path}: {key!r} is empty or not a list")
    base = Path(base_dir) if base_dir else path.parent
    items = [_absolute_item(item, base) for item in raw]
    missing = [p for item in items for p in _paths(item) if not os.path.exists(p)]
    if missing:
        shown = "\n  ".join(missing[:_SHOWN])
        more = f"\n  ... and {len(missing) - _SHOWN} more" if len(missing) > _SHOWN else ""
        raise DataError(
            f"{len(missing)} file(s) listed in {path} [{key}] do not exist "
            f"(paths are relative to DATA_ROOT={base}):\n  {shown}{more}\n"
            "  check DATA_ROOT, or generate phantom data with `clara synth spleen -o DIR`"
        )
    return items


_PATH_KEYS = ("image", "label")


def _absolute_item(item: Any, base: Path) -> dict[str, Any]:
    if isinstance(item, str):
        item = {"image": item}
    if not isinstance(item, dict):
        raise DataError(f"datalist item {item!r} is neither an object nor a path")
    out = dict(item)
    for key in _PATH_KEYS:
        if key in out:
            value = out[key]
            if isinstance(value, list):
                out[key] = [_join(base, v) for v in value]
            elif isinstance(value, str):
                out[key] = _join(base, value)
    return out


def _join(base: Path, value: str) -> str:
    p = Path(value).expanduser()
    return os.path.normpath(p if p.is_absolute() else base / p)


def _paths(item: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for key in _PATH_KEYS:
        value = item.get(key)
        found.extend(
            value if isinstance(value, list) else [value] if isinstance(value, str) else []
        )
    return found


def shard(items: list[Any], rank: int, world_size: int, even: bool = False) -> list[Any]:
    """This rank's share of `items`, round-robin.

    With `even=False` (evaluation) the shares are disjoint and differ in length by at most
    one: no item is duplicated or dropped, so metrics gathered over ranks cover the list
    exactly. With `even=True` (training) the list is first padded by wrapping around so every
    rank gets the same count: DDP needs the same number of steps on every rank.
    """
    if world_size <= 1:
        return list(items)
    items = list(items)
    if even and len(items) % world_size:
        pad = world_size - len(items) % world_size
        items += [items[i % len(items)] for i in range(pad)]
    return items[rank::world_size]
