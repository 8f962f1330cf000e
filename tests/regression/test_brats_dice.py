"""Dice regression: the BraTS MMAR trained on phantoms must not get worse, region by region.

Trains `mmars/clara_pt_brain_mri_segmentation` (SegResNet, the card's default) through the
`clara` CLI (in subprocesses, as a user runs it) on freshly generated phantoms with CPU-sized
`--set` overrides, validates on the held-out phantoms, and compares the mean Dice over TC, WT
and ET with `baselines.json` (tolerance 0.02); every region must be reported.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MMAR = REPO / "mmars" / "clara_pt_brain_mri_segmentation"
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


def test_brats_phantom_dice_does_not_regress(tmp_path):
    baseline = BASELINES["brats_phantom"]
    mmar = tmp_path / "brats"
    shutil.copytree(MMAR, mmar, ignore=shutil.ignore_patterns("models", "eval", "data"))
    data = tmp_path / "data"
    _clara(
        "synth", "brats", "-o", str(data), "-n", str(baseline["cases"]),
        "--size", str(baseline["size"]), "--seed", str(baseline["seed"]),
        "--train-fraction", str(baseline["train_fraction"]),
    )  # fmt: skip
    data_sets = [f"DATA_ROOT={data}", f"DATASET_JSON={data / 'dataset_0.json'}"]
    _clara("train", "-m", str(mmar), "--set", *data_sets, *baseline["train_set"])
    _clara("validate", "-m", str(mmar), "--set", *data_sets, *baseline["validate_set"])

    regions = json.loads((mmar / "eval" / "metrics_regions.json").read_text())
    expected_cases = round(baseline["cases"] * (1 - baseline["train_fraction"]))
    assert regions["num_cases"] == expected_cases
    assert regions["regions"] == ["TC", "WT", "ET"]
    dice = regions["dice"]
    print(
        "brats phantom Dice "
        + ", ".join(f"{r} {dice[r]:.4f}" for r in regions["regions"])
        + f", average {dice['average']:.4f} (baseline {baseline['mean_dice']:.4f})"
    )
    for region in regions["regions"]:
        assert dice[region] is not None and 0.0 <= dice[region] <= 1.0
    assert dice["average"] >= baseline["mean_dice"] - TOLERANCE
