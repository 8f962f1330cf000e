"""The names a component table can hold, read from the modules' source without importing them.

`clara train` would otherwise find a misspelt component name (`"DiceLos"`) only after importing
torch and MONAI (8-11 s); MONAI's, torch's and ignite's package `__init__.py` files bind their
public names explicitly (`from .dice import DiceLoss, ...`), so parsing them (`ast`, no import)
gives the names quickly (all 18 modules of the tables: 0.08 s, so nothing is cached). No
library offers "the names a module would export,
without executing it", hence this small parser.

The index is a superset by construction: every name bound at a module's top level, in any
branch of an `if`/`try`, counts (constants too). A module it cannot read with certainty (not
found as a `.py` file, a star import it cannot follow, a module `__getattr__`/`__dir__`, writes
to `globals()`) makes the answer "unknown", and callers must then accept every name.
"""

from __future__ import annotations

import ast
import importlib.machinery
import importlib.util
from collections.abc import Iterable
from functools import cache
from pathlib import Path

#: Module-level names that make a module's namespace dynamic (not readable from its source).
_DYNAMIC_DEFS = frozenset({"__getattr__", "__dir__"})


def module_file(module: str) -> Path | None:
    """The `.py` source of a dotted module, found without importing it or its parents.

    None when it is not found or is not plain Python source (an extension module, ...).
    """
    top, *rest = module.split(".")
    try:
        spec = importlib.util.find_spec(top)  # a top-level name: finding imports nothing
    except (ImportError, ValueError):
        return None
    name = top
    for part in rest:
        locations = spec.submodule_search_locations if spec is not None else None
        if not locations:
            return None
        name = f"{name}.{part}"
        spec = importlib.machinery.PathFinder.find_spec(name, list(locations))
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    return Path(spec.origin)


@cache
def module_names(module: str) -> frozenset[str] | None:
    """Every name `module` binds at its top level (what `dir(module)` can show), or None when
    that cannot be told from its source."""
    return _names(module, ())


def _names(module: str, seen: tuple[str, ...]) -> frozenset[str] | None:
    if module in seen:
        return None  # a star-import cycle: do not guess
    parsed = _parse(module)
    if parsed is None:
        return None
    path, tree = parsed
    if _is_dynamic(tree):
        return None
    is_package = path.name == "__init__.py"
    package = module if is_package else module.rpartition(".")[0]
    names: set[str] = set()
    for node in _top_level(tree.body):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Import):
            names.update(a.asname or a.name.partition(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name != "*":
                    names.add(alias.asname or alias.name)
                    continue
                target = _absolute(node.module, node.level, package)
                exported = _star_exports(target, (*seen, module)) if target else None
                if exported is None:
                    return None
                names.update(exported)
        else:
            names.update(_bound_names(node))
    return frozenset(names)


def _parse(module: str) -> tuple[Path, ast.Module] | None:
    """`module`'s source file and syntax tree, or None when it has no readable source."""
    path = module_file(module)
    if path is None:
        return None
    try:
        return path, ast.parse(path.read_bytes(), filename=str(path))
    except (OSError, SyntaxError, ValueError):
        return None


def _star_exports(module: str, seen: tuple[str, ...]) -> frozenset[str] | None:
    """What `from module import *` binds: its literal `__all__`, else its public names."""
    parsed = _parse(module)
    if parsed is None:
        return None
    declared = _literal_all(parsed[1])
    if declared is not None:
        return declared
    names = _names(module, seen)
    return None if names is None else frozenset(n for n in names if not n.startswith("_"))


def _literal_all(tree: ast.Module) -> frozenset[str] | None:
    """`__all__` when every assignment to it is a literal list/tuple of strings, else None."""
    found: set[str] = set()
    assigned = False
    for node in _top_level(tree.body):
        targets: list[ast.expr] = []
        value: ast.expr | None = None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets, value = [node.target], node.value
        if not any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            if _mentions_all(node):
                return None  # __all__.extend(...), __all__ += computed, ...
            continue
        if not isinstance(value, (ast.List, ast.Tuple)):
            return None
        items = [e.value for e in value.elts if isinstance(e, ast.Constant)]
        if len(items) != len(value.elts) or not all(isinstance(i, str) for i in items):
            return None
        found.update(items)  # type: ignore[arg-type]
        assigned = True
    return frozenset(found) if assigned else None


def _mentions_all(node: ast.stmt) -> bool:
    return any(isinstance(n, ast.Name) and n.id == "__all__" for n in ast.walk(node))


def _is_dynamic(tree: ast.Module) -> bool:
    """A module-level `__getattr__`/`__dir__`, or any use of `globals()`/`vars()`/`exec`, or
    `sys.modules[...]` (its namespace may then hold names its source does not bind)."""
    for node in _top_level(tree.body):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in _DYNAMIC_DEFS:
            return True
    for walked in ast.walk(tree):
        if isinstance(walked, ast.Call) and isinstance(walked.func, ast.Name):
            if walked.func.id in ("globals", "vars", "exec", "setattr"):
                return True
        if (
            isinstance(walked, ast.Attribute)
            and walked.attr == "modules"
            and isinstance(walked.value, ast.Name)
            and walked.value.id == "sys"
        ):
            return True
    return False


def _top_level(body: Iterable[ast.stmt]) -> Iterable[ast.stmt]:
    """The statements run at import time, in every branch of `if`/`try`/`with`/`for`/`while`."""
    for node in body:
        yield node
        if isinstance(node, (ast.If, ast.For, ast.AsyncFor, ast.While)):
            yield from _top_level(node.body)
            yield from _top_level(node.orelse)
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            yield from _top_level(node.body)
        elif isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
            yield from _top_level(node.body)  # type: ignore[attr-defined]
            for handler in node.handlers:  # type: ignore[attr-defined]
                yield from _top_level(handler.body)
            yield from _top_level(node.orelse)  # type: ignore[attr-defined]
            yield from _top_level(node.finalbody)  # type: ignore[attr-defined]


def _bound_names(node: ast.stmt) -> set[str]:
    """Names an assignment-like statement binds (`A = B = x`, `A, B = ...`, `for A in ...`)."""
    targets: list[ast.expr] = []
    if isinstance(node, ast.Assign):
        targets = list(node.targets)
    elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
        targets = [node.target]
    elif isinstance(node, (ast.For, ast.AsyncFor)):
        targets = [node.target]
    elif isinstance(node, (ast.With, ast.AsyncWith)):
        targets = [i.optional_vars for i in node.items if i.optional_vars is not None]
    elif isinstance(node, ast.Try):
        return {h.name for h in node.handlers if h.name}
    names: set[str] = set()
    for target in targets:
        names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    for walrus in ast.walk(node):
        if isinstance(walrus, ast.NamedExpr) and isinstance(walrus.target, ast.Name):
            names.add(walrus.target.id)
    return names


def _absolute(module: str | None, level: int, package: str) -> str | None:
    """The absolute name of a (possibly relative) `from X import *` target."""
    if level == 0:
        return module
    parts = package.split(".")
    if level - 1 >= len(parts):
        return None
    base = ".".join(parts[: len(parts) - (level - 1)])
    return f"{base}.{module}" if module else base
