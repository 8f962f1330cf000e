"""Tiny inputs for the wiring rules: a fake section, the run's facts, one rule at a time."""

from __future__ import annotations

from typing import Any

import pytest

from clara_cli.engine.wiring import (
    BuildContext,
    Rule,
    RunFacts,
    parameter_names,
    registered_rules,
)


class FakeSection:
    """What rules use of a resolver Section: name, get, get_optional; records what was built."""

    def __init__(self, name: str = "train", **values: Any) -> None:
        self.name = name
        self.values = values
        self.built: list[str] = []

    def get(self, key: str) -> Any:
        self.built.append(key)
        return self.values[key]

    def get_optional(self, key: str) -> Any:
        return self.get(key) if key in self.values else None


class WiringKit:
    """Builds contexts and applies one registered rule at a time."""

    Section = FakeSection

    def context(
        self,
        target: Any,
        args: dict[str, Any] | None = None,
        section: FakeSection | None = None,
        spec: dict[str, Any] | None = None,
        **facts: Any,
    ) -> BuildContext:
        """A before-build context for `target` (a class or function)."""
        return BuildContext(
            section or FakeSection(),
            target,
            spec or {},
            "config.json: train.thing",
            _facts(facts),
            args=dict(args or {}),
            params=parameter_names(target),
        )

    def after_context(
        self, obj: Any, section: FakeSection | None = None, **facts: Any
    ) -> BuildContext:
        """An after-build context for the built `obj`."""
        return BuildContext(
            section or FakeSection(), type(obj), {}, "config.json: x", _facts(facts), obj=obj
        )

    def rule(self, name: str) -> Rule:
        """The registered rule called `name`."""
        return next(r for r in registered_rules() if r.name == name)

    def rules_of(self, concern: str) -> list[Rule]:
        """The registered rules of one concern ("implicit", "device", ...)."""
        return [r for r in registered_rules() if r.name.startswith(f"{concern}.")]

    def applies(self, name: str, ctx: BuildContext) -> bool:
        return bool(self.rule(name).when(ctx))

    def before(self, name: str, ctx: BuildContext) -> dict[str, Any]:
        """Apply one rule's before action (its predicate must hold); the arguments after it."""
        found = self.rule(name)
        assert found.when(ctx), f"{name} does not apply to {ctx.target}"
        assert found.before is not None
        found.before(ctx)
        return ctx.args

    def after(self, name: str, ctx: BuildContext) -> Any:
        """Apply one rule's after action (its predicate must hold); the object it returns."""
        found = self.rule(name)
        assert found.when(ctx), f"{name} does not apply to {ctx.target}"
        assert found.after is not None
        return found.after(ctx)


def _facts(overrides: dict[str, Any]) -> RunFacts:
    return RunFacts(**{"variables": {}, "device": "cpu", **overrides})


@pytest.fixture
def kit() -> WiringKit:
    return WiringKit()


@pytest.fixture
def isolated_rules():
    """The registered table; whatever a test registers or removes is undone after it."""
    with registered_rules().scoped() as table:
        yield table
