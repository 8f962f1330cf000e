"""The multi-GPU shell scripts, and a failing rank seen from the command line."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]
SPLEEN = REPO / "mmars" / "clara_pt_spleen_ct_segmentation"
TINY_MMAR = REPO / "tests" / "engine" / "data" / "tiny_mmar"


@pytest.fixture
def fake_clara(tmp_path):
    """A `clara` on PATH that only prints its arguments as JSON: what would the script run?"""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "clara"
    fake.write_text(f"#!{sys.executable}\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def _run_script(script: Path, env: dict, *args: str) -> list[str]:
    done = subprocess.run(
        ["bash", str(script), *args],
        env=env,
        capture_output=True,
        encoding="utf-8",
        errors="replace",
        check=True,
    )
    return json.loads(done.stdout)


def test_top_level_train_2gpu_takes_the_mmar_path(fake_clara, tmp_path):
    argv = _run_script(REPO / "commands" / "train_2gpu.sh", fake_clara, str(SPLEEN), "--resume")
    assert argv == ["train", "-m", str(SPLEEN), "--gpus", "2", "--resume"]

    missing = subprocess.run(
        ["bash", str(REPO / "commands" / "train_2gpu.sh")], env=fake_clara, capture_output=True
    )
    assert missing.returncode != 0 and b"usage: commands/train_2gpu.sh MMAR_ROOT" in missing.stderr


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("train_multi_gpu.sh", ["train", "--gpus", "2", "--set", "multi_gpu=true"]),
        ("validate_multi_gpu.sh", ["validate", "--gpus", "2", "--set", "multi_gpu=true"]),
        ("finetune.sh", ["train", "--set", "dont_load_ckpt_model=false"]),
    ],
)
def test_mmar_scripts_run_one_clara_command_on_their_own_mmar(fake_clara, script, expected):
    argv = _run_script(SPLEEN / "commands" / script, fake_clara, "epochs=2")
    command, *rest = expected
    assert argv[0] == command
    assert argv[argv.index("-m") + 1] == str(SPLEEN.resolve())  # the folder above commands/
    joined = " ".join(argv)
    assert " ".join(rest) in joined
    assert argv[-1] == "epochs=2"  # extra arguments continue Clara's --set list


@pytest.mark.slow
def test_a_failing_rank_stops_every_process_with_one_message(tmp_path):
    from clara_cli.families.spleen.phantom import PhantomOptions, synthesize_spleen

    mmar = tmp_path / "mmar"
    shutil.copytree(TINY_MMAR, mmar)
    synthesize_spleen(mmar / "data", num_cases=7, options=PhantomOptions(in_plane_size=32))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    script = REPO / "commands" / "train_2gpu.sh"
    args = ["--device", "cpu", "--set", "fail_on_rank=1", "fail_at_iteration=2"]

    # The timeout only guards against a hang; a healthy failure takes seconds.
    done = subprocess.run(
        ["bash", str(script), str(mmar), *args],
        env=env,
        capture_output=True,
        encoding="utf-8",
        errors="replace",
        timeout=300,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1
    assert "Error: rank 1 of 2 failed: RuntimeError: injected failure on rank 1" in output
    assert output.count("injected failure") == 1  # shown once, not by every process
    assert "Traceback" not in output
