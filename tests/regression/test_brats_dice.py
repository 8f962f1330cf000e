"""Dice regression: the BraTS MMAR trained on phantoms must not get worse, region by region.

Trains `mmars/clara_pt_brain_mri_segmentation` (SegResNet, the card's default) through the
`clara` CLI (in subprocesses, as a user runs it) on freshly generated phantoms with CPU-sized
`--set` overrides, validates on the held-out phantoms, and compares the mean Dice over TC, WT
and ET with `baselines.json` (tolerance 0.02); every region must be reported.
"""

from __future__ import annotations

import json

import pytest

TOLERANCE = 0.02

pytestmark = [pytest.mark.regression, pytest.mark.slow]


def test_brats_phantom_dice_does_not_regress(tmp_path, clara, baselines, archive_copy):
    baseline = baselines["brats_phantom"]
    mmar = archive_copy("clara_pt_brain_mri_segmentation", "brats")
    data = tmp_path / "data"
    clara(
        "synth", "brats", "-o", str(data), "-n", str(baseline["cases"]),
        "--size", str(baseline["size"]), "--seed", str(baseline["seed"]),
        "--train-fraction", str(baseline["train_fraction"]),
    )  # fmt: skip
    data_sets = [f"DATA_ROOT={data}", f"DATASET_JSON={data / 'dataset_0.json'}"]
    clara("train", "-m", str(mmar), "--set", *data_sets, *baseline["train_set"])
    clara("validate", "-m", str(mmar), "--set", *data_sets, *baseline["validate_set"])

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
