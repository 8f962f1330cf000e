"""Every bad input of the corpus (robustness_cases.py) fails the way a user can act on: the
right exit code, exactly one `Error:` message naming the file or key at fault, no traceback,
and no new file anywhere in the case's folders or the shared data.

The one exception is a run's record (`run.json`, `run.log`, `export_run.*`): a run that got as
far as its output folder records there that it failed and why, by design
(clara_cli/workflows/run_record.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from robustness_cases import CASES, SPLEEN, Case, Workspace, set_env

from clara_cli.cli.main import cli

_RUN_RECORDS = {"run.json", "run.log", "export_run.json", "export_run.log"}


def _files(*roots: Path) -> set[Path]:
    return {path for root in roots if root.exists() for path in root.rglob("*")}


def _left_behind(new: set[Path]) -> list[str]:
    """New files and folders, less run records and the folders that only hold them."""
    records = {path for path in new if path.name in _RUN_RECORDS}
    folders = {path for path in new if path.is_dir() and all(p in records for p in path.rglob("*"))}
    return sorted(str(path) for path in new - records - folders)


def _error_message(output: str) -> list[str]:
    """The `Error:` lines, each with the indented lines that continue it."""
    messages: list[str] = []
    lines = output.splitlines()
    for index, line in enumerate(lines):
        if line.startswith("Error:"):
            block = [line]
            for more in lines[index + 1 :]:
                if not more.startswith((" ", "\t")):
                    break
                block.append(more)
            messages.append("\n".join(block))
    return messages


def _param(case: Case):
    return pytest.param(case, id=case.name, marks=[getattr(pytest.mark, m) for m in case.marks])


def test_the_corpus_is_large_and_its_names_unique():
    names = [case.name for case in CASES]
    assert len(names) >= 60
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("case", [_param(case) for case in CASES])
def test_a_bad_input_fails_with_one_clear_error(case: Case, tiny_spleen: Path, tmp_path: Path):
    mmar = tmp_path / "m"
    shutil.copytree(SPLEEN, mmar)
    workspace = Workspace(tmp=tmp_path, mmar=mmar, data=tiny_spleen)
    set_env(
        workspace,
        DATA_ROOT=str(tiny_spleen),
        DATASET_JSON=str(tiny_spleen / "dataset_0.json"),
    )
    if case.setup is not None:
        case.setup(workspace)
    values = workspace.placeholders()
    args = [arg.format(**values) for arg in case.args]
    before = _files(tmp_path, tiny_spleen)

    result = CliRunner().invoke(cli, args)

    output = result.output
    errors = _error_message(output)
    described = f"{case.name}: exit {result.exit_code}\n{output}"
    assert result.exit_code == case.exit_code, described
    assert len(errors) == 1, described
    assert case.names.format(**values) in errors[0], described
    assert "Traceback" not in output, described
    assert "object at 0x" not in output, described  # a repr is not a message
    assert "weights_only=False" not in output, described  # never advise loading unsafely
    assert _left_behind(_files(tmp_path, tiny_spleen) - before) == [], described
