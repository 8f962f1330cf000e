"""`-v/--verbose`: debug lines, MONAI StatsHandler's lines through clara's logger."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from clara_cli.cli.main import cli
from clara_cli.logs import VERBOSE_ENV, configure_logging, output_mode


def test_quiet_and_verbose_together_are_a_usage_error(tmp_path):
    (tmp_path / "config").mkdir()
    result = CliRunner().invoke(cli, ["validate", "-m", str(tmp_path), "-q", "-v"])
    assert result.exit_code == 2
    assert "-q/--quiet and -v/--verbose contradict each other" in result.output


@pytest.mark.parametrize("verbose, level", [(False, logging.INFO), (True, logging.DEBUG)])
def test_verbose_sets_the_clara_logger_to_debug(verbose, level, monkeypatch):
    monkeypatch.delenv(VERBOSE_ENV, raising=False)
    with output_mode(verbose=verbose):
        configure_logging()
        assert logging.getLogger("clara").level == level
    configure_logging()
    assert logging.getLogger("clara").level == logging.INFO


def _validate(mmar: Path, out: Path, *flags: str):
    args = ["validate", "-m", str(mmar), *flags, "--set", f"MMAR_EVAL_OUTPUT_PATH={out}"]
    return CliRunner().invoke(cli, args)


@pytest.mark.slow
def test_stats_handler_lines_only_with_verbose(mmar_41, tmp_path):
    from clara_cli.engine.model_loading import build_network
    from clara_cli.workflows.session import RunRequest, open_session

    session = open_session(RunRequest(mmar_41, "config/config_train.json", device="cpu"))
    network = build_network(session.conf, session, "test")
    (mmar_41 / "models").mkdir()
    torch.save(
        {"model": network.state_dict(), "train_conf": session.conf},
        mmar_41 / "models" / "model.pt",
    )
    # The fixture's validation config has a StatsHandler (epoch level): its metrics line.
    quiet = _validate(mmar_41, tmp_path / "a")
    assert quiet.exit_code == 0, quiet.output
    assert "Metrics --" not in quiet.output
    verbose = _validate(mmar_41, tmp_path / "b", "-v")
    assert verbose.exit_code == 0, verbose.output
    [line] = [line for line in verbose.output.splitlines() if "Metrics --" in line]
    assert "val_mean_dice" in line
    assert not line.startswith("20")  # clara's format, not MONAI's own "2026-... INFO:"


_WARN = """
import warnings
from clara_cli.logs import configure_logging
configure_logging()
warnings.warn("a default will change", FutureWarning)
warnings.warn("something the user should see", UserWarning)
"""


@pytest.mark.parametrize("verbose", [False, True])
def test_library_future_warnings_are_debug_lines(verbose):
    """A third-party FutureWarning is a debug line of clara's log (shown with -v), not
    dropped and not printed bare; other warnings are printed as Python prints them."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in (VERBOSE_ENV, "PYTHONWARNINGS")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    if verbose:
        env[VERBOSE_ENV] = "1"
    done = subprocess.run(
        [sys.executable, "-c", _WARN], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "UserWarning: something the user should see" in done.stderr
    lines = [line for line in done.stderr.splitlines() if "a default will change" in line]
    if verbose:
        assert len(lines) == 1 and lines[0].startswith("FutureWarning: a default will change (")
    else:
        assert lines == []
