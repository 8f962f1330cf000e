"""A wrong `--set` is a usage error (exit 2) found before any work starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from clara_cli import families
from clara_cli.cli.main import cli

SPLEEN = Path(__file__).parents[2] / "mmars" / "clara_pt_spleen_ct_segmentation"


@pytest.fixture
def started(monkeypatch):
    """Stop right after the config is read (and `--set` checked): record it, exit 0."""
    calls = []

    def stop(*args):
        calls.append(args)
        raise SystemExit(0)

    monkeypatch.setattr(families, "workflow_for", stop)
    return calls


@pytest.mark.parametrize(
    "command, setting, message",
    [
        ("train", "epochs=abc", "Error: --set epochs=abc: expected a whole number >= 1"),
        ("train", "epochs=-1", "Error: --set epochs=-1: expected a whole number >= 1"),
        ("train", "amp=maybe", "Error: --set amp=maybe: expected true or false"),
        ("train", "pixdim=[2,2]", "Error: --set pixdim=[2,2]: expected 3 values"),
        ("train", "epoch=1", "reads 'epoch'; did you mean epochs?"),
        ("validate", "dont_load_ckpt_model=perhaps", "expected true or false"),
        ("infer", "roi_size=[160,160]", "expected 3 values"),
    ],
)
def test_a_wrong_set_is_a_usage_error_before_any_work(command, setting, message, tmp_path, started):
    args = [command, "-m", str(SPLEEN), "--device", "cpu", "--set", setting]
    if command == "infer":
        (tmp_path / "in").mkdir()
        args += ["-i", str(tmp_path / "in"), "-o", str(tmp_path / "out")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not started


def test_a_key_the_training_config_reads_is_accepted_by_validate(started):
    # Validation loads its network from the training config, so its variables count as read.
    result = CliRunner().invoke(
        cli, ["validate", "-m", str(SPLEEN), "--device", "cpu", "--set", "learning_rate=1e-3"]
    )
    assert result.exit_code == 0, result.output
    assert len(started) == 1
