"""A lookup table of component classes for one kind (networks, losses, transforms, ...)."""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterable
from typing import Any

from clara_cli.errors import ComponentError


class Registry:
    """Names → callables, filled lazily from modules plus explicit registrations.

    Lookups compare names exactly first, then case-insensitively, so `unet` finds `UNet`; a
    miss lists the closest names.

    Args:
        kind: what the table holds, for messages ("loss", "network").
        modules: dotted module names whose public classes (and capitalised functions) are
            registered, earlier modules winning on a clash.
    """

    def __init__(self, kind: str, modules: Iterable[str]) -> None:
        self.kind = kind
        self.modules = tuple(modules)
        self._table: dict[str, Callable[..., Any]] | None = None
        self._extra: dict[str, Callable[..., Any]] = {}

    def register(self, name: str, obj: Callable[..., Any]) -> None:
        """Add or replace one entry (our own handlers, aliases for renamed classes)."""
        self._extra[name] = obj
        if self._table is not None:
            self._table[name] = obj

    def registered(self) -> list[str]:
        """The names added with `register` (known without importing the modules)."""
        return list(self._extra)

    def _load(self) -> dict[str, Callable[..., Any]]:
        if self._table is None:
            table: dict[str, Callable[..., Any]] = {}
            for module_name in reversed(self.modules):
                module = importlib.import_module(module_name)
                for attr in dir(module):
                    if attr.startswith("_") or not attr[0].isupper():
                        continue
                    obj = getattr(module, attr)
                    if callable(obj):
                        table[attr] = obj
            table.update(self._extra)
            self._table = table
        return self._table

    def names(self) -> list[str]:
        """All registered names, sorted."""
        return sorted(self._load())

    def find(self, name: str) -> Callable[..., Any] | None:
        """The entry called `name` (case-insensitive fallback), or None."""
        table = self._load()
        if name in table:
            return table[name]
        lowered = {k.lower(): v for k, v in table.items()}
        return lowered.get(name.lower())

    def get(self, name: str) -> Callable[..., Any]:
        """The entry called `name`.

        Raises:
            ComponentError: no such entry; the message suggests the closest names.
        """
        found = self.find(name)
        if found is None:
            raise ComponentError(f"unknown {self.kind} {name!r}.{self.suggest(name)}")
        return found

    def suggest(self, name: str) -> str:
        """A hint naming the closest registered names, or '' when none is close."""
        return suggest(name, self._load(), self.modules)


def suggest(name: str, names: Iterable[str], modules: Iterable[str]) -> str:
    """The did-you-mean hint for `name` among `names` (a table searched in `modules`)."""
    table = list(names)
    by_lower = {k.lower(): k for k in table}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=3, cutoff=0.6)
    if not close:
        prefix = [k for k in table if k.lower().startswith(name.lower()[:4])][:5]
        close_names = prefix
    else:
        close_names = [by_lower[c] for c in close]
    if not close_names:
        return f"\n  see the classes of {', '.join(modules)}, or give a dotted 'path'"
    return f"\n  Did you mean {' or '.join(repr(c) for c in close_names)}?"
