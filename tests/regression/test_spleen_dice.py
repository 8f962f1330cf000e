"""Dice regression: the spleen MMAR trained on phantoms must not get worse.

Trains `mmars/clara_pt_spleen_ct_segmentation` through the `clara` CLI (in subprocesses, as a
user runs it) on freshly generated phantoms with CPU-sized `--set` overrides, validates on the
held-out phantoms, and compares the mean Dice with `baselines.json` (tolerance 0.02).
"""

from __future__ import annotations

import json

import pytest

TOLERANCE = 0.02

pytestmark = [pytest.mark.regression, pytest.mark.slow]


def test_spleen_phantom_dice_does_not_regress(tmp_path, clara, baselines, archive_copy):
    baseline = baselines["spleen_phantom"]
    mmar = archive_copy("clara_pt_spleen_ct_segmentation", "spleen")
    data = tmp_path / "data"
    clara(
        "synth", "spleen", "-o", str(data), "-n", str(baseline["cases"]),
        "--seed", str(baseline["seed"]), "--train-fraction", str(baseline["train_fraction"]),
    )  # fmt: skip
    data_sets = [f"DATA_ROOT={data}", f"DATASET_JSON={data / 'dataset_0.json'}"]
    clara("train", "-m", str(mmar), "--set", *data_sets, *baseline["train_set"])
    assert (mmar / "models" / "model.pt").is_file()

    clara("validate", "-m", str(mmar), "--set", *data_sets, *baseline["validate_set"])
    summary = json.loads((mmar / "eval" / "metrics_summary.json").read_text())
    expected_cases = round(baseline["cases"] * (1 - baseline["train_fraction"]))
    assert summary["num_cases"] == expected_cases
    mean_dice = summary["mean_dice"]
    print(f"spleen phantom mean Dice {mean_dice:.4f} (baseline {baseline['mean_dice']:.4f})")
    assert mean_dice >= baseline["mean_dice"] - TOLERANCE
