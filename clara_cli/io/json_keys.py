"""JSON objects that name a key twice are refused: `json` would silently keep the last one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from clara_cli.errors import ClaraError


def unique_keys(
    path: str | Path, error: type[ClaraError]
) -> Callable[[list[tuple[str, Any]]], dict[str, Any]]:
    """An ``object_pairs_hook`` for ``json.loads`` that raises `error`, naming `path` and the
    key, when an object repeats a key."""

    def check(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                raise error(
                    f"{path}: key {key!r} appears twice in the same object; JSON would "
                    "silently keep only the last one. Remove one of them."
                )
            out[key] = value
        return out

    return check
