"""Resolve the components of one config section without building them.

For each key of a section (`train`, `validate`, or a validation/inference config's top level)
this substitutes `{VAR}`s, finds each component's class, turns `"@name"` and `"#..."` into
markers and notes the legacy shims that apply. A switched-off component (disabled, literally
or by a variable, or for another rank) is recognised first and resolved no further.
The resolution rules live here only: `resolver.Section` builds from what this returns and
`resolved_config.resolve_config` lists it for `clara check`.
"""

from __future__ import annotations

from typing import Any

from clara_cli.errors import ConfigError
from clara_cli.mmar import layout
from clara_cli.mmar.items import REFERENCE, Expression, Reference, ResolvedComponent
from clara_cli.mmar.variables import substitute, switched_off_as_written, truthy
from clara_cli.registry import build, builtin, shims

# Section keys that hold lists, and what a reference to the whole list means.
LIST_KEYS = ("pre_transforms", "post_transforms", "handlers", "additional_metrics", "metrics")


class SectionResolver:
    """The resolved, not-built components of one section, resolved once per key on demand.

    Args:
        name: "train", "validate", ... (key paths start with it unless `prefix` says otherwise).
        spec: the section's JSON as written.
        source: the config file, for messages.
        variables: the run's variables; None when `spec` is already substituted.
        rank: this process's rank (components for another `"rank"` are switched off).
        prefix: key-path prefix; "" for a file's top level.
        fallback: the section `{"ref": NAME}` reuses components from (validate -> train).
    """

    def __init__(
        self,
        name: str,
        spec: dict[str, Any],
        source: str,
        variables: dict[str, Any] | None = None,
        rank: int = 0,
        prefix: str | None = None,
        fallback: SectionResolver | None = None,
    ) -> None:
        self.name = name
        self.source = source
        self.variables = variables
        self.rank = rank
        self.prefix = name if prefix is None else prefix
        self.fallback = fallback
        self.spec = self._split_metrics(spec)
        self._resolved: dict[str, Any] = {}

    def keys(self) -> list[str]:
        """The section's keys, in config order."""
        return list(self.spec)

    def path(self, key: str) -> str:
        """The key path of a section key (`train.loss`, or `loss` at a file's top level)."""
        return f"{self.prefix}.{key}" if self.prefix else key

    def entry(self, key: str) -> Any:
        """The resolved value of a section key: a `ResolvedComponent`, a list of them (for
        list keys, switched-off items included), or a plain substituted value.

        Raises:
            ConfigError, ComponentError: a variable, class or argument cannot be resolved;
                the message names the file and key path.
        """
        if key not in self._resolved:
            if key in LIST_KEYS:
                self._resolved[key] = [self.item(key, i) for i in range(len(self.items(key)))]
            else:
                kind = builtin.KIND_BY_KEY.get(key)
                self._resolved[key] = self.value(self.spec[key], kind, self.path(key))
        return self._resolved[key]

    def items(self, key: str) -> list[Any]:
        """The raw entries of a list key (a lone object counts as a list of one)."""
        value = self.spec[key]
        if isinstance(value, dict):
            return [value]
        if not isinstance(value, list):
            raise ConfigError(f"{self.source}: {self.path(key)}: expected a list of components")
        return value

    def item(self, key: str, index: int) -> Any:
        """One resolved entry of a list key."""
        kind = builtin.KIND_BY_KEY.get(key)
        return self.value(self.items(key)[index], kind, f"{self.path(key)}[{index}]")

    # ------------------------------------------------------------ resolution
    def value(self, raw: Any, kind: str | None, path: str) -> Any:
        """Resolve any value as written: a component, or plain JSON holding components."""
        if is_component(raw):
            skipped = self._switched_off(raw, path, self.variables)
            if skipped is not None:
                return skipped
        return self._markers(self._substitute(raw, path), kind, path)

    def _substitute(self, raw: Any, path: str) -> Any:
        if self.variables is None:
            return raw
        return substitute(raw, self.variables, path, self.source, self.rank)

    def _switched_off(
        self, spec: dict[str, Any], path: str, variables: dict[str, Any] | None
    ) -> ResolvedComponent | None:
        """A skipped component when `spec` is disabled or for another rank, else None."""
        as_written = switched_off_as_written(spec, variables, path, self.source, self.rank)
        if as_written is None:
            return None
        disabled = as_written.get("disabled") is True
        return ResolvedComponent(
            key_path=path,
            source=self.source,
            spec=as_written,
            disabled=disabled,
            rank=None if disabled else as_written["rank"],
            for_other_rank=not disabled,
        )

    def _markers(self, value: Any, kind: str | None, path: str) -> Any:
        """A substituted value with references, expressions and components as markers."""
        if isinstance(value, str):
            if value.startswith("@") and REFERENCE.fullmatch(value):
                return Reference(value[1:])
            if value.startswith("#") or value.lstrip().startswith("lambda"):
                return Expression(value)
            return value
        if isinstance(value, list):
            return [self._markers(v, None, f"{path}[{i}]") for i, v in enumerate(value)]
        if is_component(value):
            return self._component(value, kind, path)
        if isinstance(value, dict):
            return {k: self._markers(v, None, f"{path}.{k}") for k, v in value.items()}
        return value

    def _component(self, spec: dict[str, Any], kind: str | None, path: str) -> ResolvedComponent:
        """A substituted component spec, resolved (its switch values are substituted already)."""
        skipped = self._switched_off(spec, path, None)
        if skipped is not None:
            return skipped
        if "ref" in spec:
            return self._reuse(spec, kind, path)
        where = f"{self.source}: {path}"
        target, fixed, notes = build.lookup_class(spec, kind, where)
        args_spec = spec.get("args", {}) or {}
        if not isinstance(args_spec, dict):
            raise ConfigError(f"{where}.args: expected an object of keyword arguments")
        args = {
            **fixed,
            **{k: self._markers(v, None, f"{path}.args.{k}") for k, v in args_spec.items()},
        }
        label = str(spec.get("name") or spec.get("path"))

        def note(_where: str, message: str) -> None:
            notes.append(message)

        args = shims.upgrade_args(label, target, args, where, report=note)
        return ResolvedComponent(
            key_path=path,
            source=self.source,
            spec=spec,
            kind=kind,
            target=target,
            args=args,
            shims=notes,
            rank=None if spec.get("rank") is None else int(spec["rank"]),
        )

    def _reuse(self, spec: dict[str, Any], kind: str | None, path: str) -> ResolvedComponent:
        """`{"ref": NAME}`: a fresh copy of the component NAME (class or alias) of the train
        section (this one when it has no fallback), resolved at this key path."""
        name = spec["ref"]
        origin = self.fallback or self
        found = find_named(origin.spec, name, origin.prefix)
        if found is None and origin is not self:
            found = find_named(self.spec, name, self.prefix)
        if found is None:
            raise ConfigError(
                f"{self.source}: {path}.ref: no component named {name!r} in the "
                f"{origin.name} section to reuse"
            )
        found_path, raw = found
        resolved = self.value(raw, kind, path)
        resolved.reuses = found_path
        return resolved  # type: ignore[no-any-return]

    def _split_metrics(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Clara 4.0's `metrics` list as 4.1's `key_metric` + `additional_metrics`.

        The entry with `is_key_metric: true` (else the first enabled one) becomes the key
        metric; the others are additional metrics. A section with `key_metric` is unchanged.
        """
        metrics = spec.get("metrics")
        if metrics is None or "key_metric" in spec:
            return spec
        items = metrics if isinstance(metrics, list) else [metrics]
        path = self.path("metrics")
        enabled = [
            m
            for i, m in enumerate(items)
            if not (
                isinstance(m, dict)
                and switched_off_as_written(m, self.variables, f"{path}[{i}]", self.source)
            )
        ]
        out = {k: v for k, v in spec.items() if k != "metrics"}
        if not enabled:
            return out
        key = next(
            (m for m in enabled if isinstance(m, dict) and truthy(m.get("is_key_metric"))),
            enabled[0],
        )
        out["key_metric"] = key
        others = [m for m in enabled if m is not key]
        if others:
            out["additional_metrics"] = others
        return out


def is_component(value: Any) -> bool:
    """A JSON object that names a class: has `name`, `path` or `ref`."""
    return isinstance(value, dict) and any(k in value for k in layout.COMPONENT_NAME_KEYS)


def find_named(tree: Any, name: str, path: str) -> tuple[str, dict[str, Any]] | None:
    """(key path, spec) of the first component in `tree` whose name or `#alias` is `name`."""
    if isinstance(tree, dict):
        if is_component(tree) and "ref" not in tree:
            label = str(tree.get("name") or tree.get("path") or "")
            cls, alias = build.split_name(label)
            if name in (cls, alias, label.rpartition(".")[2]):
                return path, tree
        for k, v in tree.items():
            found = find_named(v, name, f"{path}.{k}" if path else k)
            if found is not None:
                return found
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            found = find_named(v, name, f"{path}[{i}]")
            if found is not None:
                return found
    return None
