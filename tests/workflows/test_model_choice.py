"""--checkpoint/--model mapped onto Clara's dont_load_* switches and model paths."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from clara_cli.errors import ConfigError, OverrideError
from clara_cli.workflows.model_choice import ModelChoice, model_overrides

SPLEEN = Path(__file__).resolve().parents[2] / "mmars" / "clara_pt_spleen_ct_segmentation"
VALIDATION = "config/config_validation.json"
ENV = "config/environment.json"


@pytest.fixture
def mmar(tmp_path: Path) -> Path:
    root = tmp_path / "mmar"
    shutil.copytree(SPLEEN / "config", root / "config")
    models = root / "models"
    models.mkdir()
    for name in ("model.pt", "model_final.pt", "model.ts", "model.pt2", "model.onnx"):
        (models / name).write_bytes(b"x")
    return root


def _choose(mmar: Path, checkpoint=None, model=None, **overrides):
    return model_overrides(ModelChoice(checkpoint, model), overrides, mmar, VALIDATION, ENV)


def test_no_choice_leaves_the_set_values_alone(mmar):
    assert _choose(mmar, amp=False) == {"amp": False}


def test_checkpoint_best_and_final_name_the_saved_files(mmar):
    best = _choose(mmar, "best")
    assert best["MMAR_CKPT"] == str(mmar / "models" / "model.pt")
    assert best["dont_load_ts_model"] is True and best["dont_load_ckpt_model"] is False
    assert _choose(mmar, "final")["MMAR_CKPT"] == str(mmar / "models" / "model_final.pt")


def test_checkpoint_names_come_from_config_train(mmar):
    train = mmar / "config" / "config_train.json"
    text = train.read_text(encoding="utf-8").replace('"model_final.pt"', '"last.pt"')
    train.write_text(text, encoding="utf-8")
    (mmar / "models" / "last.pt").write_bytes(b"x")
    assert _choose(mmar, "final")["MMAR_CKPT"] == str(mmar / "models" / "last.pt")


def test_checkpoint_path_is_resolved_from_the_current_folder(mmar, tmp_path, monkeypatch):
    (tmp_path / "mine.pt").write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    assert _choose(mmar, "mine.pt")["MMAR_CKPT"] == str(tmp_path / "mine.pt")


@pytest.mark.parametrize(("model", "suffix"), [("ts", ".ts"), ("pt2", ".pt2"), ("onnx", ".onnx")])
def test_exported_formats_switch_the_loaders(mmar, model, suffix):
    values = _choose(mmar, model=model)
    assert values["dont_load_ts_model"] is False and values["dont_load_ckpt_model"] is True
    expected = None if model == "ts" else str(mmar / "models" / f"model{suffix}")
    assert values.get("MMAR_TORCHSCRIPT") == expected


def test_model_ckpt_keeps_the_configured_checkpoint(mmar):
    values = _choose(mmar, model="ckpt")
    assert "MMAR_CKPT" not in values
    assert values["dont_load_ckpt_model"] is False


@pytest.mark.parametrize(
    ("checkpoint", "model", "overrides", "message"),
    [
        ("best", "ts", {}, "give one of them"),
        (None, "ts", {"dont_load_ts_model": True}, "--set dont_load_ts_model=true"),
        ("final", None, {"dont_load_ckpt_model": True}, "says otherwise"),
        ("best", None, {"MMAR_CKPT": "x.pt"}, "both name the checkpoint"),
        ("nothere.pt", None, {}, "no such file"),
    ],
)
def test_conflicts_are_override_errors(mmar, checkpoint, model, overrides, message):
    with pytest.raises(OverrideError, match=message.replace(".", r"\.").replace("-", r"\-")):
        _choose(mmar, checkpoint, model, **overrides)


def test_agreeing_set_values_are_accepted(mmar):
    values = _choose(mmar, model="ts", dont_load_ts_model=False, dont_load_ckpt_model="true")
    assert values["dont_load_ckpt_model"] is True


def test_a_missing_best_checkpoint_says_train_first(mmar):
    (mmar / "models" / "model.pt").unlink()
    with pytest.raises(ConfigError, match="does not exist"):
        _choose(mmar, "best")


def test_model_ts_does_not_fall_back_to_the_pt2_export(mmar):
    (mmar / "models" / "model.ts").unlink()
    with pytest.raises(ConfigError, match="--model ts: TorchScript model not found"):
        _choose(mmar, model="ts")


def test_a_config_without_an_export_loader_refuses_an_export(mmar):
    path = mmar / "config" / "config_validation.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config["model"] = [{"ckpt_path": "{MMAR_CKPT}"}]
    path.write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(ConfigError, match="no enabled pt2 loader"):
        _choose(mmar, model="pt2")


def test_default_names_are_the_ones_the_wiring_gives_the_saver():
    from clara_cli.engine.wiring.defaults import CLARA_CHECKPOINT_NAMES
    from clara_cli.workflows.model_choice import DEFAULT_NAMES

    assert DEFAULT_NAMES["best"] == CLARA_CHECKPOINT_NAMES["key_metric_filename"][1]
    assert DEFAULT_NAMES["final"] == CLARA_CHECKPOINT_NAMES["final_filename"][1]


def test_a_saver_without_file_names_gets_the_wiring_names(mmar):
    train = mmar / "config" / "config_train.json"
    text = train.read_text(encoding="utf-8").replace('"final_filename"', '"unused_name"')
    train.write_text(text, encoding="utf-8")
    (mmar / "models" / "final_model.pt").write_bytes(b"x")
    assert _choose(mmar, "final")["MMAR_CKPT"] == str(mmar / "models" / "final_model.pt")
