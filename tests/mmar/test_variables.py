"""`{VAR}` substitution."""

from __future__ import annotations

import pytest

from clara_cli.errors import ConfigError
from clara_cli.mmar.variables import substitute

VARS = {"epochs": 1260, "amp": True, "pixdim": [1.0, 1.0, 1.0], "DIR": "/m/models", "NAME": "x"}


def test_a_whole_variable_keeps_its_type():
    assert substitute("{epochs}", VARS, "k") == 1260
    assert substitute("{amp}", VARS, "k") is True
    assert substitute("{pixdim}", VARS, "k") == [1.0, 1.0, 1.0]


def test_inside_a_longer_string_the_value_is_text():
    assert substitute("{DIR}/best_{NAME}.pt", VARS, "k") == "/m/models/best_x.pt"
    assert substitute("amp={amp}", VARS, "k") == "amp=true"


def test_lists_and_objects_are_substituted_recursively():
    value = {"a": ["{epochs}", {"b": "{NAME}"}], "c": 3}
    assert substitute(value, VARS, "train") == {"a": [1260, {"b": "x"}], "c": 3}


def test_variables_referring_to_variables_are_followed():
    variables = {"A": "{B}/x", "B": "{C}", "C": "root"}
    assert substitute("{A}", variables, "k") == "root/x"


def test_an_unresolved_variable_names_itself_the_file_and_the_key():
    with pytest.raises(ConfigError) as info:
        substitute(
            {"args": {"lr": "{learning_rat}"}}, {"learning_rate": 1}, "train.optimizer", "c.json"
        )
    message = str(info.value)
    assert "c.json: train.optimizer.args.lr" in message
    assert "{learning_rat}" in message
    assert "Did you mean 'learning_rate'" in message


def test_expressions_keep_python_braces_that_are_not_variables():
    expression = "#{k: v for k, v in [('a', 1)]}"
    assert substitute(expression, VARS, "k") == expression
    assert substitute("lambda x: {NAME}", VARS, "k") == "lambda x: x"


def test_a_cycle_is_an_error():
    with pytest.raises(ConfigError, match="cycle"):
        substitute("{A}", {"A": "{B}", "B": "{A}"}, "k")


def test_a_disabled_component_is_kept_as_written_without_its_variables():
    loader = {
        "name": "CheckpointLoader",
        "disabled": "{dont_load_ckpt_model}",
        "args": {"load_path": "{MMAR_CKPT}"},
    }
    kept = substitute([loader], {"dont_load_ckpt_model": True}, "train.handlers")
    assert kept == [{**loader, "disabled": True}]
    with pytest.raises(ConfigError, match=r"train.handlers\[0\].args.load_path: unresolved"):
        substitute([loader], {"dont_load_ckpt_model": "false"}, "train.handlers")


def test_disabled_model_loaders_and_other_ranks_are_kept_as_written():
    loaders = [
        {"ts_path": "{MMAR_TORCHSCRIPT}", "disabled": "{dont_load_ts_model}"},
        {"ckpt_path": "{MMAR_CKPT}", "disabled": "{dont_load_ckpt_model}"},
    ]
    variables = {"dont_load_ts_model": True, "dont_load_ckpt_model": False, "MMAR_CKPT": "/m.pt"}
    assert substitute(loaders, variables, "model") == [
        {"ts_path": "{MMAR_TORCHSCRIPT}", "disabled": True},
        {"ckpt_path": "/m.pt", "disabled": False},
    ]
    saver = {"name": "CheckpointSaver", "rank": "{r}", "args": {"save_dir": "{NOPE}"}}
    assert substitute(saver, {"r": 0}, "h", rank=1) == {**saver, "rank": 0}
    with pytest.raises(ConfigError, match="unresolved variable {NOPE}"):
        substitute(saver, {"r": 0}, "h", rank=0)


def test_a_switch_naming_no_variable_is_an_error_and_plain_objects_are_not_switches():
    with pytest.raises(ConfigError, match=r"h.disabled: unresolved variable {off}"):
        substitute({"name": "StatsHandler", "disabled": "{off}"}, {}, "h")
    # An argument that happens to be called "disabled" is substituted like any other.
    assert substitute({"disabled": True, "x": "{NAME}"}, VARS, "args") == {
        "disabled": True,
        "x": "x",
    }
