"""Logs that survive batch jobs: one line per epoch, no progress bar off a terminal, -q."""

from __future__ import annotations

import io
import logging
import os
import re
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from click.testing import CliRunner
from ignite.engine import Engine

from clara_cli import families
from clara_cli.cli.main import cli
from clara_cli.engine.epoch_log import EpochLog, format_epoch_line
from clara_cli.engine.handlers import EpochProgress, History
from clara_cli.logs import NO_PROGRESS_ENV, QUIET_ENV, output_mode, progress_bars_enabled


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_epoch_line_has_time_loss_lr_duration_and_eta():
    state = SimpleNamespace(epoch=3, max_epochs=10)
    line = format_epoch_line(state, 0.61234, 1e-4, 20.0, [10.0, 20.0])
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  epoch 3/10  loss 0.6123  lr 1.00e-04  20.0 s  "
        r"ETA 0:01:45",  # 7 epochs left at 15 s each
        line,
    ), line


def test_a_training_logs_one_line_per_epoch(caplog):
    model = torch.nn.Linear(1, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    trainer = Engine(lambda engine, batch: [{"loss": torch.tensor(0.5 * engine.state.epoch)}])
    history = History(None)
    history.attach(trainer, None)
    EpochLog(history, optimizer).attach(trainer)
    with caplog.at_level(logging.INFO, logger="clara"):
        trainer.run([0, 1, 2], max_epochs=2)
    lines = [r.getMessage() for r in caplog.records if " epoch " in r.getMessage()]
    assert len(lines) == 2
    assert "epoch 1/2  loss 0.5000  lr 1.00e-02" in lines[0]
    assert "epoch 2/2  loss 1.0000" in lines[1] and lines[1].endswith("ETA 0:00:00")


def test_progress_bars_only_on_a_terminal(monkeypatch):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert not progress_bars_enabled()  # piped, redirected: a batch job's log
    monkeypatch.setattr("sys.stderr", _Terminal())
    assert progress_bars_enabled()
    with output_mode(progress=False):
        assert not progress_bars_enabled()
    assert progress_bars_enabled() and NO_PROGRESS_ENV not in os.environ
    monkeypatch.setenv("TQDM_DISABLE", "1")
    assert not progress_bars_enabled()


def test_no_bar_frames_when_stderr_is_not_a_terminal(monkeypatch):
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    trainer = Engine(lambda engine, batch: [{"loss": torch.tensor(1.0)}])
    EpochProgress().attach(trainer)
    trainer.run([0, 1], max_epochs=2)
    assert "\r" not in stream.getvalue() and "epoch 1/2" not in stream.getvalue()


@pytest.mark.parametrize(
    ("flag", "quiet", "no_progress"), [("-q", "1", None), ("--no-progress", None, "1")]
)
def test_quiet_and_no_progress_hold_for_the_command_only(monkeypatch, flag, quiet, no_progress):
    seen: dict[str, Any] = {}

    def run_for_archive(*args: Any) -> None:
        seen["quiet"] = os.environ.get(QUIET_ENV)
        seen["no_progress"] = os.environ.get(NO_PROGRESS_ENV)
        seen["level"] = logging.getLogger("clara").level
        seen["bars"] = progress_bars_enabled()

    monkeypatch.setattr(families, "run_for_archive", run_for_archive)
    result = CliRunner().invoke(
        cli, ["validate", "-m", "mmars/clara_pt_spleen_ct_segmentation", flag]
    )
    assert result.exit_code == 0, result.output
    assert (seen["quiet"], seen["no_progress"]) == (quiet, no_progress)
    assert seen["level"] == (logging.WARNING if quiet else logging.INFO)
    assert seen["bars"] is False
    assert QUIET_ENV not in os.environ and NO_PROGRESS_ENV not in os.environ
