"""The corpus's 3D archives at their own sizes (96^3 patches at 1 mm, a 16-256 UNet, batch 2 x
4 crops, a 160^3 sliding window: literals only `--set` epochs and data paths change here),
one epoch on one phantom CT on CPU, through `python -m medl.apps.*` as Clara ran them:

- fl_privacy (no commands/): train -> export -> evaluate with the TorchScript model;
- automl: one trial config trains; with `num_interval_per_valid: 20` one epoch validates
  nothing, so, as in Clara, the trial writes no `model.pt` to export or validate.

Measured on 2 shared CPU cores: train ~45 s, export ~17 s, evaluate ~31 s of CPU time.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from clara_cli.cli.main import cli

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ct_256(tmp_path_factory) -> Path:
    """One training and one validation phantom CT whose body spans more than 96 mm on every
    axis after the archives' CropForegroundd (a smaller one cannot give a 96^3 crop)."""
    root = tmp_path_factory.mktemp("ct_256")
    args = ["synth", "spleen", "-n", "2", "--size", "256", "--train-fraction", "0.5"]
    result = CliRunner().invoke(cli, [*args, "-o", str(root)])
    assert result.exit_code == 0, result.output
    return root


def _medl(app: str, mmar: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    result = subprocess.run(
        [sys.executable, "-u", "-m", f"medl.apps.{app}", "-m", str(mmar), *args],
        cwd=mmar,
        env=env,
        capture_output=True,
        encoding="utf-8",
        errors="replace",
        timeout=1200,
    )
    assert "Traceback" not in result.stderr + result.stdout
    return result


def _data(ct: Path) -> list[str]:
    return [f"DATA_ROOT={ct}", f"DATASET_JSON={ct / 'dataset_0.json'}"]


def test_fl_privacy_trains_exports_and_evaluates_at_its_own_sizes(corpus, tmp_path, ct_256):
    mmar = Path(shutil.copytree(corpus / "fl_privacy", tmp_path / "fl_privacy"))
    env = ["-e", "config/environment.json"]
    train = _medl(
        "train", mmar, "-c", "config/config_train.json", *env, "--write_train_stats",
        "--set", *_data(ct_256), "epochs=1",
    )  # fmt: skip
    assert train.returncode == 0, train.stderr[-3000:]
    models = mmar / "models"
    stats = json.loads((models / "train_stats.json").read_text(encoding="utf-8"))
    assert stats["total_epochs"] == 1 and stats["best_key_metric_epoch"] == 1
    assert (models / "model.pt").is_file() and (models / "final_model.pt").is_file()
    export = _medl(
        "export", mmar, "-c", "config/config_train.json", *env,
        "--model_path", str(models / "model.pt"), "--output_path", str(models / "model.ts"),
        "--input_shape", "[1, 1, 96, 96, 96]",
    )  # fmt: skip
    assert export.returncode == 0, export.stderr[-3000:]
    assert (models / "model.ts").is_file()
    # environment.json has no MMAR_TORCHSCRIPT: a relative --set path is the archive's.
    evaluate = _medl(
        "evaluate", mmar, "-c", "config/config_validation.json", *env,
        "--set", *_data(ct_256), "MMAR_TORCHSCRIPT=models/model.ts",
        "dont_load_ts_model=False", "dont_load_ckpt_model=True",
    )  # fmt: skip
    assert evaluate.returncode == 0, evaluate.stderr[-3000:]
    with (mmar / "eval" / "val_mean_dice_raw.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [Path(r["filename"]).name for r in rows] == ["spleen_01.nii.gz"]
    assert 0.0 <= float(rows[0]["mean"]) <= 1.0


def test_an_automl_trial_config_trains_one_epoch(corpus, tmp_path, ct_256):
    mmar = Path(shutil.copytree(corpus / "automl", tmp_path / "automl"))
    train = _medl(
        "train", mmar, "-c", "config/trn_autoML_LR_LP.json", "-e", "config/environment.json",
        "--write_train_stats", "--set", *_data(ct_256), "epochs=1",
    )  # fmt: skip
    assert train.returncode == 0, train.stderr[-3000:]
    stats = json.loads((mmar / "models" / "train_stats.json").read_text(encoding="utf-8"))
    assert stats["total_epochs"] == 1 and stats["total_iterations"] == 1
    # Validation every 20 epochs: none in one, so no best model (Clara wrote none either).
    assert stats["best_key_metric"] is None
    assert not (mmar / "models" / "model.pt").exists()
