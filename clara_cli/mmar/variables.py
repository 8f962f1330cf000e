"""`{VAR}` substitution in MMAR configs.

A string that is exactly `"{NAME}"` takes the variable's value with its type (`"{epochs}"` →
1260); inside a longer string the value is substituted as text. Expression strings (`#...`,
`lambda ...`) may contain Python braces, so only names that are known variables are replaced
there and unknown ones are left alone.

A switched-off component (`"disabled": true` or a `{var}` that is true, or `"rank": N` for
another rank) is not resolved at all, as in Clara: it is kept as written, only its switch
replaced by the value, so its variables need not exist.
"""

from __future__ import annotations

import re
from typing import Any

from clara_cli.errors import ConfigError
from clara_cli.mmar import layout

_VAR = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_MAX_DEPTH = 20


def substitute(
    value: Any,
    variables: dict[str, Any],
    key_path: str,
    source: str = "",
    rank: int | None = None,
) -> Any:
    """Return `value` with every `{NAME}` replaced, recursing into lists and dicts.

    Args:
        value: any JSON value.
        variables: the merged variables.
        key_path: where `value` sits (`train.loss.args.x`), for error messages.
        source: the file the value comes from, for error messages.
        rank: this process's rank: a component for another `"rank"` is kept as written
            (None: rank switches are left to the caller).

    Raises:
        ConfigError: a `{NAME}` names no variable; says which, in which file and key.
    """
    if isinstance(value, dict):
        switched_off = switched_off_as_written(value, variables, key_path, source, rank)
        if switched_off is not None:
            return switched_off
        return {
            k: substitute(v, variables, _join(key_path, k), source, rank) for k, v in value.items()
        }
    if isinstance(value, list):
        return [
            substitute(v, variables, f"{key_path}[{i}]", source, rank) for i, v in enumerate(value)
        ]
    if isinstance(value, str):
        return _substitute_string(value, variables, key_path, source, 0)
    return value


def switched_off_as_written(
    spec: dict[str, Any],
    variables: dict[str, Any] | None,
    key_path: str,
    source: str = "",
    rank: int | None = None,
) -> dict[str, Any] | None:
    """`spec` as written (switch values resolved) when it is a disabled component or model
    loader, or one for another rank; None when it is switched on (or not switchable).

    Only `disabled` and `rank` are substituted, so the rest of a disabled component may name
    variables that do not exist. `variables=None` means the spec is already substituted.
    """
    if not any(k in spec for k in (*layout.COMPONENT_NAME_KEYS, *layout.MODEL_LOADER_KEYS)):
        return None

    def switch(key: str) -> Any:
        raw = spec[key]
        if variables is None:
            return raw
        return substitute(raw, variables, _join(key_path, key), source)

    if "disabled" in spec and truthy(switch("disabled")):
        return {**spec, "disabled": True}
    if rank is not None and spec.get("rank") is not None:
        component_rank = _rank(switch("rank"), key_path, source)
        if component_rank != rank:
            return {**spec, "rank": component_rank}
    return None


def truthy(value: Any) -> bool:
    """A switch's value as Clara read it: true, "true", "True", "1", "yes" are on."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def _rank(value: Any, key_path: str, source: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConfigError(
            f"{_where(source, _join(key_path, 'rank'))}: expected a process rank (a whole "
            f"number), got {value!r}"
        ) from None


def _substitute_string(
    text: str, variables: dict[str, Any], key_path: str, source: str, depth: int
) -> Any:
    if depth > _MAX_DEPTH:
        raise ConfigError(f"{_where(source, key_path)}: variables refer to each other in a cycle")
    is_code = text.startswith("#") or text.lstrip().startswith("lambda")
    whole = _VAR.fullmatch(text)
    if whole and not is_code:
        name = whole.group(1)
        value = _lookup(name, variables, key_path, source)
        if isinstance(value, str):
            return _substitute_string(value, variables, key_path, source, depth + 1)
        return substitute(value, variables, key_path, source)

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if is_code and name not in variables:
            return match.group(0)
        value = _lookup(name, variables, key_path, source)
        if isinstance(value, str):
            value = _substitute_string(value, variables, key_path, source, depth + 1)
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    return _VAR.sub(replace, text)


def _lookup(name: str, variables: dict[str, Any], key_path: str, source: str) -> Any:
    if name in variables:
        return variables[name]
    import difflib

    close = difflib.get_close_matches(name, list(variables), n=3)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise ConfigError(
        f"{_where(source, key_path)}: unresolved variable {{{name}}}: it is not set in "
        f"environment.json, at the config's top level, or with --set.{hint}\n"
        f"  define it, e.g. `--set {name}=...`"
    )


def _where(source: str, key_path: str) -> str:
    return f"{source}: {key_path}" if source else key_path


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key
