"""Training and validation with 2 CPU processes (gloo): DDP, sharding, reduced metrics.

Each spawn costs seconds (every worker imports MONAI), so these tests are few and small.
"""

from __future__ import annotations

import csv
import os
import re

import pytest

from clara_cli.launch.jobs import LaunchOptions
from clara_cli.launch.spawn import LaunchSpec, launch
from clara_cli.workflows.runner import run_command
from clara_cli.workflows.session import RunRequest

TWO_CPU = LaunchSpec(nproc_per_node=2, device="cpu")


# Worker entrypoints must be top-level functions: the launcher pickles them by name.
def train_rank(mmar: str, overrides: dict) -> dict:
    from clara_cli.workflows.train import train

    result = train(RunRequest(mmar, "config/config_train.json", overrides=overrides, device="cpu"))
    return {
        "rank": int(os.environ["RANK"]),
        "pid": os.getpid(),
        "losses": result.losses,
        "history": result.history,
        "epochs": result.epochs_run,
        "iterations": result.iterations,
    }


@pytest.mark.slow
def test_two_process_training_is_reproducible_and_only_rank_zero_writes(tiny_mmar, tmp_path):
    overrides = {"epochs": 2}
    first = launch(
        TWO_CPU, train_rank, str(tiny_mmar), {**overrides, "MMAR_CKPT_DIR": str(tmp_path / "a")}
    )
    second = launch(
        TWO_CPU, train_rank, str(tiny_mmar), {**overrides, "MMAR_CKPT_DIR": str(tmp_path / "b")}
    )

    rank0, rank1 = first
    assert [r["rank"] for r in first] == [0, 1]
    # 6 training cases: 3 per rank, batch 2 -> 2 iterations per epoch on each rank.
    assert (rank0["epochs"], rank0["iterations"]) == (2, 4)
    assert rank0["losses"] != rank1["losses"]  # each rank trains on its own shard ...
    assert rank0["history"] == rank1["history"]  # ... and logs losses/metrics reduced over ranks
    assert "val_mean_dice" in rank0["history"][-1]
    assert [r["losses"] for r in first] == [r["losses"] for r in second]  # reproducible

    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert {"model.pt", "model_final.pt", "resume_checkpoint_epoch=2.pt"} <= set(files)
    events = [name for name in files if name.startswith("events.out.tfevents")]
    assert events and all(re.search(rf"\.{rank0['pid']}\.\d+$", name) for name in events)


@pytest.mark.slow
def test_validation_with_two_processes_matches_one_process(tiny_mmar, tmp_path):
    from clara_cli.workflows.train import train

    # 3 validation cases over 2 ranks: 2 + 1, none dropped or counted twice.
    train(RunRequest(tiny_mmar, "config/config_train.json", overrides={"epochs": 1}, device="cpu"))

    def request(out):
        overrides = {"MMAR_EVAL_OUTPUT_PATH": str(tmp_path / out)}
        return RunRequest(
            tiny_mmar, "config/config_validation.json", overrides=overrides, device="cpu"
        )

    one = run_command("validate", request("one"))
    two = run_command("validate", request("two"), None, LaunchOptions(nproc=2))

    cases = [row["case"] for row in two.rows]
    assert cases == [row["case"] for row in one.rows] == ["spleen_05", "spleen_06", "spleen_07"]
    for a, b in zip(one.rows, two.rows, strict=True):
        assert b["dice"]["spleen"] == pytest.approx(a["dice"]["spleen"], abs=1e-4)
    assert two.summary["num_cases"] == 3
    assert two.summary["mean_dice"] == pytest.approx(one.summary["mean_dice"], abs=1e-4)
    # The evaluator's own metric is reduced over ranks too (MONAI all-gathers its buffers).
    assert two.metrics["val_mean_dice"] == pytest.approx(one.metrics["val_mean_dice"], abs=1e-4)
    assert one.metrics["val_mean_dice"] == pytest.approx(one.summary["mean_dice"], abs=1e-4)
    with open(tmp_path / "two" / "metrics_per_case.csv", encoding="utf-8", newline="") as f:
        rows = [row["case"] for row in csv.DictReader(f)]
    assert sorted(rows) == ["spleen_05", "spleen_06", "spleen_07"]  # each case once


@pytest.mark.slow
def test_a_rank_without_a_validation_case_joins_the_metric_with_nothing(tiny_mmar, tmp_path):
    import json

    datalist = json.loads((tiny_mmar / "config" / "dataset_0.json").read_text(encoding="utf-8"))
    datalist["validation"] = datalist["validation"][:1]  # 1 case, 2 processes
    one_case = tmp_path / "one_case.json"
    one_case.write_text(json.dumps(datalist), encoding="utf-8")
    ckpt_dir = tmp_path / "models"
    overrides = {"epochs": 1, "DATASET_JSON": str(one_case), "MMAR_CKPT_DIR": str(ckpt_dir)}

    # Training: rank 1 has no validation case, yet validates (and reduces) with rank 0.
    trained = launch(TWO_CPU, train_rank, str(tiny_mmar), overrides)

    dice = [rank["history"][-1]["val_mean_dice"] for rank in trained]
    assert dice[0] == dice[1]  # both ranks hold the metric reduced over the job
    assert (ckpt_dir / "model.pt").is_file()

    def request(out):
        values = {
            "DATASET_JSON": str(one_case),
            "MMAR_CKPT": str(ckpt_dir / "model.pt"),
            "MMAR_EVAL_OUTPUT_PATH": str(tmp_path / out),
        }
        return RunRequest(
            tiny_mmar, "config/config_validation.json", overrides=values, device="cpu"
        )

    one = run_command("validate", request("one"))
    two = run_command("validate", request("two"), None, LaunchOptions(nproc=2))

    assert [row["case"] for row in two.rows] == [row["case"] for row in one.rows] == ["spleen_05"]
    assert two.metrics == pytest.approx(one.metrics, abs=1e-6)  # the case counted once
    assert one.metrics  # a metric was computed, not an empty summary
