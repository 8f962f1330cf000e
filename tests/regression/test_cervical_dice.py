"""Dice regression: the cervical-spine view models and their fusion must not get worse.

Through the `clara` CLI, as a user runs it: phantoms (`clara synth cspine`), one queue of
three rows (a Unet per view axis 0, 1, 2; `clara experiments run`, which trains and validates
each row), then `clara validate` of the fused three views. Each row's Dice and the fused Dice
are compared with `baselines.json` (tolerance 0.02).
"""

from __future__ import annotations

import json

import pytest

TOLERANCE = 0.02

pytestmark = [pytest.mark.regression, pytest.mark.slow]


def test_cervical_view_models_and_fusion_dice_do_not_regress(
    tmp_path, clara, baselines, archive_copy
):
    baseline = baselines["cervical_phantom"]
    mmar = archive_copy("cervical_spine_segmentation", "cervical")
    data = tmp_path / "data"
    clara(
        "synth", "cspine", "-o", str(data), "-n", str(baseline["cases"]),
        "--size", str(baseline["size"]), "--seed", str(baseline["seed"]),
        "--train-fraction", str(baseline["train_fraction"]),
    )  # fmt: skip
    queue = mmar / "experiments" / "views.csv"  # beside the study's results_layout.json
    queue.write_text("architecture,encoder,n4,axis\n" + "\n".join(baseline["queue"]) + "\n")
    runs = tmp_path / "runs"
    clara(
        "experiments", "run", str(queue), "-m", str(mmar), "-o", str(runs), "--device", "cpu",
        "--set", f"DATA_ROOT={data}", *baseline["set"],
    )  # fmt: skip
    states = {}
    for row in sorted(runs.glob("*/experiment.json")):
        state = json.loads(row.read_text())
        assert state["status"] == "done", state
        states[str(state["settings"]["axis"])] = (row.parent, state["metric"])
    assert sorted(states) == ["0", "1", "2"]
    markdown = (runs / "results.md").read_text()
    assert "Results for models trained on SAGITTAL view (axis-0):" in markdown

    checkpoints = [f"MODEL_AXIS{a}={states[a][0] / 'models' / 'model.pt'}" for a in "012"]
    clara(
        "validate", "-m", str(mmar), "-c", "config/config_validation_fusion.json",
        "--device", "cpu", "--set", f"DATA_ROOT={data}", *checkpoints, *baseline["set"],
    )  # fmt: skip
    summary = json.loads((mmar / "eval" / "fused" / "metrics_summary.json").read_text())
    assert summary["num_cases"] == round(baseline["cases"] * (1 - baseline["train_fraction"]))

    measured = {f"axis{a}": states[a][1] for a in "012"} | {"fused": summary["mean_dice"]}
    print("cervical phantom Dice", {k: round(v, 4) for k, v in measured.items()})
    for name, value in measured.items():
        expected = baseline["dice"][name]
        assert value >= expected - TOLERANCE, f"{name}: Dice {value:.4f} < baseline {expected}"
