"""The rule contract: BuildContext fills, RuleTable order and placement, predicates, Wiring."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest
import torch

from clara_cli.engine.wiring import (
    BuildContext,
    Rule,
    RuleTable,
    Wiring,
    all_of,
    always,
    in_section,
    registered_rules,
    subclass_of,
)
from clara_cli.mmar.resolver import Runtime, Section


def _set(arg, value):
    def action(ctx: BuildContext) -> None:
        ctx.args[arg] = value

    return action


def test_rules_apply_in_order_and_later_rules_see_earlier_fills(kit, caplog):
    seen = []
    table = RuleTable(
        [
            Rule("a.first", always, before=_set("out_features", 4)),
            Rule("a.second", always, before=lambda ctx: seen.append(dict(ctx.args))),
            Rule("a.never", lambda ctx: False, before=_set("bias", False)),
        ]
    )
    with caplog.at_level(logging.DEBUG, logger="clara"):
        args = table.apply_before(kit.context(torch.nn.Linear, {"in_features": 3}))
    assert args == {"in_features": 3, "out_features": 4}
    assert seen == [{"in_features": 3, "out_features": 4}]
    # --debug shows which rules touched a component.
    assert "train.thing: wiring rule a.first" in caplog.text
    assert "a.never" not in caplog.text


def test_fill_keeps_explicit_arguments_and_skips_ones_the_target_does_not_take(kit):
    ctx = kit.context(torch.nn.Linear, {"in_features": 3, "bias": False})
    ctx.fill("bias", True)
    ctx.fill("out_features", 2)
    ctx.fill("not_a_parameter", 1)
    assert ctx.args == {"in_features": 3, "bias": False, "out_features": 2}


def test_fill_from_key_builds_the_section_key_only_when_it_is_used(kit):
    section = kit.Section(model="net", loss="dice")
    ctx = kit.context(torch.optim.lr_scheduler.StepLR, {"optimizer": "mine"}, section=section)
    ctx.fill_from_key("optimizer", "model")
    ctx.fill_from_key("step_size", "missing")
    assert ctx.args == {"optimizer": "mine"}
    assert section.built == []


def test_add_places_a_rule_before_or_after_a_named_one():
    table = RuleTable([Rule("x.a", always, before=_set("a", 1))])
    table.add(Rule("x.c", always, before=_set("c", 1)))
    table.add(Rule("x.b", always, before=_set("b", 1)), after="x.a")
    table.add(Rule("x.first", always, before=_set("f", 1)), before="x.a")
    assert table.names() == ["x.first", "x.a", "x.b", "x.c"]


@pytest.mark.parametrize(
    ("rule", "placement", "message"),
    [
        (Rule("x.a", always, before=_set("a", 2)), {}, "already registered"),
        (Rule("x.b", always, before=_set("b", 1)), {"after": "x.nope"}, "no rule named 'x.nope'"),
        (Rule("x.b", always, before=_set("b", 1)), {"before": "x.a", "after": "x.a"}, "not both"),
        (Rule("x.b", always), {}, "neither a before nor an after"),
    ],
)
def test_add_refuses_an_ambiguous_or_empty_rule(rule, placement, message):
    table = RuleTable([Rule("x.a", always, before=_set("a", 1))])
    with pytest.raises(ValueError, match=message):
        table.add(rule, **placement)
    assert table.names() == ["x.a"]


def test_scoped_undoes_additions_and_removals():
    table = RuleTable([Rule("x.a", always, before=_set("a", 1))])
    with table.scoped():
        table.remove("x.a")
        table.add(Rule("x.b", always, before=_set("b", 1)))
        assert table.names() == ["x.b"]
    assert table.names() == ["x.a"]
    with pytest.raises(ValueError, match="no wiring rule named 'x.b'"):
        table.remove("x.b")


def test_subclass_of_matches_classes_by_dotted_name_with_exclusions(kit):
    module_not_loss = subclass_of("torch.nn.Module", exclude=("torch.nn.modules.loss._Loss",))
    assert module_not_loss(kit.context(torch.nn.Linear))
    assert not module_not_loss(kit.context(torch.nn.MSELoss))
    assert not module_not_loss(kit.context(torch.nn.functional.relu))  # a function, no class
    train_only = all_of(in_section("train"), subclass_of("torch.nn.Linear"))
    assert train_only(kit.context(torch.nn.Linear))
    assert not train_only(kit.context(torch.nn.Linear, section=kit.Section("validate")))


def test_after_rules_may_replace_the_object_and_later_rules_see_its_type(kit):
    table = RuleTable(
        [
            Rule(
                "x.wrap", subclass_of("torch.nn.Linear"), after=lambda c: torch.nn.Sequential(c.obj)
            ),
            # Applies to Linear only: the object is a Sequential by now, so this never runs.
            Rule("x.linear_again", subclass_of("torch.nn.Linear"), after=lambda c: None),
        ]
    )
    built = table.apply_after(kit.after_context(torch.nn.Linear(2, 2)))
    assert isinstance(built, torch.nn.Sequential)
    assert isinstance(built[0], torch.nn.Linear)


def test_wiring_hooks_apply_their_table_to_what_a_section_builds():
    table = RuleTable(
        [
            Rule(
                "x.out", subclass_of("torch.nn.Linear"), before=lambda c: c.fill("out_features", 5)
            ),
            Rule("x.eval", subclass_of("torch.nn.Linear"), after=lambda c: c.obj.eval()),
        ]
    )
    hooks = Wiring({}, "cpu", rules=table).hooks()
    spec = {"model": {"path": "torch.nn.Linear", "args": {"in_features": 3}}}
    model = Section("train", spec, "c.json", Runtime(hooks=hooks), {}).get("model")
    assert model.out_features == 5
    assert not model.training


def test_wiring_uses_the_registered_rules_by_default():
    assert Wiring({}, "cpu").rules is registered_rules()
    assert registered_rules().names()[0] == "implicit.optimizer_params"
    assert registered_rules().names()[-1] == "preparation.atomic_checkpoints"


def test_importing_the_wiring_package_imports_no_torch():
    # Families register rules while the CLI lists them: that must stay instant.
    code = (
        "import sys, clara_cli.engine.wiring\n"
        "heavy = [m for m in ('torch', 'monai', 'numpy', 'SimpleITK') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
