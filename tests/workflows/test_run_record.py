"""run.json beside a run's outputs: what produced them, kept when a later run comes."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner

from clara_cli.cli.main import cli
from clara_cli.mmar.loader import load_mmar_config
from clara_cli.workflows.run_record import models_read, record_path, recording
from clara_cli.workflows.runner import run_command
from clara_cli.workflows.session import RunRequest

SPLEEN = Path(__file__).resolve().parents[2] / "mmars" / "clara_pt_spleen_ct_segmentation"


def _mmar(config: str, **overrides: Any):
    return load_mmar_config(SPLEEN, config, "config/environment.json", overrides)


@dataclass(frozen=True)
class _Options:
    output_dir: Path | None = None


class _FakeValidate:
    """A workflow that only returns metrics (or fails), to test the runner's record."""

    name = "fake-validate"
    command = "validate"
    default_config = "config/config_validation.json"
    options_type = _Options

    def __init__(self, error: BaseException | None = None, early: bool = False) -> None:
        self.error, self.early = error, early

    def run(self, request: RunRequest, options: Any) -> Any:
        if self.error is not None and self.early:
            raise self.error
        logging.getLogger("clara").info("validating %d cases", 2)
        Path(request.load().variables["MMAR_EVAL_OUTPUT_PATH"]).mkdir(exist_ok=True)
        if self.error is not None:
            raise self.error
        return SimpleNamespace(metrics={"val_mean_dice": 0.75})


def _request(tmp_path: Path, **extra: Any) -> RunRequest:
    overrides = {"MMAR_EVAL_OUTPUT_PATH": str(tmp_path / "eval"), "roi_size": [32, 32, 32]}
    return RunRequest(
        SPLEEN, "config/config_validation.json", overrides={**overrides, **extra}, device="cpu"
    )


def test_a_run_writes_what_produced_its_outputs(tmp_path):
    checkpoint = tmp_path / "model.pt"
    checkpoint.write_bytes(b"weights")
    run_command(_FakeValidate(), _request(tmp_path, MMAR_CKPT=str(checkpoint)))
    record = json.loads((tmp_path / "eval" / "run.json").read_text(encoding="utf-8"))
    assert record["command"] == "validate" and record["status"] == "completed"
    assert record["set"]["roi_size"] == [32, 32, 32]
    assert record["variables"]["roi_size"] == [32, 32, 32]
    assert record["variable_sources"]["roi_size"] == "--set"
    assert record["variables"]["MMAR_EVAL_OUTPUT_PATH"] == str(tmp_path / "eval")
    assert record["device"] == "cpu" and record["processes"] == 1
    assert record["started"] <= record["finished"] and record["seconds"] >= 0
    assert record["result"] == {"metrics": {"val_mean_dice": 0.75}}
    [model] = record["model_files"]  # the config loads MMAR_CKPT (dont_load_ts_model: true)
    assert model["path"] == str(checkpoint) and model["bytes"] == 7
    assert model["sha256"] == hashlib.sha256(b"weights").hexdigest()
    for name in ("clara", "torch", "monai", "SimpleITK", "cuda"):
        assert record["versions"][name]
    assert not [p for p in (tmp_path / "eval").iterdir() if p.name.startswith(".")]


def test_the_run_log_keeps_the_lines_and_the_status(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="clara"):
        run_command(_FakeValidate(), _request(tmp_path))
        with pytest.raises(RuntimeError):
            run_command(_FakeValidate(RuntimeError("disk full")), _request(tmp_path))
    [earlier] = (tmp_path / "eval").glob("previous-*/run.log")
    lines = earlier.read_text(encoding="utf-8").splitlines()
    # logged before eval/ existed, yet kept; then the final status
    assert lines[0].endswith("INFO validating 2 cases") and lines[-1].endswith(" completed")
    assert earlier.with_suffix(".json").is_file()
    latest = (tmp_path / "eval" / "run.log").read_text(encoding="utf-8").splitlines()
    assert latest[-1].endswith(" failed: disk full")
    assert "validating 2 cases" in latest[0]


def test_a_failed_or_interrupted_run_says_so(tmp_path):
    with pytest.raises(RuntimeError):
        run_command(_FakeValidate(RuntimeError("disk full\nmore")), _request(tmp_path))
    record = json.loads((tmp_path / "eval" / "run.json").read_text(encoding="utf-8"))
    assert (record["status"], record["error"]) == ("failed", "disk full")
    with pytest.raises(KeyboardInterrupt):
        run_command(_FakeValidate(KeyboardInterrupt()), _request(tmp_path))
    record = json.loads((tmp_path / "eval" / "run.json").read_text(encoding="utf-8"))
    assert record["status"] == "interrupted"


