"""Every phantom's bytes are pinned: the regression baselines (tests/regression) train on them.

The digests were recorded from `clara synth NAME -n 2 --size 32` before the phantom code was
refactored; any change to a generator, to the shared toolkit (`clara_cli/data/phantom.py`) or
to how files are written shows here first. They also pin SimpleITK's NIfTI/NRRD writers and
numpy's random streams: if an upgrade of those changes a digest, the regression baselines
must be re-checked before the digest is updated.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from clara_cli.cli.main import cli

DIGESTS = {
    "abdomen": "d46229fcaf6f7de8705f35261514b4a40e9c2bfc2e1c262783a1c5ba0f898c50",
    "brats": "a42584892f3031fe897544d835df296dc28b6c12111efb013a3867f5ca96e3c5",
    "brats-4d": "e765bdab5f1f9b111cf7f48ea736a7b9dbd5fc0ec0e52c9cef0ce95b0efcf63b",
    "cspine": "4ff337c546b7e0e38b4df14829dbdc6306865e725466406dc478bdce00df53d6",
    "spleen": "2e33fcd5a1f06e795af1f9d83775dd0b4ca19119098b6294c066234f134c605b",
    "thorax": "34d737e36b04069757c2e32cdde037fc01d43d395afa9360fc3b7d68ea602a3b",
}


def folder_digest(folder: Path) -> str:
    """sha256 over every file's relative path and bytes, in path order."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()


def test_every_phantom_is_pinned():
    from clara_cli.families import phantoms

    assert sorted(phantoms()) == sorted(DIGESTS)


@pytest.mark.parametrize("name", sorted(DIGESTS))
def test_phantom_bytes_are_unchanged(name, tmp_path):
    result = CliRunner().invoke(
        cli, ["synth", name, "-o", str(tmp_path), "-n", "2", "--size", "32"]
    )
    assert result.exit_code == 0, result.output
    assert folder_digest(tmp_path) == DIGESTS[name]
