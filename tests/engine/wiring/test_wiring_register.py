"""The public seam: a family registers a rule; every later build applies it; tests stay isolated."""

from __future__ import annotations

import pytest
import torch

from clara_cli.engine.wiring import (
    Rule,
    Wiring,
    register_rule,
    registered_rules,
    subclass_of,
    unregister_rule,
)
from clara_cli.mmar.resolver import Runtime, Section

_SPEC = {
    "model": {"path": "torch.nn.Linear", "args": {"in_features": 3, "out_features": 2}},
    "optimizer": {"name": "SGD", "args": {}},
}


def _lr_from_variables(ctx) -> None:
    ctx.fill("lr", float(ctx.facts.variables["learning_rate"]))


def _section(variables: dict) -> Section:
    return Section("train", _SPEC, "c.json", Runtime(hooks=Wiring(variables, "cpu").hooks()), {})


def test_a_registered_rule_is_applied_to_what_a_section_builds(isolated_rules):
    register_rule(
        Rule("family.sgd_lr", subclass_of("torch.optim.SGD"), before=_lr_from_variables),
        after="implicit.optimizer_params",
    )
    optimizer = _section({"learning_rate": 0.25}).get("optimizer")
    assert optimizer.param_groups[0]["lr"] == 0.25
    # The built-in rules still ran: params came from the section's model.
    assert len(optimizer.param_groups[0]["params"]) == 2


def test_a_registered_rule_is_placed_where_asked(isolated_rules):
    rule = Rule("family.first", subclass_of("torch.optim.SGD"), before=_lr_from_variables)
    register_rule(rule, before="implicit.optimizer_params")
    assert registered_rules().names()[0] == "family.first"
    assert unregister_rule("family.first") is rule
    assert "family.first" not in registered_rules().names()


def test_register_rule_refuses_a_taken_name_and_an_unknown_anchor(isolated_rules):
    with pytest.raises(ValueError, match="already registered"):
        register_rule(Rule("device.cuda_fallback", subclass_of("torch.optim.SGD"), before=print))
    with pytest.raises(ValueError, match="no rule named 'device.nope'"):
        register_rule(
            Rule("family.x", subclass_of("torch.optim.SGD"), before=print), after="device.nope"
        )


def test_rules_registered_in_a_scope_do_not_leak_out_of_it():
    builtins = registered_rules().names()
    with registered_rules().scoped():
        register_rule(
            Rule("family.leak", subclass_of("torch.optim.SGD"), before=_lr_from_variables)
        )
        unregister_rule("device.cuda_fallback")
    assert registered_rules().names() == builtins
    optimizer = _section({"learning_rate": 0.25}).get("optimizer")
    # Without the family rule SGD keeps its own default learning rate.
    assert optimizer.param_groups[0]["lr"] == torch.optim.SGD([torch.zeros(1)]).defaults["lr"]
