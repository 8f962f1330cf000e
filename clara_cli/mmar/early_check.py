"""Find misspelt component names of a run before torch and MONAI are imported.

A workflow declares the section keys it builds (`builds`, e.g. training builds `train.trainer`
and `validate.evaluator`); the keys those reach through `@references` are exactly the ones a
run resolves. Each component in them (switched-off ones and `{"ref": ...}` reuses left out, as
the run leaves them) is looked up in the tables' source index
(`clara_cli.registry.early_lookup`). A name that cannot resolve stops the run with the error
the real lookup would give, ~10 s sooner. Anything this cannot decide (a variable that does
not resolve, an unreadable module, a workflow that declares nothing) is left to the run.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from clara_cli.errors import ClaraError, ComponentError
from clara_cli.mmar import layout
from clara_cli.mmar.items import REFERENCE
from clara_cli.mmar.loader import MmarConfig
from clara_cli.mmar.resolution import LIST_KEYS, SectionResolver, is_component
from clara_cli.mmar.resolved_config import user_code_importable
from clara_cli.mmar.variables import switched_off_as_written
from clara_cli.registry import builtin
from clara_cli.registry.early_lookup import refusal

Builds = Mapping[str, tuple[str, ...]]


def check_component_names(mmar: MmarConfig, builds: Builds | None) -> None:
    """Refuse the first component name of the run that certainly cannot resolve.

    Args:
        mmar: the loaded config and its variables.
        builds: section name ("train", "validate", "infer") → the keys the workflow builds
            itself; None: the workflow does not say, so nothing is checked.

    Raises:
        ComponentError: the message the real lookup would give (with did-you-mean).
    """
    problem = first_refusal(mmar, builds)
    if problem is not None:
        raise ComponentError(problem)


def first_refusal(mmar: MmarConfig, builds: Builds | None) -> str | None:
    """The message for the first name of the run that cannot resolve, else None."""
    if not builds:
        return None
    try:
        sections = _sections(mmar, builds)
    except ClaraError:
        return None  # the run reports a malformed section itself
    with user_code_importable(mmar):
        for section, key in _reachable(sections, builds):
            for raw, kind, path in _entries(sections[section], key):
                problem = _first_in_entry(sections[section], raw, kind, path, mmar)
                if problem is not None:
                    return problem
    return None


def _sections(mmar: MmarConfig, builds: Builds) -> dict[str, SectionResolver]:
    """A resolver per section the workflow builds (for key paths and metrics splitting)."""
    config, source, variables = mmar.config, str(mmar.config_file), mmar.variables
    if "train" in builds:
        if not isinstance(config.get("train"), dict):
            return {}
        train = SectionResolver("train", config["train"], source, variables)
        out = {"train": train}
        if isinstance(config.get("validate"), dict):
            out["validate"] = SectionResolver(
                "validate", config["validate"], source, variables, fallback=train
            )
        return out
    spec = {k: config[k] for k in layout.SECTION_KEYS if k in config}
    return {name: SectionResolver(name, spec, source, variables, prefix="") for name in builds}


def _reachable(sections: dict[str, SectionResolver], builds: Builds) -> Iterator[tuple[str, str]]:
    """(section, key) of every key the run builds: the workflow's, then what they reference."""
    queue = [(s, k) for s, keys in builds.items() if s in sections for k in keys]
    seen: set[tuple[str, str]] = set()
    while queue:
        section, key = queue.pop(0)
        if (section, key) in seen or key not in sections[section].spec:
            continue
        seen.add((section, key))
        yield section, key
        for raw, _, path in _entries(sections[section], key):
            for ref in _references(sections[section], raw, path):
                target = _target(ref, section, sections)
                if target is not None:
                    queue.append(target)


def _target(ref: str, section: str, sections: dict[str, SectionResolver]) -> tuple[str, str] | None:
    """The (section, key) `@ref` in `section` builds (as `resolver.Section.get` finds it)."""
    if ref in sections[section].spec:
        return section, ref
    if section == "train" and ref == "evaluator" and "validate" in sections:
        return "validate", "evaluator"
    if section == "validate" and "train" in sections and ref in sections["train"].spec:
        return "train", ref
    return None


def _entries(resolver: SectionResolver, key: str) -> Iterator[tuple[Any, str | None, str]]:
    """(raw value, kind, key path) of a key, one per item of a list key."""
    kind = builtin.KIND_BY_KEY.get(key)
    if key not in LIST_KEYS:
        yield resolver.spec[key], kind, resolver.path(key)
        return
    try:
        items = resolver.items(key)
    except ClaraError:
        return
    for index, raw in enumerate(items):
        yield raw, kind, f"{resolver.path(key)}[{index}]"


def _substituted(resolver: SectionResolver, raw: Any, path: str) -> Any:
    """The entry as the run resolves it, None when switched off (or not resolvable here)."""
    try:
        if is_component(raw) and switched_off_as_written(
            raw, resolver.variables, path, resolver.source, 0
        ):
            return None
        return resolver._substitute(raw, path)
    except ClaraError:
        return None  # an unresolved variable: the run says so itself


def _components(value: Any, kind: str | None, path: str, source: str) -> Iterator[Any]:
    """(spec, kind, path) of each enabled component in a substituted value, outer first, and
    each string (for references)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _components(item, None, f"{path}[{i}]", source)
    elif is_component(value):
        try:
            if switched_off_as_written(value, None, path, source, 0) is not None:
                return
        except ClaraError:
            return
        if "ref" in value:
            return  # a reuse: the component it copies is checked where it is written
        yield value, kind, path
        args = value.get("args")
        if isinstance(args, dict):
            for name, arg in args.items():
                yield from _components(arg, None, f"{path}.args.{name}", source)
    elif isinstance(value, dict):
        for name, item in value.items():
            yield from _components(item, None, f"{path}.{name}", source)


def _references(resolver: SectionResolver, raw: Any, path: str) -> list[str]:
    value = _substituted(resolver, raw, path)
    found = []
    for item in _components(value, None, path, resolver.source):
        if isinstance(item, str):
            if item.startswith("@") and REFERENCE.fullmatch(item):
                found.append(item[1:])
            elif item.startswith("#") or item.lstrip().startswith("lambda"):
                found.extend(REFERENCE.findall(item))
    return found


def _first_in_entry(
    resolver: SectionResolver, raw: Any, kind: str | None, path: str, mmar: MmarConfig
) -> str | None:
    value = _substituted(resolver, raw, path)
    for item in _components(value, kind, path, resolver.source):
        if isinstance(item, tuple):
            spec, item_kind, item_path = item
            problem = refusal(spec, item_kind, f"{resolver.source}: {item_path}")
            if problem is not None:
                return problem
    return None
