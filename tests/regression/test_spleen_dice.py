"""Dice regression: the spleen MMAR trained on phantoms must not get worse.

Trains `mmars/clara_pt_spleen_ct_segmentation` through the `clara` CLI (in subprocesses, as a
user runs it) on freshly generated phantoms with CPU-sized `--set` overrides, validates on the
held-out phantoms, and compares the mean Dice with `baselines.json` (tolerance 0.02).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MMAR = REPO / "mmars" / "clara_pt_spleen_ct_segmentation"
BASELINES = json.loads((Path(__file__).parent / "baselines.json").read_text())
TOLERANCE = 0.02

pytestmark = [pytest.mark.regression, pytest.mark.slow]


def _clara(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "clara_cli", *args],
        capture_output=True,
        encoding="utf-8",
        errors="replace",
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def test_spleen_phantom_dice_does_not_regress(tmp_path):
    baseline = BASELINES["spleen_phantom"]
    mmar = tmp_path / "spleen"
    shutil.copytree(MMAR, mmar, ignore=shutil.ignore_patterns("models", "eval", "data"))
    data = tmp_path / "data"
    _clara(
        "synth", "spleen", "-o", str(data), "-n", str(baseline["cases"]),
        "--seed", str(baseline["seed"]), "--train-fraction", str(baseline["train_fraction"]),
    )  # fmt: skip
    data_sets = [f"DATA_ROOT={data}", f"DATASET_JSON={data / 'dataset_0.json'}"]
    _clara("train", "-m", str(mmar), "--set", *data_sets, *baseline["train_set"])
    assert (mmar / "models" / "model.pt").is_file()

    _clara("validate", "-m", str(mmar), "--set", *data_sets, *baseline["validate_set"])
    summary = json.loads((mmar / "eval" / "metrics_summary.json").read_text())
    expected_cases = round(baseline["cases"] * (1 - baseline["train_fraction"]))
    assert summary["num_cases"] == expected_cases
    mean_dice = summary["mean_dice"]
    print(f"spleen phantom mean Dice {mean_dice:.4f} (baseline {baseline['mean_dice']:.4f})")
    assert mean_dice >= baseline["mean_dice"] - TOLERANCE
