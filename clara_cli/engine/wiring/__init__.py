"""Wiring: small rules applied to every component while a config section is built.

Clara 4.1 configs wire components explicitly (`"network": "@model"`); Clara 4.0 configs leave
it to the engine. Each rule is a predicate on the component (its class, spec, section) and an
action: `before` fills or rewrites the constructor arguments, `after` places or prepares the
built object. Explicit config arguments always win over filled ones; only what the run
decides (engine device and AMP, the network's DDP/autocast wrapper) and legacy spellings are
replaced. The built-in rules, one module per concern, apply in this order:

- :mod:`.implicit`: Clara 4.0 implicit wiring (optimizer params, scheduler's optimizer,
  LrScheduleHandler, ValidationHandler + interval, save_dict/load_dict, engine arguments,
  max_epochs);
- :mod:`.defaults`: output transforms today's MONAI handlers need;
- :mod:`.datalist`: datasets read their datalist, this rank's shard only, each image
  checked for NaN/Inf when loaded;
- :mod:`.crop_indices`: a label-driven random crop of a cached dataset reads indices computed
  once and cached with the item (``FgBgToIndicesd``/``ClassesToIndicesd``);
- :mod:`.cache_report`: one line when ``cache_num``/``cache_rate`` leaves most of a datalist
  uncached, with what caching all would take;
- :mod:`.persistent_cache`: a PersistentDataset without `cache_dir` (MONAI 0.x) caches
  under the run's output;
- :mod:`.device`: engines, modules and checkpoints on this rank's device (`cuda` → cpu);
- :mod:`.legacy`: MONAI 0.x rewrites (`lambda x: x['loss']` output transforms);
- :mod:`.readers`: LoadImage(d) also reads NRRD/MetaImage/DICOM through SimpleITK;
- :mod:`.meta_dicts`: MONAI 0.x meta-dict semantics (`*_meta_dict` keys, ToTensord/ToNumpyd
  that dropped metadata, Invertd of a plain tensor);
- :mod:`.quiet`: StatsHandler prints no traceback unless `--debug`;
- :mod:`.preparation`: AMP flag, DDP/autocast network, GradScaler, the bf16 non-finite
  fallback, the non-finite loss guard and atomic checkpoint writes.

A model family adds its own rule without editing any of these, from its ``register`` hook::

    from clara_cli.engine.wiring import BuildContext, Rule, register_rule, subclass_of

    def _interactions(ctx: BuildContext) -> None:
        ctx.fill("max_interactions", int(ctx.facts.variables.get("max_interactions", 15)))

    register_rule(
        Rule("deepgrow.max_interactions",
             subclass_of("monai.apps.deepgrow.interaction.Interaction"), before=_interactions),
        after="implicit.evaluator_args",   # or before="..."; default: at the end
    )

`registered_rules().scoped()` undoes registrations at the end of a block (tests).
"""

from __future__ import annotations

from clara_cli.engine.wiring import (
    cache_report,
    crop_indices,
    datalist,
    defaults,
    device,
    implicit,
    label_range,
    legacy,
    meta_dicts,
    persistent_cache,
    preparation,
    quiet,
    readers,
)
from clara_cli.engine.wiring.hooks import Wiring
from clara_cli.engine.wiring.implicit import PlainState
from clara_cli.engine.wiring.predicates import all_of, always, in_section, subclass_of
from clara_cli.engine.wiring.rules import (
    BuildContext,
    Predicate,
    Rule,
    RuleTable,
    RunFacts,
    parameter_names,
)

#: The built-in concerns, in the order their rules apply.
BUILTIN_MODULES = (
    implicit,
    defaults,
    datalist,
    crop_indices,
    cache_report,
    persistent_cache,
    device,
    legacy,
    readers,
    meta_dicts,
    quiet,
    label_range,
    preparation,
)

_REGISTERED = RuleTable(rule for module in BUILTIN_MODULES for rule in module.RULES)


def registered_rules() -> RuleTable:
    """The table every Wiring applies unless given its own: built-in rules + registered ones."""
    return _REGISTERED


def register_rule(rule: Rule, *, before: str | None = None, after: str | None = None) -> Rule:
    """Add a rule to every later build: at the end, or just before/after the named rule.

    Raises:
        ValueError: the name is taken or the named anchor does not exist.
    """
    return _REGISTERED.add(rule, before=before, after=after)


def unregister_rule(name: str) -> Rule:
    """Remove the rule called `name` (ValueError when there is none)."""
    return _REGISTERED.remove(name)


__all__ = [
    "BUILTIN_MODULES",
    "BuildContext",
    "PlainState",
    "Predicate",
    "Rule",
    "RuleTable",
    "RunFacts",
    "Wiring",
    "all_of",
    "always",
    "in_section",
    "parameter_names",
    "register_rule",
    "registered_rules",
    "subclass_of",
    "unregister_rule",
]
