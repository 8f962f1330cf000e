"""Build one section of an MMAR config into Python objects, from its resolved view.

A section (`train`, `validate`, or a validation/inference config's top level) maps keys to
components. `resolution.SectionResolver` resolves each key (variables, classes, reference
and expression markers, switched-off components); this module builds what it resolved, on
demand, so `@name` references are built in dependency order; a reference cycle is an error
that lists the chain. Clara 4.0 configs leave the wiring implicit (no `@model` anywhere):
the engine's `before_build` hook fills the standard arguments.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from clara_cli.errors import ComponentError, ConfigError
from clara_cli.mmar.items import REFERENCE, Expression, Reference, ResolvedComponent
from clara_cli.mmar.resolution import LIST_KEYS, SectionResolver, is_component
from clara_cli.mmar.variables import truthy
from clara_cli.registry import build, shims

SKIP = object()  # a disabled component, or one meant for another rank

# Kept for callers that imported them from here.
_truthy = truthy
__all__ = ["SKIP", "Runtime", "Section", "is_component"]


@dataclass
class Runtime:
    """Facts about the running process that building depends on.

    Attributes:
        rank: this process's distributed rank (components with another `"rank"` are skipped).
        world_size: number of processes.
        device: the torch device string this rank computes on ("cpu", "cuda:0").
        hooks: per-kind callables applied after construction or to fill arguments; the
            engine provides them (wiring of Clara 4.0 configs, device placement, DDP).
    """

    rank: int = 0
    world_size: int = 1
    device: str = "cpu"
    hooks: dict[str, Callable[..., Any]] = field(default_factory=dict)


class Section:
    """Builds the components of one config section on demand.

    Args:
        name: "train", "validate", ... (key paths in messages start with it, or are bare
            when the section is a file's top level).
        spec: the section's JSON: as written when `variables` are given, else substituted.
        source: the config file, for messages.
        runtime: rank, device and the engine's hooks.
        conf: what `@conf` means (the whole substituted config), or a function giving it
            (called once, when a component first refers to it).
        fallback: a section consulted for references this one does not define (validate →
            train, as Clara resolved `@model` in the validate section).
        prefix: key-path prefix; "" for a file's top level.
        variables: the run's variables: each component's `{VAR}`s are substituted when it is
            resolved, so a disabled one never needs its variables.
    """

    resolver: SectionResolver

    def __init__(
        self,
        name: str,
        spec: dict[str, Any],
        source: str,
        runtime: Runtime,
        conf: dict[str, Any] | Callable[[], dict[str, Any]],
        fallback: Section | None = None,
        prefix: str | None = None,
        variables: dict[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.source = source
        self.runtime = runtime
        self._conf = conf
        self.fallback = fallback
        self.resolver = SectionResolver(
            name,
            spec,
            source,
            variables,
            rank=runtime.rank,
            prefix=prefix,
            fallback=fallback.resolver if fallback is not None else None,
        )
        self.prefix = self.resolver.prefix
        self.spec = self.resolver.spec
        self.built: dict[str, Any] = {}
        self.links: dict[str, Callable[[], Any]] = {}
        self._stack: list[str] = []

    @property
    def conf(self) -> dict[str, Any]:
        """The whole substituted config (`@conf`)."""
        if callable(self._conf):
            self._conf = self._conf()
        return self._conf

    # ------------------------------------------------------------------ lookup
    def has(self, key: str) -> bool:
        """Whether `key` is defined here (or provided/linked)."""
        return key in self.built or key in self.links or key in self.spec

    def provide(self, key: str, value: Any) -> None:
        """Set an already-built object for `key` (the engine supplies loaded models)."""
        self.built[key] = value

    def get(self, key: str) -> Any:
        """The built object for a section key; builds it (and what it refers to) once."""
        if key in self.built:
            return self.built[key]
        if key == "conf":
            return self.conf
        if key in self._stack:
            chain = " -> ".join(f"@{k}" for k in [*self._stack, key])
            raise ConfigError(f"{self.source}: circular references: {chain}")
        if key in self.links:
            value = self.links[key]()
        elif key in self.spec:
            self._stack.append(key)
            try:
                value = self._build_key(key)
            finally:
                self._stack.pop()
        elif self.fallback is not None and self.fallback.has(key):
            return self.fallback.get(key)
        else:
            raise ConfigError(
                f"{self.source}: {self.resolver.path(key)}: reference @{key} names nothing: "
                f"this section defines {', '.join(sorted(self.spec)) or 'nothing'}"
            )
        self.built[key] = value
        return value

    def get_optional(self, key: str) -> Any:
        """Like get, but None when the key is absent or disabled."""
        if not self.has(key) and not (self.fallback and self.fallback.has(key)):
            return None
        value = self.get(key)
        return None if value is SKIP else value

    # ---------------------------------------------------------------- building
    def _build_key(self, key: str) -> Any:
        resolved = self.resolver.entry(key)
        if key in LIST_KEYS:
            enabled = [r for r in resolved if not _skipped(r)]
            items = [self.build(r, r.key_path) for r in enabled]
            return self._wrap_list(key, enabled, items)
        if key == "key_metric":
            metric = self.build(resolved, self.resolver.path(key))
            if metric is SKIP:
                return None
            return {_metric_label(resolved): metric}
        return self.build(resolved, self.resolver.path(key))

    def _wrap_list(self, key: str, resolved: list[Any], items: list[Any]) -> Any:
        if key in ("pre_transforms", "post_transforms"):
            from monai.transforms import Compose

            return Compose(items)
        if key == "additional_metrics":
            return {_metric_label(r): m for r, m in zip(resolved, items, strict=True)} or None
        return items

    def build(self, value: Any, path: str) -> Any:
        """Build a resolved value: components constructed, markers replaced by what they
        refer to or evaluate to; a switched-off component gives SKIP."""
        if isinstance(value, ResolvedComponent):
            return self._construct(value)
        if isinstance(value, Reference):
            target = self.get(value.name)
            return None if target is SKIP else target
        if isinstance(value, Expression):
            return self._evaluate(value, path)
        if isinstance(value, list):
            items = [self.build(v, f"{path}[{i}]") for i, v in enumerate(value)]
            return [i for i in items if i is not SKIP]
        if isinstance(value, dict):
            return {k: self._argument(v, f"{path}.{k}") for k, v in value.items()}
        return value

    def _argument(self, value: Any, path: str) -> Any:
        built = self.build(value, path)
        return None if built is SKIP else built

    def _construct(self, component: ResolvedComponent) -> Any:
        if component.skipped:
            return SKIP
        assert component.target is not None
        for note in component.shims:
            shims.warn_once(component.where, note)
        path = component.key_path
        args = {k: self._argument(v, f"{path}.args.{k}") for k, v in component.args.items()}
        hook = self.runtime.hooks.get("before_build")
        if hook is not None:
            args = hook(self, component.target, component.spec, args, component.where)
        label = build.split_name(component.label)[0]
        obj = build.construct(component.target, label, args, component.where)
        after = self.runtime.hooks.get("after_build")
        return after(self, obj, component.spec, component.where) if after is not None else obj

    def _evaluate(self, expression: Expression, path: str) -> Any:
        # Configs are programs (Clara evaluated these too): trust them like code.
        import monai
        import numpy
        import torch

        scope: dict[str, Any] = {"monai": monai, "torch": torch, "np": numpy, "numpy": numpy}

        def bind(match: re.Match[str]) -> str:
            name = match.group(1)
            scope[f"_ref_{name}"] = self.get(name)
            return f"_ref_{name}"

        code = REFERENCE.sub(bind, expression.code)
        try:
            return eval(code, scope)  # noqa: S307 - config expressions are code by design
        except Exception as err:
            raise ComponentError(
                f"{self.source}: {path}: expression {expression.code!r} failed: "
                f"{type(err).__name__}: {err}"
            ) from err


def _skipped(value: Any) -> bool:
    return isinstance(value, ResolvedComponent) and value.skipped


def _metric_label(component: Any) -> str:
    spec = component.spec if isinstance(component, ResolvedComponent) else {}
    label = spec.get("log_label") or spec.get("name") or spec.get("path")
    if not isinstance(label, str):
        where = getattr(component, "where", "metric")
        raise ConfigError(f"{where}: a metric needs a 'log_label' or 'name'")
    return build.split_name(label)[1]
