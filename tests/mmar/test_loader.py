"""Reading MMAR files and merging variables: --set > environment.json > config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clara_cli.errors import ConfigError
from clara_cli.mmar.loader import load_json, load_mmar_config


def _mmar(tmp_path: Path, config: dict, env: dict | None = None) -> Path:
    (tmp_path / "config").mkdir(parents=True)
    (tmp_path / "config" / "config_train.json").write_text(json.dumps(config))
    if env is not None:
        (tmp_path / "config" / "environment.json").write_text(json.dumps(env))
    return tmp_path


def test_malformed_json_names_file_line_and_column_with_a_caret(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{\n  "epochs": 10\n  "lr": 1\n}\n')
    with pytest.raises(ConfigError) as info:
        load_json(path)
    message = str(info.value)
    assert f"{path}:3:3: invalid JSON: Expecting ',' delimiter" in message
    assert '3 |   "lr": 1' in message
    assert message.splitlines()[-1].endswith("|   ^")


def test_duplicate_keys_are_an_error(tmp_path):
    path = tmp_path / "dup.json"
    path.write_text('{"epochs": 10, "epochs": 20}')
    with pytest.raises(ConfigError, match="key 'epochs' appears twice"):
        load_json(path)


def test_missing_config_lists_the_files_that_exist(tmp_path):
    root = _mmar(tmp_path, {"train": {}})
    with pytest.raises(ConfigError) as info:
        load_mmar_config(root, "config/config_trian.json")
    assert "config file not found" in str(info.value)
    assert "config_train.json" in str(info.value)


def test_precedence_is_set_then_environment_then_config(tmp_path):
    root = _mmar(
        tmp_path,
        {"epochs": 1, "learning_rate": 0.1, "batch": 2, "train": {}},
        {"learning_rate": 0.01, "batch": 3},
    )
    mmar = load_mmar_config(root, "config/config_train.json", overrides={"batch": 4})
    assert mmar.variables["epochs"] == 1
    assert mmar.variables["learning_rate"] == 0.01
    assert mmar.variables["batch"] == 4
    assert mmar.origins["batch"] == "--set"
    assert "train" not in mmar.variables


def test_relative_path_variables_resolve_against_the_mmar_root_from_any_folder(
    tmp_path, monkeypatch
):
    root = _mmar(tmp_path / "m", {"train": {}}, {"MMAR_CKPT_DIR": "models", "DATA_ROOT": "/abs"})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    overrides = {"MMAR_CKPT": "models/model.pt", "DATASET_JSON": "config/x.json"}
    mmar = load_mmar_config(root, "config/config_train.json", overrides=overrides)
    mmar_root = root.resolve()
    # environment.json and --set alike, as Clara's scripts relied on (finetune.sh's MMAR_CKPT).
    assert mmar.variables["MMAR_CKPT_DIR"] == str(mmar_root / "models")
    assert mmar.variables["MMAR_CKPT"] == str(mmar_root / "models" / "model.pt")
    assert mmar.variables["DATASET_JSON"] == str(mmar_root / "config" / "x.json")
    assert mmar.variables["DATA_ROOT"] == "/abs"  # absolute: untouched
    assert mmar.variables["MMAR_ROOT"] == str(mmar_root)


def test_an_absolute_set_path_is_kept_and_a_relative_one_normalised(tmp_path, monkeypatch):
    root = _mmar(tmp_path / "m", {"train": {}}, {})
    monkeypatch.chdir(tmp_path)
    overrides = {"DATA_ROOT": str(tmp_path / "data"), "MMAR_EVAL_OUTPUT_PATH": "./out/../eval"}
    mmar = load_mmar_config(root, "config/config_train.json", overrides=overrides)
    assert mmar.variables["DATA_ROOT"] == str(tmp_path / "data")
    assert mmar.variables["MMAR_EVAL_OUTPUT_PATH"] == str(root.resolve() / "eval")


def test_templated_path_variables_become_absolute(tmp_path):
    root = _mmar(
        tmp_path, {"train": {}}, {"MMAR_CKPT_DIR": "models", "MMAR_CKPT": "{MMAR_CKPT_DIR}/best.pt"}
    )
    mmar = load_mmar_config(root, "config/config_train.json")
    assert mmar.variables["MMAR_CKPT"] == str(root.resolve() / "models" / "best.pt")


def test_clara_3_switch_names_are_read_as_the_4x_names(tmp_path):
    root = _mmar(tmp_path, {"use_amp": True, "num_training_epoch_per_valid": 5, "train": {}})
    mmar = load_mmar_config(root, "config/config_train.json")
    assert mmar.variables["amp"] is True
    assert mmar.variables["num_interval_per_valid"] == 5


def test_a_config_that_is_not_an_object_is_refused(tmp_path):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config_train.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match="top level must be a JSON object"):
        load_mmar_config(tmp_path, "config/config_train.json")
