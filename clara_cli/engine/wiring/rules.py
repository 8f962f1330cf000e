"""The rule contract: a Rule (name, predicate, actions), the BuildContext it sees, a RuleTable.

A rule looks at one component being built. Its `before` action fills or rewrites the
constructor arguments (`ctx.args`); its `after` action returns the built object, possibly
changed or wrapped. Predicates to build rules with are in :mod:`.predicates`.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("clara")

Predicate = Callable[["BuildContext"], bool]


@dataclass(frozen=True)
class RunFacts:
    """What the run decided, the same for every component of its sections.

    Attributes:
        variables: the run's merged variables (`epochs`, `num_interval_per_valid`, ...).
        device: the torch device of this rank.
        rank, world_size: this process's place in the job.
        amp_enabled: whether the engines run MONAI's (CUDA) AMP.
        prepare_network: wraps the network a trainer or evaluator runs (DDP, CPU autocast);
            called as `prepare_network(network, training)`.
    """

    variables: dict[str, Any]
    device: Any
    rank: int = 0
    world_size: int = 1
    amp_enabled: bool = False
    prepare_network: Callable[[Any, bool], Any] = field(default=lambda network, training: network)


@dataclass
class BuildContext:
    """One component being built, as a rule sees it.

    Before construction `args` holds the arguments (the config's, then what earlier rules
    filled) and `params` the target's parameter names; after construction `obj` is the built
    object and `target` its type.
    """

    section: Any
    target: Any
    spec: dict[str, Any]
    where: str
    facts: RunFacts
    args: dict[str, Any] = field(default_factory=dict)
    params: frozenset[str] = frozenset()
    obj: Any = None

    def fill(self, arg: str, value: Any) -> None:
        """Set `arg` when the target takes it and the config left it out (explicit wins)."""
        if arg in self.params and arg not in self.args:
            self.args[arg] = value

    def fill_from_key(self, arg: str, key: str) -> None:
        """Fill `arg` with the section's `key`, built only if needed and only if present."""
        if arg in self.params and arg not in self.args:
            value = self.section.get_optional(key)
            if value is not None:
                self.args[arg] = value


@dataclass(frozen=True)
class Rule:
    """A predicate on the component and what to do when it holds.

    Attributes:
        name: unique in its table, `concern.what` ("implicit.optimizer_params").
        when: the predicate, asked before construction and again after (on the object).
        before: fills/rewrites `ctx.args` in place.
        after: returns the built object (`ctx.obj`), changed or replaced.
        note: for a legacy shim (MONAI 0.x / Clara 4.x semantics on today's MONAI): the one
            line it reports, or None where it changes nothing. Asked on the resolved, unbuilt
            component (`ctx.obj` None, `ctx.args` as resolved), so `clara check` can list
            the shims a run would apply without building anything.
    """

    name: str
    when: Predicate
    before: Callable[[BuildContext], None] | None = None
    after: Callable[[BuildContext], Any] | None = None
    note: Callable[[BuildContext], str | None] | None = None


class RuleTable:
    """Rules applied in order; later rules see what earlier ones filled."""

    def __init__(self, rules: Iterable[Rule] = ()) -> None:
        self._rules: list[Rule] = []
        for rule in rules:
            self.add(rule)

    def __iter__(self) -> Iterator[Rule]:
        return iter(list(self._rules))

    def names(self) -> list[str]:
        return [r.name for r in self._rules]

    def add(self, rule: Rule, *, before: str | None = None, after: str | None = None) -> Rule:
        """Add `rule` at the end, or just before/after the rule with that name.

        Raises:
            ValueError: the name is taken, the anchor does not exist, or both anchors given.
        """
        if rule.before is None and rule.after is None:
            raise ValueError(f"wiring rule {rule.name!r} has neither a before nor an after action")
        if rule.name in self.names():
            raise ValueError(f"a wiring rule named {rule.name!r} is already registered")
        if before is not None and after is not None:
            raise ValueError(f"wiring rule {rule.name!r}: give `before` or `after`, not both")
        anchor = before or after
        if anchor is None:
            self._rules.append(rule)
            return rule
        if anchor not in self.names():
            raise ValueError(
                f"wiring rule {rule.name!r}: no rule named {anchor!r} to place it by; "
                f"rules: {', '.join(self.names())}"
            )
        index = self.names().index(anchor) + (0 if before else 1)
        self._rules.insert(index, rule)
        return rule

    def remove(self, name: str) -> Rule:
        """Remove and return the rule called `name` (ValueError when there is none)."""
        for rule in self._rules:
            if rule.name == name:
                self._rules.remove(rule)
                return rule
        raise ValueError(f"no wiring rule named {name!r}")

    @contextmanager
    def scoped(self) -> Iterator[RuleTable]:
        """Rules added or removed inside the block are undone at its end (tests)."""
        saved = list(self._rules)
        try:
            yield self
        finally:
            self._rules[:] = saved

    def apply_before(self, ctx: BuildContext) -> dict[str, Any]:
        for rule in self._rules:
            if rule.before is not None and rule.when(ctx):
                log.debug("%s: wiring rule %s", ctx.where, rule.name)
                rule.before(ctx)
        return ctx.args

    def shim_notes(self, ctx: BuildContext) -> list[str]:
        """The notes of the shim rules that apply to the (unbuilt) component of `ctx`."""
        notes = []
        for rule in self._rules:
            if rule.note is not None and rule.when(ctx):
                note = rule.note(ctx)
                if note:
                    notes.append(note)
        return notes

    def apply_after(self, ctx: BuildContext) -> Any:
        for rule in self._rules:
            if rule.after is not None and rule.when(ctx):
                log.debug("%s: wiring rule %s", ctx.where, rule.name)
                ctx.obj = rule.after(ctx)
                ctx.target = type(ctx.obj)
        return ctx.obj


def parameter_names(target: Any) -> frozenset[str]:
    """The names `target` can be called with (empty when it has no signature)."""
    try:
        return frozenset(inspect.signature(target).parameters)
    except (TypeError, ValueError):
        return frozenset()
