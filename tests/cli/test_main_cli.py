"""The command group: fast help, Clara's --set forms, usage errors."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner

from clara_cli.cli.main import cli
from clara_cli.cli.overrides import expand_set_tokens, parse_overrides

COMMANDS = [
    "dataconvert",
    "prepare-dataset",
    "train",
    "validate",
    "infer",
    "export",
    "synth",
    "experiments",
]


@pytest.mark.parametrize(
    "args",
    [["--help"]]
    + [[name, "--help"] for name in COMMANDS]
    + [["synth", "spleen", "--help"], ["experiments", "run", "--help"]],
    ids=lambda args: " ".join(args),
)
def test_help_does_not_import_torch_monai_simpleitk_or_numpy(args):
    # A fresh interpreter: this test process has imported them already.
    code = (
        "import sys\n"
        "from clara_cli.cli.main import cli\n"
        f"try:\n    cli.main({args!r}, standalone_mode=False)\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'monai', 'SimpleITK', 'ignite', 'numpy') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        encoding="utf-8",
        errors="replace",
        check=True,
    )
    assert "HEAVY []" in out.stdout


def test_every_command_has_help():
    runner = CliRunner()
    for name in COMMANDS:
        result = runner.invoke(cli, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert "Usage:" in result.output


def test_clara_set_form_and_repeated_set_both_work():
    tokens = ["-m", "x", "--set", "a=1", "b=true", "c=[1,2]", "--debug", "--set", "d=x=y"]
    assert expand_set_tokens(tokens) == [
        "-m", "x", "--set", "a=1", "--set", "b=true", "--set", "c=[1,2]", "--debug", "--set", "d=x=y",
    ]  # fmt: skip
    values = parse_overrides(("a=1", "b=true", "c=[1,2]", "d=x=y", "e=True", "f=1e-4", "g=mmars/x"))
    assert values == {
        "a": 1,
        "b": True,
        "c": [1, 2],
        "d": "x=y",
        "e": True,
        "f": 1e-4,
        "g": "mmars/x",
    }


def test_a_set_token_without_equals_is_a_usage_error(tmp_path):
    (tmp_path / "config").mkdir()
    result = CliRunner().invoke(cli, ["train", "-m", str(tmp_path), "--set", "epochs"])
    assert result.exit_code == 2
    assert "expected KEY=VALUE, not 'epochs'" in result.output


def test_a_mistyped_command_gets_a_suggestion():
    result = CliRunner().invoke(cli, ["trian"])
    assert result.exit_code == 2
    assert "Did you mean 'train'?" in result.output


def test_a_folder_without_config_is_not_an_mmar(tmp_path):
    result = CliRunner().invoke(cli, ["train", "-m", str(tmp_path)])
    assert result.exit_code == 2
    assert "is not an MMAR: it has no config/ folder" in result.output


def test_mmar_defaults_to_the_current_folder_when_it_holds_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["train"])
    assert result.exit_code == 2
    assert "Missing option '-m'" in result.output
    (tmp_path / "config").mkdir()
    result = CliRunner().invoke(cli, ["train"])
    assert result.exit_code == 1
    assert "config file not found" in result.output


@pytest.mark.parametrize("command", ["train", "validate", "infer"])
def test_a_node_rank_outside_nnodes_is_a_usage_error_before_anything_starts(command):
    from pathlib import Path

    spleen = Path(__file__).parents[2] / "mmars" / "clara_pt_spleen_ct_segmentation"
    args = [command, "-m", str(spleen), "--device", "cpu", "--nnodes", "2", "--node-rank", "5"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert "'--node-rank': must be between 0 and 1 (--nnodes 2), not 5" in result.output
    assert "starting" not in result.output
