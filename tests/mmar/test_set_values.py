"""`--set` values are checked against the variable they replace and Clara's known ranges;
a key nothing reads is refused with a did-you-mean."""

from __future__ import annotations

import pytest

from clara_cli.errors import OverrideError
from clara_cli.mmar.set_values import check_overrides

DEFINED = {
    "epochs": 1260,
    "amp": True,
    "pixdim": [1.5, 1.5, 2.0],
    "learning_rate": 1e-4,
    "MMAR_CKPT_DIR": "models",
    "determinism": {"random_seed": 0},
    "features": [32, 32, 64],
    "class_names": ["spleen"],
    "max_iter": 3,
    "axis": 0,
    "threshold": 0.5,
    "note": "{MMAR_ROOT}/x",
}
CONFIG = {"train": {"model": {"args": {"features": "{features}", "dropout": "{dropout}"}}}}


def _check(**overrides):
    return check_overrides(overrides, DEFINED, [CONFIG])


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("epochs", "abc", "--set epochs=abc: expected a whole number >= 1"),
        ("epochs", -1, "--set epochs=-1: expected a whole number >= 1"),
        ("epochs", 0, "expected a whole number >= 1"),
        ("epochs", 2.5, "expected a whole number >= 1"),
        ("amp", "maybe", "--set amp=maybe: expected true or false"),
        ("amp", 1, "--set amp=1: expected true or false"),
        ("pixdim", [2, 2], "--set pixdim=[2,2]: expected 3 values, like [1.5,1.5,2.0]"),
        ("pixdim", "fine", "expected a list of numbers"),
        ("learning_rate", -1e-3, "expected a number >= 0"),
        ("learning_rate", "fast", "expected a number >= 0"),
        ("batch_size", 0, "expected a whole number >= 1"),
        ("roi_size", [96, 0, 96], "expected a list of whole numbers >= 1"),
        ("max_iter", "many", "--set max_iter=many: expected a whole number, like 3"),
        ("threshold", "high", "expected a number, like 0.5"),
        ("features", [16, 32], "expected 3 values, like [32,32,64]"),
        ("features", [16, "a", 32], "expected numbers, like [32,32,64]"),
        ("determinism", 3, 'expected a JSON object, like {"random_seed":0}'),
        ("MMAR_CKPT_DIR", [1], "expected text, like 'models'"),
    ],
)
def test_a_value_that_does_not_fit_its_variable_is_refused(key, value, expected):
    with pytest.raises(OverrideError) as caught:
        _check(**{key: value})
    assert expected in str(caught.value)


def test_values_that_fit_are_kept_and_whole_floats_become_whole_numbers():
    checked = _check(
        epochs=1e3,
        amp=False,
        pixdim=[4, 4, -1],  # MONAI keeps an axis's spacing where pixdim <= 0
        learning_rate=1,
        max_iter=5,
        axis="012",  # digits JSON does not read as a number stay text (three slice axes)
        features="012",
        threshold=1,
        MMAR_CKPT_DIR=2024,  # a folder named like a number
        class_names=["a", "b"],  # a list of names may change length
        note=7,  # replaces a template: anything goes
        dropout=0.2,  # not defined, but the config reads {dropout}
        checkpoint_interval=0,  # read by clara itself
    )
    assert checked["epochs"] == 1000 and isinstance(checked["epochs"], int)
    assert checked["MMAR_CKPT_DIR"] == "2024"
    assert checked["pixdim"] == [4, 4, -1] and checked["dropout"] == 0.2
    assert checked["axis"] == "012"


def test_a_key_nothing_reads_is_refused_with_a_did_you_mean():
    with pytest.raises(OverrideError) as caught:
        _check(epoch=1)
    assert "no config, environment.json or clara reads 'epoch'; did you mean epochs?" in str(
        caught.value
    )
    with pytest.raises(OverrideError, match="reads 'colour'\n"):
        _check(colour="red")
