"""SIGKILL a CPU training run at several points, then `--resume`: it must finish correctly.

The killed run is a real `clara train` process; the tiny MMAR's fault handler kills it at a
chosen iteration, or in the middle of writing a checkpoint (temporary file complete, rename not
done). The resume runs in this process, which is cheaper than a second interpreter.
"""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from clara_cli.engine.checkpoint import load_checkpoint
from clara_cli.workflows.session import RunRequest
from clara_cli.workflows.train import TrainOptions, train

EPOCHS, ITERATIONS_PER_EPOCH = 3, 3


def _killed_run(mmar, fault: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "clara_cli", "train", "-m", str(mmar), "--device", "cpu"]
    return subprocess.run(
        [*command, "--set", fault],
        capture_output=True,
        encoding="utf-8",
        errors="replace",
        timeout=300,
        check=False,
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("fault", "resumed_from"),
    [
        ("kill_at_iteration=2", None),  # mid epoch 1: no checkpoint yet, start over
        ("kill_at_iteration=5", 1),  # mid epoch 2
        ("kill_writing_epoch=2", 1),  # while epoch 2's checkpoint is being written
    ],
)
def test_sigkill_then_resume_finishes_with_the_right_epochs(tiny_mmar, fault, resumed_from):
    killed = _killed_run(tiny_mmar, fault)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]

    models = tiny_mmar / "models"
    # Whatever was on disk when the process died is complete: every .pt file loads.
    for path in models.glob("*.pt"):
        load_checkpoint(path)
    if fault.startswith("kill_writing"):
        assert [p.name for p in models.glob(".resume_checkpoint_epoch=2.pt.*.tmp")]
        assert not (models / "resume_checkpoint_epoch=2.pt").exists()

    result = train(
        RunRequest(tiny_mmar, "config/config_train.json", device="cpu"), TrainOptions(resume=True)
    )

    assert result.resumed_from == resumed_from
    assert result.epochs_run == EPOCHS
    assert result.iterations == EPOCHS * ITERATIONS_PER_EPOCH
    first_new_epoch = (resumed_from or 0) + 1
    assert len(result.losses) == (EPOCHS - first_new_epoch + 1) * ITERATIONS_PER_EPOCH
    assert [row["epoch"] for row in result.history] == [1, 2, 3]
    final = load_checkpoint(models / "model_final.pt")
    assert set(final["model"]) == set(load_checkpoint(models / "model.pt")["model"])
    assert sorted(p.name for p in models.glob("*resume*")) == ["resume_checkpoint_epoch=3.pt"]
    assert not [p for p in models.iterdir() if p.name.endswith(".tmp")]  # leftovers cleaned
