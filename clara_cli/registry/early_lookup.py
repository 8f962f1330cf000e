"""Refuse a component name that cannot resolve, before torch and MONAI are imported.

`refusal(spec, kind, where)` answers what `build.lookup_class` would, from the component tables'
source (`source_index`) instead of the imported modules: the error message when the name
certainly cannot resolve, else None. It may only refuse what the real lookup refuses too, so
whenever it cannot be sure (a module whose names it cannot read) it accepts and leaves the
decision to the real lookup. Families register their components when they are loaded, which
imports no torch; the check runs after that and counts them (`Registry.registered`).

Measured with `clara train -m <copy of the spleen MMAR with "DiceLos"> --set epochs=1 ...` on
the 2-core development machine while it ran a training: before this check the error came after
11.2 s of CPU (18-65 s wall: torch + MONAI import), with it after 0.3 s of CPU (0.3-0.8 s wall).
"""

from __future__ import annotations

import importlib.util
from typing import Any

from clara_cli.registry import builtin, shims
from clara_cli.registry.build import split_name
from clara_cli.registry.registry import suggest
from clara_cli.registry.source_index import module_names


def kind_names(kind: str) -> list[str] | None:
    """The names the table of `kind` can hold, in the real table's order (for identical
    suggestions), or None when one of its modules cannot be read."""
    table: dict[str, None] = {}
    registry = builtin.registry(kind)
    for module in reversed(registry.modules):
        names = module_names(module)
        if names is None:
            return None
        for name in sorted(names):
            if not name.startswith("_") and name[0].isupper():
                table[name] = None
    # Registered entries (a family's, e.g. DeepGrow's stats handler) are registered at
    # family load time without importing torch: the registry lists them already.
    table.update(dict.fromkeys(registry.registered()))
    return list(table)


def refusal(spec: dict[str, Any], kind: str | None, where: str) -> str | None:
    """The error the real lookup of `spec` would raise when it certainly fails, else None.

    Args:
        spec: a component's JSON, variables substituted.
        kind: the table searched first (as for `build.lookup_class`), or None.
        where: `<file>: <key path>` for the message.
    """
    path = spec.get("path")
    if path:
        if not isinstance(path, str) or shims.legacy_path(path):
            return None
        return _missing_top_module(path, where, "path")
    name = spec.get("name")
    if not isinstance(name, str) or not name:
        return None  # the real lookup says what is missing
    cls_name, _ = split_name(name)
    module, _, attr = cls_name.rpartition(".")
    if module and not (module.startswith("monai.") and shims.legacy_class(attr)):
        return _missing_top_module(cls_name, where, "name")
    if shims.legacy_class(attr):
        return None
    wanted = attr.lower()
    order = ([kind] if kind else []) + [k for k in builtin.ANY_KIND_ORDER if k != kind]
    for k in order:
        names = kind_names(k)
        if names is None or any(n.lower() == wanted for n in names):
            return None
    table = builtin.registry(kind or "transform")
    hint = suggest(attr, kind_names(table.kind) or [], table.modules)
    return f"{where}.name: unknown {table.kind} {attr!r}.{hint}"


def _missing_top_module(dotted: str, where: str, field: str) -> str | None:
    """The real import's error when the top-level package of `dotted` is not installed (nor
    in MMAR_ROOT/custom, which the caller has put on sys.path), else None."""
    module_name = dotted.rpartition(".")[0]
    if not module_name:
        return None  # not dotted: the real lookup explains
    top = module_name.partition(".")[0]
    try:
        if importlib.util.find_spec(top) is not None:
            return None
    except (ImportError, ValueError):
        return None
    return (
        f"{where}.{field}: cannot import {module_name!r} for {dotted!r}: No module named {top!r}\n"
        "  user code belongs in MMAR_ROOT/custom/ (it is put on sys.path) or an installed package"
    )
