"""Turn one section of a substituted MMAR config into Python objects.

A section (`train`, `validate`, or a validation/inference config's top level) maps keys to
components. Components are built on demand, so `@name` references resolve in dependency
order; a reference cycle is an error that lists the chain. Clara 4.0 configs leave the wiring
implicit (no `@model` anywhere): the `wiring` hook fills the standard arguments.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from clara_cli.errors import ComponentError, ConfigError
from clara_cli.registry import build, builtin

SKIP = object()  # a disabled component, or one meant for another rank
_REF = re.compile(r"@([A-Za-z_][A-Za-z0-9_]*)")

# Section keys that hold lists, and what a reference to the whole list means.
_LIST_KEYS = ("pre_transforms", "post_transforms", "handlers", "additional_metrics", "metrics")


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
        spec: the section's substituted JSON.
        source: the config file, for messages.
        runtime: rank, device and the engine's hooks.
        conf: the whole substituted config (what `@conf` means).
        fallback: a section consulted for references this one does not define (validate →
            train, as Clara resolved `@model` in the validate section).
        prefix: key-path prefix; "" for a file's top level.
    """

    def __init__(
        self,
        name: str,
        spec: dict[str, Any],
        source: str,
        runtime: Runtime,
        conf: dict[str, Any],
        fallback: Section | None = None,
        prefix: str | None = None,
    ) -> None:
        self.name = name
        self.spec = _split_metrics(spec)
        self.source = source
        self.runtime = runtime
        self.conf = conf
        self.fallback = fallback
        self.prefix = name if prefix is None else prefix
        self.built: dict[str, Any] = {}
        self.links: dict[str, Callable[[], Any]] = {}
        self._stack: list[str] = []

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
                f"{self.source}: {self._path(key)}: reference @{key} names nothing: "
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
        value = self.spec[key]
        kind = builtin.KIND_BY_KEY.get(key)
        path = self._path(key)
        if key in _LIST_KEYS:
            if isinstance(value, dict):
                value = [value]
            if not isinstance(value, list):
                raise ConfigError(f"{self.source}: {path}: expected a list of components")
            items = [self.build_component(v, kind, f"{path}[{i}]") for i, v in enumerate(value)]
            items = [i for i in items if i is not SKIP]
            return self._wrap_list(key, items)
        if key == "key_metric":
            metric = self.build_component(value, kind, path)
            if metric is SKIP:
                return None
            return {self._metric_label(value, path): metric}
        return self.build_component(value, kind, path)

    def _wrap_list(self, key: str, items: list[Any]) -> Any:
        if key in ("pre_transforms", "post_transforms"):
            from monai.transforms import Compose

            return Compose(items)
        if key == "additional_metrics":
            specs = [s for s in self._as_list(self.spec[key]) if self._enabled(s)]
            return {
                self._metric_label(s, key): m for s, m in zip(specs, items, strict=True)
            } or None
        return items

    def _as_list(self, value: Any) -> list[Any]:
        return value if isinstance(value, list) else [value]

    def _enabled(self, spec: Any) -> bool:
        return not (
            isinstance(spec, dict) and (_truthy(spec.get("disabled")) or self._other_rank(spec))
        )

    def _other_rank(self, spec: dict[str, Any]) -> bool:
        rank = spec.get("rank")
        return rank is not None and int(rank) != self.runtime.rank

    def _metric_label(self, spec: dict[str, Any], where: str) -> str:
        label = spec.get("log_label") or spec.get("name") or spec.get("path")
        if not isinstance(label, str):
            raise ConfigError(f"{self.source}: {where}: a metric needs a 'log_label' or 'name'")
        return build.split_name(label)[1]

    def build_component(self, spec: Any, kind: str | None, path: str) -> Any:
        """Build one component spec (or pass a plain value through resolution)."""
        if not is_component(spec):
            return self.resolve(spec, path)
        if _truthy(spec.get("disabled")) or self._other_rank(spec):
            return SKIP
        if "ref" in spec:
            return self._build_ref(spec, kind, path)
        where = f"{self.source}: {path}"
        target, fixed = build.find_class(spec, kind, where)
        label = spec.get("name") or spec.get("path")
        args_spec = spec.get("args", {}) or {}
        if not isinstance(args_spec, dict):
            raise ConfigError(f"{where}.args: expected an object of keyword arguments")
        args = {**fixed, **{k: self.resolve(v, f"{path}.args.{k}") for k, v in args_spec.items()}}
        hook = self.runtime.hooks.get("before_build")
        if hook is not None:
            args = hook(self, target, spec, args, where)
        from clara_cli.registry import shims

        args = shims.upgrade_args(str(label), target, args, where)
        obj = build.construct(target, build.split_name(str(label))[0], args, where)
        after = self.runtime.hooks.get("after_build")
        return after(self, obj, spec, where) if after is not None else obj

    def _build_ref(self, spec: dict[str, Any], kind: str | None, path: str) -> Any:
        name = spec["ref"]
        origin = self.fallback or self
        found = _find_named(origin.spec, name) or _find_named(self.spec, name)
        if found is None:
            raise ConfigError(
                f"{self.source}: {path}.ref: no component named {name!r} in the "
                f"{origin.name} section to reuse"
            )
        return self.build_component(found, kind, path)

    # ------------------------------------------------------------ resolution
    def resolve(self, value: Any, path: str) -> Any:
        """Resolve references, expressions and nested components inside a value."""
        if isinstance(value, str):
            if value.startswith("@") and _REF.fullmatch(value):
                target = self.get(value[1:])
                return None if target is SKIP else target
            if value.startswith("#"):
                return self._evaluate(value[1:], path)
            if value.lstrip().startswith("lambda"):
                return self._evaluate(value, path)
            return value
        if isinstance(value, list):
            items = [self.build_component(v, None, f"{path}[{i}]") for i, v in enumerate(value)]
            return [i for i in items if i is not SKIP]
        if is_component(value):
            return self.build_component(value, None, path)
        if isinstance(value, dict):
            return {k: self.resolve(v, f"{path}.{k}") for k, v in value.items()}
        return value

    def _evaluate(self, expression: str, path: str) -> Any:
        # Configs are programs (Clara evaluated these too): trust them like code.
        import monai
        import numpy
        import torch

        scope: dict[str, Any] = {"monai": monai, "torch": torch, "np": numpy, "numpy": numpy}

        def bind(match: re.Match[str]) -> str:
            name = match.group(1)
            scope[f"_ref_{name}"] = self.get(name)
            return f"_ref_{name}"

        code = _REF.sub(bind, expression)
        try:
            return eval(code, scope)  # noqa: S307 - config expressions are code by design
        except Exception as err:
            raise ComponentError(
                f"{self.source}: {path}: expression {expression!r} failed: {type(err).__name__}: {err}"
            ) from err

    def _path(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix else key


def _split_metrics(spec: dict[str, Any]) -> dict[str, Any]:
    """Clara 4.0's `metrics` list as 4.1's `key_metric` + `additional_metrics`.

    The entry with `is_key_metric: true` (else the first enabled one) becomes the key metric;
    the others are additional metrics. A section that already has `key_metric` is unchanged.
    """
    metrics = spec.get("metrics")
    if metrics is None or "key_metric" in spec:
        return spec
    items = metrics if isinstance(metrics, list) else [metrics]
    enabled = [m for m in items if not (isinstance(m, dict) and _truthy(m.get("disabled")))]
    if not enabled:
        return {k: v for k, v in spec.items() if k != "metrics"}
    key = next((m for m in enabled if isinstance(m, dict) and m.get("is_key_metric")), enabled[0])
    others = [m for m in enabled if m is not key]
    out = {k: v for k, v in spec.items() if k != "metrics"}
    out["key_metric"] = key
    if others:
        out["additional_metrics"] = others
    return out


def is_component(value: Any) -> bool:
    """A JSON object that names a class: has `name`, `path` or `ref`."""
    return isinstance(value, dict) and any(k in value for k in ("name", "path", "ref"))


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def _find_named(tree: Any, name: str) -> dict[str, Any] | None:
    """The first component in `tree` whose name or `#alias` is `name`."""
    if isinstance(tree, dict):
        if is_component(tree) and "ref" not in tree:
            label = tree.get("name") or tree.get("path") or ""
            cls, alias = build.split_name(str(label))
            if name in (cls, alias, str(label).rpartition(".")[2]):
                return tree
        for v in tree.values():
            found = _find_named(v, name)
            if found is not None:
                return found
    elif isinstance(tree, list):
        for v in tree:
            found = _find_named(v, name)
            if found is not None:
                return found
    return None
