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
