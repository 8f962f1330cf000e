"""Predicates rules are built from: class checks by dotted name, section name, combinations.

Rule modules never import torch/MONAI at module level: :func:`subclass_of` names classes by
dotted path and imports them on first use, so registering a rule (while the CLI lists the
families) costs nothing.
"""

from __future__ import annotations

import importlib
import inspect
from functools import cache

from clara_cli.engine.wiring.rules import BuildContext, Predicate


def subclass_of(*names: str, exclude: tuple[str, ...] = ()) -> Predicate:
    """True when the target is a class derived from one of `names` (dotted paths), and from
    none of `exclude`."""

    def predicate(ctx: BuildContext) -> bool:
        target = ctx.target
        if not inspect.isclass(target) or not issubclass(target, _classes(names)):
            return False
        return not (exclude and issubclass(target, _classes(exclude)))

    return predicate


def in_section(name: str) -> Predicate:
    """True in the section called `name` ("train", "validate")."""
    return lambda ctx: ctx.section.name == name


def all_of(*predicates: Predicate) -> Predicate:
    """True when every predicate is (checked in order, stopping at the first false one)."""
    return lambda ctx: all(p(ctx) for p in predicates)


def always(ctx: BuildContext) -> bool:
    """True for every component."""
    return True


@cache
def _classes(names: tuple[str, ...]) -> tuple[type, ...]:
    found = []
    for name in names:
        module, _, attr = name.rpartition(".")
        found.append(getattr(importlib.import_module(module), attr))
    return tuple(found)
