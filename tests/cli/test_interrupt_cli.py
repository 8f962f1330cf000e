"""Ctrl-C: exit 130 with how to continue, never exit 1 with a wrapped "KeyboardInterrupt"."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from clara_cli import families
from clara_cli.cli.main import cli
from clara_cli.errors import Interrupted, interrupted
from clara_cli.workflows.runner import run_command
from clara_cli.workflows.session import RunRequest

SPLEEN = Path(__file__).resolve().parents[2] / "mmars" / "clara_pt_spleen_ct_segmentation"


def _wrapped_interrupt() -> RuntimeError:
    """What a library does with Ctrl-C: its own error, raised while handling the interrupt."""
    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise RuntimeError("DataLoader worker exited unexpectedly") from None
    except RuntimeError as err:
        err.__context__ = KeyboardInterrupt()  # `from None` hides it from the traceback only
        return err


def test_an_interrupt_is_found_in_causes_and_contexts():
    assert interrupted(KeyboardInterrupt())
    assert interrupted(_wrapped_interrupt())
    cause = RuntimeError("save cut short")
    cause.__cause__ = KeyboardInterrupt()
    assert interrupted(cause)
    assert not interrupted(RuntimeError("a real error"))


class _FakeTrain:
    """Saves two epochs' resume checkpoints, then the user presses Ctrl-C."""

    name = command = "train"
    default_config = "config/config_train.json"

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def options_type(self) -> None:
        return None

    def run(self, request: RunRequest, options: Any) -> Any:
        folder = Path(request.load().variables["MMAR_CKPT_DIR"])
        folder.mkdir(parents=True, exist_ok=True)
        for epoch in (1, 2):
            (folder / f"resume_checkpoint_epoch={epoch}.pt").write_bytes(b"state")
        raise self.error


@pytest.mark.parametrize("error", [KeyboardInterrupt(), _wrapped_interrupt()])
def test_an_interrupted_training_says_which_epoch_resume_continues_from(tmp_path, error):
    request = RunRequest(
        SPLEEN,
        "config/config_train.json",
        overrides={"MMAR_CKPT_DIR": str(tmp_path / "models")},
        device="cpu",
    )
    with pytest.raises(Interrupted) as caught:
        run_command(_FakeTrain(error), request)
    assert str(caught.value).startswith(
        "Interrupted; `clara train --resume` continues from epoch 3"
    )
    record = json.loads((tmp_path / "models" / "run.json").read_text(encoding="utf-8"))
    assert record["status"] == "interrupted"


@pytest.mark.parametrize(
    ("raised", "message"),
    [
        (Interrupted("Interrupted; `clara train --resume` continues from epoch 3"), "epoch 3"),
        (_wrapped_interrupt(), "Interrupted."),
    ],
)
def test_the_command_exits_130_with_the_message(monkeypatch, raised, message):
    def run_for_archive(*args: Any) -> None:
        raise raised

    monkeypatch.setattr(families, "run_for_archive", run_for_archive)
    result = CliRunner().invoke(cli, ["train", "-m", str(SPLEEN), "--device", "cpu"])
    assert result.exit_code == 130
    assert message in result.output
    assert "KeyboardInterrupt" not in result.output and "Traceback" not in result.output