def test_a_run_failing_before_its_output_folder_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        run_command(_FakeValidate(RuntimeError("bad config"), early=True), _request(tmp_path))
    assert not (tmp_path / "eval").exists()


def test_an_earlier_validation_is_moved_aside_whole(tmp_path, caplog):
    run_command(_FakeValidate(), _request(tmp_path))
    eval_dir = tmp_path / "eval"
    first = json.loads((eval_dir / "run.json").read_text(encoding="utf-8"))
    (eval_dir / "metrics_summary.json").write_text('{"mean_dice": 0.5}', encoding="utf-8")
    (eval_dir / "overlays").mkdir()
    (eval_dir / "overlays" / "case.png").write_bytes(b"png")
    for roi in ([16, 16, 16], [24, 24, 24]):
        with caplog.at_level(logging.WARNING, logger="clara"):
            run_command(_FakeValidate(), _request(tmp_path, roi_size=roi))
    previous = sorted(eval_dir.glob("previous-*"))
    assert len(previous) == 2
    oldest = next(p for p in previous if (p / "metrics_summary.json").exists())
    # the whole earlier report, record and log included, not a file of it replaced
    assert json.loads((oldest / "run.json").read_text(encoding="utf-8")) == first
    assert (oldest / "overlays" / "case.png").read_bytes() == b"png"
    assert (oldest / "run.log").is_file()
    assert "held the outputs of an earlier validate" in caplog.text
    assert oldest.name in caplog.text
    assert sorted(p.name for p in eval_dir.iterdir() if not p.name.startswith("previous-")) == [
        "run.json",
        "run.log",
    ]
    latest = json.loads((eval_dir / "run.json").read_text(encoding="utf-8"))
    assert latest["set"]["roi_size"] == [24, 24, 24]


def test_an_earlier_training_record_is_renamed_not_its_folder_moved(tmp_path):
    eval_dir = tmp_path / "eval"
    eval_dir.mkdir()
    (eval_dir / "run.json").write_text(
        json.dumps({"command": "train", "started": "2026-12-01T10:00:00+00:00"}), encoding="utf-8"
    )
    (eval_dir / "model.pt").write_bytes(b"weights")
    run_command(_FakeValidate(), _request(tmp_path))
    assert (eval_dir / "model.pt").read_bytes() == b"weights"
    assert (eval_dir / "run-20261201T100000Z.json").is_file()
    assert not list(eval_dir.glob("previous-*"))


def test_models_read_follow_the_loader_switches(tmp_path):
    ts, ckpt = tmp_path / "m.ts", tmp_path / "m.pt"
    paths = {"MMAR_TORCHSCRIPT": str(ts), "MMAR_CKPT": str(ckpt)}
    validation = "config/config_validation.json"
    assert models_read("validate", _mmar(validation, **paths)) == [ckpt]
    switched = _mmar(validation, dont_load_ts_model=False, **paths)
    assert models_read("validate", switched) == [ts]
    assert models_read("export", _mmar("config/config_train.json", **paths)) == [ckpt]
    assert models_read("train", _mmar("config/config_train.json", **paths)) == []
    finetune = _mmar("config/config_train.json", dont_load_ckpt_model=False, **paths)
    assert models_read("train", finetune) == [ckpt]


def test_where_each_command_records(tmp_path):
    train = _mmar("config/config_train.json", MMAR_CKPT_DIR=str(tmp_path / "models"))
    assert record_path("train", train) == tmp_path / "models" / "run.json"
    export = _mmar("config/config_train.json", MMAR_TORCHSCRIPT=str(tmp_path / "m" / "model.ts"))
    assert record_path("export", export) == tmp_path / "m" / "export_run.json"
    infer = _mmar("config/config_inference.json")
    assert record_path("infer", infer, _Options(tmp_path / "out")) == tmp_path / "out" / "run.json"


def test_recording_without_an_output_folder_writes_nothing(tmp_path):
    mmar = _mmar("config/config_validation.json")
    mmar.variables.pop("MMAR_EVAL_OUTPUT_PATH")
    with recording("validate", "validate", mmar, {}) as record:
        record["result"] = {}
    assert record["status"] == "running"  # never written, never finished


def test_version_prints_the_stack():
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    names = [line.split()[0] for line in result.output.splitlines()]
    assert names[:3] == ["clara", "python", "torch"]
    assert {"monai", "SimpleITK", "numpy"} <= set(names)
