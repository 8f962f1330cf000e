"""Dice regression: the SegTHOR archive trained on thorax phantoms must not get worse, organ
by organ.

Trains `mmars/segthor_thoracic_oar` through the `clara` CLI (subprocesses, as a user runs it)
on freshly generated phantoms with CPU-sized `--set` overrides (resnet18 Unet from random
weights, 4 mm in-plane, 96 x 64 slices), validates on the held-out phantoms, and compares
each organ's mean 3D Dice with `baselines.json` (tolerance 0.02).
"""

from __future__ import annotations

import json

import pytest

TOLERANCE = 0.02

pytestmark = [pytest.mark.regression, pytest.mark.slow]


def test_segthor_phantom_dice_per_organ_does_not_regress(tmp_path, clara, baselines, archive_copy):
    baseline = baselines["segthor_phantom"]
    mmar = archive_copy("segthor_thoracic_oar", "segthor")
    data = tmp_path / "data"
    clara(
        "synth", "thorax", "-o", str(data), "-n", str(baseline["cases"]),
        "--size", str(baseline["size"]), "--seed", str(baseline["seed"]),
        "--train-fraction", str(baseline["train_fraction"]),
    )  # fmt: skip
    data_sets = [f"DATA_ROOT={data}", f"DATASET_JSON={data / 'dataset_0.json'}"]
    clara("train", "-m", str(mmar), "--set", *data_sets, *baseline["train_set"])
    assert (mmar / "models" / "model.pt").is_file()

    clara("validate", "-m", str(mmar), "--set", *data_sets, *baseline["validate_set"])
    summary = json.loads((mmar / "eval" / "metrics_summary.json").read_text(encoding="utf-8"))
    assert summary["num_cases"] == round(baseline["cases"] * (1 - baseline["train_fraction"]))
    assert (mmar / "eval" / "leaderboard.md").is_file()
    dice = {organ: summary["per_class"][organ]["dice"]["mean"] for organ in baseline["dice"]}
    print("segthor phantom Dice", {k: round(v, 4) for k, v in dice.items()})
    low = {
        organ: (round(value, 4), baseline["dice"][organ])
        for organ, value in dice.items()
        if value < baseline["dice"][organ] - TOLERANCE
    }
    assert not low, f"Dice below baseline - {TOLERANCE} (got, baseline): {low}"
