"""The robustness corpus's shared data: two tiny spleen phantoms, made once per session."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_spleen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`clara synth spleen -n 2 --size 32`: one training and one validation case."""
    from click.testing import CliRunner

    from clara_cli.cli.main import cli

    root = tmp_path_factory.mktemp("robustness") / "data"
    result = CliRunner().invoke(
        cli, ["synth", "spleen", "-o", str(root), "-n", "2", "--size", "32"]
    )
    assert result.exit_code == 0, result.output
    return root
