"""Wiring: the resolver's build hooks, applying a RuleTable with the facts of one run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from clara_cli.engine.wiring.rules import BuildContext, RuleTable, RunFacts, parameter_names


class Wiring:
    """The hooks one workflow run gives its config sections.

    Args:
        variables: the run's merged variables (`epochs`, `amp`, `num_interval_per_valid`...).
        device: the torch device of this rank.
        rank, world_size: this process's place in the job.
        amp_enabled: whether the engines run MONAI's (CUDA) AMP.
        prepare_network: wraps the network a trainer or evaluator runs (DDP, CPU autocast).
        rules: the rules to apply; default: the registered ones (built-in + families'), as
            they stand when a component is built.
    """

    def __init__(
        self,
        variables: dict[str, Any],
        device: Any,
        rank: int = 0,
        world_size: int = 1,
        amp_enabled: bool = False,
        prepare_network: Callable[[Any, bool], Any] | None = None,
        rules: RuleTable | None = None,
    ) -> None:
        extra = {} if prepare_network is None else {"prepare_network": prepare_network}
        self.facts = RunFacts(variables, device, rank, world_size, amp_enabled, **extra)
        if rules is None:
            from clara_cli.engine.wiring import registered_rules

            rules = registered_rules()
        self.rules = rules

    def hooks(self) -> dict[str, Callable[..., Any]]:
        """The hooks for `Runtime.hooks`."""
        return {"before_build": self.before_build, "after_build": self.after_build}

    def before_build(
        self, section: Any, target: Any, spec: dict[str, Any], args: dict[str, Any], where: str
    ) -> dict[str, Any]:
        """Fill and rewrite `args` (the config's, resolved) before `target` is called."""
        ctx = BuildContext(
            section, target, spec, where, self.facts, args=args, params=parameter_names(target)
        )
        return self.rules.apply_before(ctx)

    def after_build(self, section: Any, obj: Any, spec: dict[str, Any], where: str) -> Any:
        """The built object, placed and prepared (possibly another object wrapping it)."""
        ctx = BuildContext(section, type(obj), spec, where, self.facts, obj=obj)
        return self.rules.apply_after(ctx)
