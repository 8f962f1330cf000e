"""The build-time shims a run would apply, listed without building anything (`clara check`).

Each shim rule (a `Rule` with a `note`) is asked about the resolved, unbuilt component: its
class, its spec as written and its resolved arguments (references and expressions still
markers). Nothing is constructed, no file is read and no folder is made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from clara_cli.engine.wiring.rules import BuildContext, RuleTable, RunFacts, parameter_names


@dataclass(frozen=True)
class SectionName:
    """What a rule's predicate or note may ask of the section when nothing is built."""

    name: str

    def get_optional(self, key: str) -> Any:
        return None


def build_time_notes(
    component: Any, section: str, variables: dict[str, Any], rules: RuleTable | None = None
) -> list[str]:
    """The notes of the shim rules that apply to `component` (a `ResolvedComponent`).

    Args:
        component: resolved, not built; skipped components get no notes.
        section: the name of its section ("train", "validate", "infer").
        variables: the run's merged variables.
        rules: default: the registered rules (built-in and families').
    """
    if component.skipped or component.target is None:
        return []
    if rules is None:
        from clara_cli.engine.wiring import registered_rules

        rules = registered_rules()
    ctx = BuildContext(
        SectionName(section),
        component.target,
        component.spec,
        component.where,
        RunFacts(variables, device="cpu"),
        args=dict(component.args),
        params=parameter_names(component.target),
    )
    return rules.shim_notes(ctx)
