"""Dice-versus-clicks regression: the DeepGrow MMAR trained on phantoms must not get worse.

Runs what a user runs, through the `clara` CLI in subprocesses: `clara synth abdomen`,
`clara prepare-dataset --deepgrow --dimensions 3 --pixdim 1 1 3`, `clara train` with CPU-sized
`--set` overrides (small patch and network, fewer click interactions), and `clara validate`
(DeepGrow's Dice after 1..5 simulated clicks on the held-out case's organs). The mean Dice
after 5 clicks is compared with `baselines.json` (tolerance 0.02), and must rise from 1 to 5
clicks: the model has learnt to use the clicks.
"""

from __future__ import annotations

import json

import pytest

TOLERANCE = 0.02

pytestmark = [pytest.mark.regression, pytest.mark.slow]


def test_deepgrow_phantom_dice_after_five_clicks_does_not_regress(
    tmp_path, clara, baselines, archive_copy
):
    baseline = baselines["deepgrow_phantom"]
    mmar = archive_copy("clara_pt_deepgrow_3d_annotation", "deepgrow")
    raw, samples = tmp_path / "raw", tmp_path / "samples"
    clara(
        "synth", "abdomen", "-o", str(raw), "-n", str(baseline["cases"]),
        "--size", str(baseline["size"]), "--seed", str(baseline["seed"]),
    )  # fmt: skip
    clara(
        "prepare-dataset", "-d", str(raw), "--deepgrow", "--dimensions", "3",
        "--pixdim", "1", "1", "3", "-o", str(samples), "--split", str(baseline["train_fraction"]),
    )  # fmt: skip
    data_sets = [f"DATA_ROOT={samples}", f"DATASET_JSON={samples / 'dataset.json'}"]
    clara("train", "-m", str(mmar), "--set", *data_sets, *baseline["train_set"])
    assert (mmar / "models" / "model.pt").is_file()

    output = clara("validate", "-m", str(mmar), "--set", *data_sets, *baseline["validate_set"])
    summary = json.loads((mmar / "eval" / "metrics_summary.json").read_text())
    assert summary["clicks"] == 5 and summary["num_samples"] == baseline["validation_samples"]
    by_clicks = {entry["clicks"]: entry["mean"] for entry in summary["dice_by_clicks"]}
    print(output.stdout)
    print(f"deepgrow phantom Dice: 1 click {by_clicks[1]:.4f}, 5 clicks {by_clicks[5]:.4f} "
          f"(baseline {baseline['dice_5_clicks']:.4f})")  # fmt: skip
    assert by_clicks[5] >= baseline["dice_5_clicks"] - TOLERANCE
    assert by_clicks[5] > by_clicks[1], "the clicks do not help: mean Dice does not rise 1 -> 5"
    assert (mmar / "eval" / "dice_vs_clicks.png").is_file()
