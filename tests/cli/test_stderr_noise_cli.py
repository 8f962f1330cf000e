"""A tiny spleen training with validation, and an inference of MetaImage files, print nothing
on stderr but clara's own lines: no Python warnings (even with --debug, which keeps them), no
"leaked semaphore", no raw ITK reader lines."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from clara_cli.io.native_stderr import METAIO_LINE

REPO = Path(__file__).resolve().parents[2]
SPLEEN = REPO / "mmars" / "clara_pt_spleen_ct_segmentation"
TINY = [
    "pixdim=[4,4,4]",
    "roi_size=[32,32,32]",
    "patch_size=[32,32,32]",
    "batch_size=1",
    "amp=false",
    "epochs=1",
    "num_interval_per_valid=1",
]


def _clara(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "clara_cli", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"},
    )


def _foreign_lines(stderr: str) -> list[str]:
    """Lines that are warnings but not clara's own (`warning: ...`), or raw ITK reader lines."""
    return [
        line
        for line in stderr.splitlines()
        if (("Warning" in line or "leaked semaphore" in line) and not line.startswith("warning: "))
        or METAIO_LINE.fullmatch(line)
    ]


@pytest.mark.slow
def test_tiny_train_validate_and_infer_stderr_is_clara_only(tmp_path):
    data = tmp_path / "data"
    done = _clara("synth", "spleen", "-o", str(data), "-n", "4", "--size", "32")
    assert done.returncode == 0, done.stderr
    mmar = tmp_path / "m"
    shutil.copytree(SPLEEN, mmar)
    paths = [f"DATA_ROOT={data}", f"DATASET_JSON={data / 'dataset_0.json'}"]
    done = _clara("train", "-m", str(mmar), "--device", "cpu", "--debug", "--set", *paths, *TINY)
    assert done.returncode == 0, done.stderr
    assert "val_mean_dice" in done.stderr  # validation ran
    assert _foreign_lines(done.stderr) == []

    images = tmp_path / "mha"
    done = _clara("dataconvert", "-d", str(data / "imagesTr"), "-o", str(images), "-e", ".mha")
    assert done.returncode == 0, done.stderr
    cut = images / "spleen_01.mha"
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])  # one truncated input
    done = _clara(
        "infer", "-m", str(mmar), "-i", str(images), "-o", str(tmp_path / "out"),
        "--device", "cpu", "--set", *paths, *TINY,
    )  # fmt: skip
    assert done.returncode == 1
    assert "spleen_01" in done.stderr and "Error:" in done.stderr
    assert _foreign_lines(done.stderr) == []
