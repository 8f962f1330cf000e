"""Datalist JSON files: Clara's `{"training": [{"image": ..., "label": ...}], ...}` lists.

Paths in a datalist are relative to a base folder (Clara's DATA_ROOT) unless absolute. This
module reads and writes them, loads one subset with its paths checked, splits cases
deterministically (train/validation, folds) and shares them out across distributed ranks.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from clara_cli.errors import DataError
from clara_cli.io.atomic import atomic_write_text
from clara_cli.io.json_keys import unique_keys

Item = dict[str, Any]
Datalist = dict[str, list[Item]]

#: Keys of an item that hold file paths.
PATH_KEYS = ("image", "label")


def read_datalist(path: str | os.PathLike[str]) -> Datalist:
    """Read a datalist JSON file.

    Raises:
        DataError: the file is missing, not JSON, or not an object of lists.
    """
    path = Path(path)
    try:
        data = json.loads(
            path.read_text(encoding="utf-8"), object_pairs_hook=unique_keys(path, DataError)
        )
    except FileNotFoundError:
        raise DataError(f"datalist not found: {str(path)!r}") from None
    except json.JSONDecodeError as err:
        raise DataError(f"{path}:{err.lineno}:{err.colno}: invalid JSON: {err.msg}") from None
    if not isinstance(data, dict):
        raise DataError(
            f"{path}: a datalist must be a JSON object of lists, not {type(data).__name__}"
        )
    return data


def write_datalist(path: str | os.PathLike[str], datalist: dict[str, Any]) -> Path:
    """Write `datalist` as indented JSON, atomically, with the umask's file mode."""
    return atomic_write_text(path, json.dumps(datalist, indent=2) + "\n")


def resolve_items(items: Iterable[Item], base_dir: str | os.PathLike[str]) -> list[Item]:
    """Return copies of `items` whose relative image/label paths are joined to `base_dir`."""
    base = Path(base_dir)
    resolved = []
    for item in items:
        item = dict(item)
        for key in PATH_KEYS:
            if isinstance(item.get(key), str):
                item[key] = str(base / item[key])
        resolved.append(item)
    return resolved


def split_items(
    items: Sequence[Item], train_fraction: float, seed: int = 0
) -> tuple[list[Item], list[Item]]:
    """Shuffle `items` with `seed` and split them into (training, validation).

    The validation part has round((1 - train_fraction) * n) items, at least one when n >= 2 and
    train_fraction < 1. The same items and seed always give the same split.

    Raises:
        DataError: train_fraction outside (0, 1].
    """
    if not 0.0 < train_fraction <= 1.0:
        raise DataError(f"the training fraction must be in (0, 1], not {train_fraction}")
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    n_val = round((1.0 - train_fraction) * len(items))
    if train_fraction < 1.0 and len(items) >= 2:
        n_val = min(max(n_val, 1), len(items) - 1)
    val_index = set(order[:n_val])
    training = [items[i] for i in order if i not in val_index]
    validation = [items[i] for i in order if i in val_index]
    return training, validation


def fold_items(
    items: Sequence[Item], folds: int, seed: int = 0
) -> list[tuple[list[Item], list[Item]]]:
    """Split `items` into `folds` (training, validation) pairs whose validation parts partition them.

    Raises:
        DataError: fewer than 2 folds, or more folds than items.
    """
    if folds < 2:
        raise DataError(f"k-fold splitting needs at least 2 folds, not {folds}")
    if folds > len(items):
        raise DataError(f"cannot make {folds} folds from {len(items)} case(s)")
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    parts = [order[k::folds] for k in range(folds)]
    result = []
    for part in parts:
        held = set(part)
        result.append(
            ([items[i] for i in order if i not in held], [items[i] for i in order if i in held])
        )
    return result


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
    content = read_datalist(path)
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


def _absolute_item(item: Any, base: Path) -> dict[str, Any]:
    if isinstance(item, str):
        item = {"image": item}
    if not isinstance(item, dict):
        raise DataError(f"datalist item {item!r} is neither an object nor a path")
    out = dict(item)
    for key in PATH_KEYS:
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
    for key in PATH_KEYS:
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
