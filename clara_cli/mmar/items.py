"""What resolving a config yields, before anything is built.

A `ResolvedComponent` is one component of a config with its variables substituted and its
class found, its arguments holding `Reference` (`"@model"`) and `Expression` (`"#..."`,
`"lambda ..."`) markers where the built objects will go: the shape of MONAI's
`ConfigComponent` after `get_parsed_content(instantiate=False)`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

REFERENCE = re.compile(r"@([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class Reference:
    """`"@name"`: the built object of another key of the section."""

    name: str

    def __repr__(self) -> str:
        return f"@{self.name}"


@dataclass(frozen=True)
class Expression:
    """Python evaluated at build time: `"#code"` or `"lambda ...: ..."`, as written."""

    text: str

    @property
    def code(self) -> str:
        """The Python source (without the leading `#`)."""
        return self.text[1:] if self.text.startswith("#") else self.text

    @property
    def references(self) -> tuple[str, ...]:
        """The `@name`s the code uses, in order of appearance."""
        return tuple(dict.fromkeys(REFERENCE.findall(self.code)))

    def __repr__(self) -> str:
        return self.text


@dataclass
class ResolvedComponent:
    """One component of a config, resolved but not built.

    Attributes:
        key_path: where it sits (`train.pre_transforms[3]`, `train.trainer.args.x`).
        source: the config file.
        spec: its JSON with variables substituted (as written when switched off).
        kind: the component table searched first ("transform", "network", ...), or None.
        target: the class or function it resolves to (None when switched off).
        args: constructor arguments: plain values, `Reference`/`Expression` markers, nested
            `ResolvedComponent`s, and lists/dicts of these.
        shims: the legacy rewrites that apply (MONAI 0.x names and arguments), one note each.
        disabled: `"disabled"` is true (literally or through a variable).
        rank: the `"rank"` it is meant for, or None for every rank.
        for_other_rank: it is meant for another rank than the one resolving.
        reuses: for `{"ref": NAME}`, the key path of the component it reuses.
    """

    key_path: str
    source: str
    spec: dict[str, Any]
    kind: str | None = None
    target: Callable[..., Any] | None = None
    args: dict[str, Any] = field(default_factory=dict)
    shims: list[str] = field(default_factory=list)
    disabled: bool = False
    rank: int | None = None
    for_other_rank: bool = False
    reuses: str | None = None

    @property
    def skipped(self) -> bool:
        """Switched off here: disabled or for another rank (never resolved, never built)."""
        return self.disabled or self.for_other_rank

    @property
    def where(self) -> str:
        """`<config file>: <key path>` for messages."""
        return f"{self.source}: {self.key_path}"

    @property
    def label(self) -> str:
        """The name it is written with (`name`, else `path`, else the reused name)."""
        return str(self.spec.get("name") or self.spec.get("path") or self.spec.get("ref") or "")

    @property
    def class_name(self) -> str:
        """`module.Class` of the target, or "" when switched off."""
        if self.target is None:
            return ""
        module = getattr(self.target, "__module__", "")
        name = getattr(self.target, "__qualname__", getattr(self.target, "__name__", "?"))
        return f"{module}.{name}" if module else name

    def references(self) -> set[str]:
        """Every `@name` its arguments use, nested components and expressions included."""
        return references_in(self.args)

    def nested(self) -> Iterator[ResolvedComponent]:
        """The components inside its arguments, depth first."""
        for value in walk(self.args):
            if isinstance(value, ResolvedComponent):
                yield value
                yield from value.nested()

    def describe(self) -> str:
        """One line: key path, class (or why it is skipped), arguments, shims."""
        if self.disabled:
            return f"{self.key_path}: {self.label} (disabled)"
        if self.for_other_rank:
            return f"{self.key_path}: {self.label} (rank {self.rank} only)"
        args = ", ".join(f"{k}={_short(v)}" for k, v in self.args.items())
        line = f"{self.key_path}: {self.class_name}({args})"
        if self.reuses:
            line += f"  [reuses {self.reuses}]"
        for note in self.shims:
            line += f"\n    shim: {note}"
        return line


@dataclass(frozen=True)
class Problem:
    """Something that would stop a run, found while resolving (the message names the place)."""

    key_path: str
    message: str

    def __str__(self) -> str:
        return self.message


def references_in(value: Any) -> set[str]:
    """Every `@name` a resolved value uses (not those inside switched-off components)."""
    found: set[str] = set()
    for item in walk(value):
        if isinstance(item, Reference):
            found.add(item.name)
        elif isinstance(item, Expression):
            found.update(item.references)
        elif isinstance(item, ResolvedComponent) and not item.skipped:
            found.update(references_in(item.args))
    return found


def walk(value: Any) -> Iterator[Any]:
    """`value` and, for lists and plain dicts, everything inside (not inside components)."""
    yield value
    if isinstance(value, list):
        for item in value:
            yield from walk(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from walk(item)


def _short(value: Any) -> str:
    if isinstance(value, ResolvedComponent):
        return f"<{value.label}>" if not value.skipped else f"<{value.label}: skipped>"
    if isinstance(value, list) and any(isinstance(v, ResolvedComponent) for v in value):
        return "[" + ", ".join(_short(v) for v in value) + "]"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
