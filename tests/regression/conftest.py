"""What every model regression shares: the `clara` CLI in a subprocess (as a user runs it),
a scratch copy of a shipped MMAR, and the recorded baselines.

The subprocess runs on the AVX2 kernels of ATen, oneDNN and MKL (`REFERENCE_KERNELS`), which
every x86-64 machine of this project has had. Training on these phantoms is chaotic enough
that the kernels' rounding alone moves the best epoch: on an AVX-512 machine (Zen 5) the
spleen run gave 0.857 and the cervical axis-1 model 0.630, against 0.9055 and 0.6516 from the
same code on that machine with the AVX2 kernels (the baselines, recorded on an AVX2-only
CPU). With the kernels pinned, a baseline measures clara, not the CI host's instruction set.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
BASELINES_FILE = Path(__file__).parent / "baselines.json"
# Outputs a shipped MMAR may hold after a local run; never copied into the test's archive.
_RUN_OUTPUTS = ("models", "eval", "runs", "data")
# Each library's own switch for its widest instruction set (ignored where it does not apply).
REFERENCE_KERNELS = {
    "ATEN_CPU_CAPABILITY": "avx2",  # PyTorch's vectorised CPU ops (reductions, norms, softmax)
    "ONEDNN_MAX_CPU_ISA": "AVX2",  # oneDNN: convolutions
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",  # MKL: matrix products
}


def _run_clara(*args: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m clara_cli ARGS`; fail the test with the tail of its output on exit != 0."""
    result = subprocess.run(
        [sys.executable, "-m", "clara_cli", *args],
        env={**os.environ, **REFERENCE_KERNELS},
        capture_output=True,
        encoding="utf-8",
        errors="replace",
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.fixture
def clara() -> Callable[..., subprocess.CompletedProcess[str]]:
    """`clara(*args)`: the CLI in a subprocess, asserting success."""
    return _run_clara


@pytest.fixture
def reference_kernels() -> dict[str, str]:
    """The environment variables that pin the AVX2 kernels (see the module docstring)."""
    return dict(REFERENCE_KERNELS)


@pytest.fixture
def baselines() -> dict[str, Any]:
    """`baselines.json`: each model's recorded figures and the settings they were measured with."""
    return json.loads(BASELINES_FILE.read_text(encoding="utf-8"))


@pytest.fixture
def archive_copy(tmp_path: Path) -> Callable[[str, str], Path]:
    """`archive_copy(name, folder)`: a fresh copy of `mmars/<name>` as `<tmp_path>/<folder>`."""

    def copy(name: str, folder: str) -> Path:
        target = tmp_path / folder
        shutil.copytree(REPO / "mmars" / name, target, ignore=shutil.ignore_patterns(*_RUN_OUTPUTS))
        return target

    return copy
