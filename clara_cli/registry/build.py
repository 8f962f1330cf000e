"""Find a config component's class and construct it, with errors that name the config key."""

from __future__ import annotations

import difflib
import importlib
import inspect
from collections.abc import Callable
from typing import Any

from clara_cli.errors import ComponentError, clara_error_in
from clara_cli.registry import builtin, shims


def split_name(name: str) -> tuple[str, str]:
    """Clara 3's `"Class#alias"` → ("Class", "alias"); a plain name is its own alias."""
    cls, _, alias = name.partition("#")
    return cls, alias or cls


def find_class(
    spec: dict[str, Any], kind: str | None, where: str
) -> tuple[Callable[..., Any], dict[str, Any]]:
    """The callable a component spec names, plus fixed arguments a legacy shim adds.

    Like `lookup_class`, and reports (once) each legacy rewrite it applies.
    """
    target, fixed, notes = lookup_class(spec, kind, where)
    for note in notes:
        shims.warn_once(where, note)
    return target, fixed


def lookup_class(
    spec: dict[str, Any], kind: str | None, where: str
) -> tuple[Callable[..., Any], dict[str, Any], list[str]]:
    """The callable a component spec names, fixed arguments a legacy shim adds, and a note
    per legacy rewrite (nothing is logged: the caller reports the notes).

    `path` (a dotted import, user code in MMAR_ROOT/custom included) wins over `name`; a name
    is looked up in the table of `kind`, then in every other table.

    Raises:
        ComponentError: nothing of that name or path; suggests close names.
    """
    path = spec.get("path")
    if path:
        renamed_path = shims.legacy_path(path)
        if renamed_path:
            legacy_kind, new_name = renamed_path
            note = f"path {path!r} is Clara-internal; using {new_name}"
            return _registered(legacy_kind, new_name, f"{where}.path"), {}, [note]
        return import_dotted(path, where), {}, []
    name = spec.get("name")
    if not isinstance(name, str) or not name:
        raise ComponentError(f"{where}: a component needs a 'name' or a 'path'")
    cls_name, _ = split_name(name)
    module, _, attr = cls_name.rpartition(".")
    if module and not (module.startswith("monai.") and shims.legacy_class(attr)):
        # A dotted name (Clara's AIAA configs spell `monai.transforms.LoadImaged`) is a path.
        return import_dotted(cls_name, where, field="name"), {}, []
    cls_name = attr
    renamed_class = shims.legacy_class(cls_name)
    if renamed_class:
        legacy_kind, new_name, fixed = renamed_class
        notes = []
        if new_name != cls_name:
            extra = ", ".join(f"{k}={v!r}" for k, v in fixed.items())
            notes.append(f"{cls_name} was removed from MONAI; using {new_name}({extra})")
        return _registered(legacy_kind, new_name, f"{where}.name"), dict(fixed), notes
    order = ([kind] if kind else []) + [k for k in builtin.ANY_KIND_ORDER if k != kind]
    for k in order:
        found = builtin.registry(k).find(cls_name)
        if found is not None:
            return found, {}, []
    table = builtin.registry(kind or "transform")
    raise ComponentError(
        f"{where}.name: unknown {table.kind} {cls_name!r}.{table.suggest(cls_name)}"
    )


def _registered(kind: str, name: str, where: str) -> Callable[..., Any]:
    """A registry entry a shim points at; a miss names the config key."""
    try:
        return builtin.registry(kind).get(name)
    except ComponentError as err:
        raise ComponentError(f"{where}: {err}") from None


def import_dotted(path: str, where: str, field: str = "path") -> Callable[..., Any]:
    """Import `package.module.Name` (MMAR_ROOT/custom is on sys.path during a run).

    `field` is the config key that holds the dotted name ("path", or "name"), for messages.
    """
    module_name, _, attr = path.rpartition(".")
    if not module_name:
        raise ComponentError(
            f"{where}.{field}: {path!r} is not a dotted path like 'pkg.module.Class'"
        )
    shims.provide_removed_attributes()
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ComponentError(
            f"{where}.{field}: cannot import {module_name!r} for {path!r}: {err}\n"
            "  user code belongs in MMAR_ROOT/custom/ (it is put on sys.path) or an installed package"
        ) from None
    try:
        return getattr(module, attr)  # type: ignore[no-any-return]
    except AttributeError:
        names = [n for n in dir(module) if not n.startswith("_")]
        close = difflib.get_close_matches(attr, names, n=3)
        hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise ComponentError(f"{where}.{field}: {module_name!r} has no {attr!r}.{hint}") from None


def construct(target: Callable[..., Any], label: str, args: dict[str, Any], where: str) -> Any:
    """Call `target(**args)`; a mismatch or failure names the component, key and argument.

    Raises:
        ComponentError: unknown or missing arguments, or the constructor raised.
    """
    _check_arguments(target, label, args, where)
    try:
        return target(**args)
    except ComponentError:
        raise
    except Exception as err:
        cause = clara_error_in(err)
        if cause is not None:
            # Already says what and where (a transform refusing a file while a dataset
            # caches it); MONAI's "applying transform <... object at 0x...>" adds nothing.
            raise cause from None
        shown = ", ".join(f"{k}={_short(v)}" for k, v in args.items())
        raise ComponentError(
            f"{where}: could not build {label}({shown}):\n  {type(err).__name__}: {err}"
        ) from err


def _check_arguments(
    target: Callable[..., Any], label: str, args: dict[str, Any], where: str
) -> None:
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return
    params = sig.parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        accepted_any = True
    else:
        accepted_any = False
    names = [n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if not accepted_any:
        for arg in args:
            if arg not in params:
                close = difflib.get_close_matches(arg, names, n=2)
                hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
                raise ComponentError(
                    f"{where}.args.{arg}: {label} has no argument {arg!r}.{hint}\n"
                    f"  {label} accepts: {', '.join(names)}"
                )
    missing = [
        n
        for n, p in params.items()
        if p.default is p.empty
        and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        and n not in args
        and n != "self"
    ]
    if missing:
        raise ComponentError(
            f"{where}: {label} needs argument(s) {', '.join(map(repr, missing))} in 'args'"
        )


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
