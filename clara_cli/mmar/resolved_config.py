"""Resolve every component of a workflow config and build none: what `clara check` prints.

`resolve_config(mmar)` resolves each section key (variables, classes, shims, references and
expressions kept as markers), collects the problems a run would stop on (unknown names with
did-you-mean, unresolved variables, references to missing keys, reference cycles) instead of
stopping at the first, and never instantiates a component or reads a file beyond the
already-loaded config and environment.json (user code named by `path` is imported, as
finding its class needs).
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from clara_cli.errors import ClaraError, ConfigError
from clara_cli.mmar import layout
from clara_cli.mmar.items import Problem, ResolvedComponent, references_in, walk
from clara_cli.mmar.loader import MmarConfig
from clara_cli.mmar.resolution import LIST_KEYS, SectionResolver


@dataclass
class ResolvedConfig:
    """A workflow config resolved but not built.

    Attributes:
        source: the config file.
        sections: section name → its resolver ("train", "validate"; a validation or
            inference config has one, named "validate" or "infer", with key paths bare).
        entries: key path of each section key → its resolved value.
        problems: what would stop a run, in config order.
    """

    source: str
    sections: dict[str, SectionResolver]
    entries: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def components(self) -> Iterator[ResolvedComponent]:
        """Every component, nested ones and switched-off ones included, in config order."""
        for value in self.entries.values():
            for item in walk(value):
                if isinstance(item, ResolvedComponent):
                    yield item
                    yield from item.nested()

    def get(self, key_path: str) -> Any:
        """The resolved value at a key path (`train.loss`, `train.pre_transforms[3]`,
        `train.trainer.args.network`, `pre_transforms[0]`).

        Raises:
            ConfigError: nothing resolved sits there; suggests close key paths.
        """
        index = self._index()
        if key_path in index:
            return index[key_path]
        close = difflib.get_close_matches(key_path, list(index), n=3)
        hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise ConfigError(f"{self.source}: nothing resolved at {key_path!r}.{hint}")

    @property
    def ok(self) -> bool:
        """No problem found."""
        return not self.problems

    def _index(self) -> dict[str, Any]:
        index: dict[str, Any] = dict(self.entries)
        for path, value in self.entries.items():
            if isinstance(value, list):
                index.update({f"{path}[{i}]": v for i, v in enumerate(value)})
        for component in self.components():
            index[component.key_path] = component
            for name, arg in component.args.items():
                index.setdefault(f"{component.key_path}.args.{name}", arg)
        return index


def resolve_config(
    mmar: MmarConfig, sections: Iterable[str] | None = None, rank: int = 0
) -> ResolvedConfig:
    """Resolve the components of a workflow config without building any.

    Args:
        mmar: the loaded config and its variables (`load_mmar_config`; `--set` included).
        sections: names of the sections to resolve ("train", "validate"; "validate" or
            "infer" for a validation/inference config's top level); None: all.
        rank: the process rank to resolve for (components for another rank are skipped).
    """
    source = str(mmar.config_file)
    resolvers = _section_resolvers(mmar, rank)
    wanted = set(sections) if sections is not None else set(resolvers)
    unknown = wanted - set(resolvers)
    if unknown:
        raise ConfigError(
            f"{source}: no section {', '.join(sorted(unknown))}: this config has "
            f"{', '.join(resolvers) or 'none'}"
        )
    resolved = ResolvedConfig(source, {n: r for n, r in resolvers.items() if n in wanted})
    with user_code_importable(mmar):
        for resolver in resolved.sections.values():
            _resolve_section(resolver, resolved)
    _check_references(resolved, resolvers)
    return resolved


def _section_resolvers(mmar: MmarConfig, rank: int) -> dict[str, SectionResolver]:
    config, source, variables = mmar.config, str(mmar.config_file), mmar.variables
    if isinstance(config.get("train"), dict):
        train = SectionResolver("train", config["train"], source, variables, rank)
        out = {"train": train}
        if isinstance(config.get("validate"), dict):
            out["validate"] = SectionResolver(
                "validate", config["validate"], source, variables, rank, fallback=train
            )
        return out
    spec = {k: config[k] for k in layout.SECTION_KEYS if k in config}
    name = "infer" if "inference" in mmar.config_file.name else "validate"
    return {name: SectionResolver(name, spec, source, variables, rank, prefix="")}


def _resolve_section(resolver: SectionResolver, resolved: ResolvedConfig) -> None:
    """Resolve each key (each item of a list key), recording problems instead of stopping."""
    for key in resolver.keys():
        path = resolver.path(key)
        try:
            if key not in LIST_KEYS:
                resolved.entries[path] = resolver.entry(key)
                continue
            items = resolver.items(key)
        except ClaraError as err:
            resolved.problems.append(Problem(path, str(err)))
            continue
        values = []
        for i in range(len(items)):
            try:
                values.append(resolver.item(key, i))
            except ClaraError as err:
                resolved.problems.append(Problem(f"{path}[{i}]", str(err)))
        resolved.entries[path] = values


def _check_references(resolved: ResolvedConfig, resolvers: dict[str, SectionResolver]) -> None:
    """References to keys no section defines, and reference cycles (across train and
    validate: validate falls back to train, train's `@evaluator` is validate's)."""
    graph: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for name, resolver in resolved.sections.items():
        for key in resolver.keys():
            value = resolved.entries.get(resolver.path(key))
            edges = graph.setdefault((name, key), [])
            for ref in sorted(references_in(value)):
                target = _target(ref, name, resolvers)
                if target is None:
                    defined = ", ".join(sorted(resolver.keys())) or "nothing"
                    resolved.problems.append(
                        Problem(
                            resolver.path(key),
                            f"{resolved.source}: {resolver.path(key)}: reference @{ref} names "
                            f"nothing: this section defines {defined}",
                        )
                    )
                elif target[1] != "conf":
                    edges.append(target)
    for cycle in _cycles(graph):
        chain = " -> ".join(f"@{key}" for _, key in cycle)
        resolved.problems.append(
            Problem(
                resolvers[cycle[0][0]].path(cycle[0][1]),
                f"{resolved.source}: circular references: {chain}",
            )
        )


def _target(
    ref: str, section: str, resolvers: dict[str, SectionResolver]
) -> tuple[str, str] | None:
    """The (section, key) a `@ref` in `section` resolves to, as `resolver.Section` does."""
    if ref == "conf":
        return (section, "conf")
    if ref in resolvers[section].spec:
        return (section, ref)
    if section == "train" and ref == "evaluator" and "validate" in resolvers:
        if "evaluator" in resolvers["validate"].spec:
            return ("validate", "evaluator")
    if section == "validate" and "train" in resolvers and ref in resolvers["train"].spec:
        return ("train", ref)
    return None


def _cycles(graph: dict[tuple[str, str], list[tuple[str, str]]]) -> list[list[tuple[str, str]]]:
    """Each reference cycle once, as the chain from its first node back to it."""
    found: list[list[tuple[str, str]]] = []
    seen_cycles: set[frozenset[tuple[str, str]]] = set()
    done: set[tuple[str, str]] = set()

    def visit(node: tuple[str, str], stack: list[tuple[str, str]]) -> None:
        if node in stack:
            cycle = [*stack[stack.index(node) :], node]
            if frozenset(cycle) not in seen_cycles:
                seen_cycles.add(frozenset(cycle))
                found.append(cycle)
            return
        if node in done:
            return
        stack.append(node)
        for nxt in graph.get(node, []):
            visit(nxt, stack)
        stack.pop()
        done.add(node)

    for node in graph:
        visit(node, [])
    return found


@contextmanager
def user_code_importable(mmar: MmarConfig) -> Iterator[None]:
    """MMAR_ROOT/custom and MMAR_ROOT on sys.path while resolving (as during a run)."""
    added = [
        str(p)
        for p in (mmar.mmar_root / "custom", mmar.mmar_root)
        if p.is_dir() and str(p) not in sys.path
    ]
    sys.path[:0] = added
    try:
        yield
    finally:
        for p in added:
            if p in sys.path:
                sys.path.remove(p)
