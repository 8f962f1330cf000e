"""An output folder that cannot be written is refused before any work starts (issue 15, 8):
one `Error:` line naming the folder, exit 1, no traceback, nothing written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from clara_cli.cli.main import cli
from clara_cli.errors import ClaraError
from clara_cli.io.writable import require_writable_folder

SPLEEN = Path(__file__).resolve().parents[2] / "mmars" / "clara_pt_spleen_ct_segmentation"


@pytest.fixture
def unwritable(tmp_path):
    """A folder this user cannot write into: mode 0555, or (as root, whom modes do not stop)
    a folder below a regular file, which no user can create."""
    if os.geteuid() != 0:
        folder = tmp_path / "locked"
        folder.mkdir()
        folder.chmod(0o555)
        yield folder / "out"
        folder.chmod(0o755)
    else:
        blocker = tmp_path / "a_file"
        blocker.write_text("not a folder\n", encoding="utf-8")
        yield blocker / "out"


def _check_refused(result, folder: Path, what: str) -> None:
    assert result.exit_code == 1, result.output
    assert f"Error: cannot write the {what} {folder}: " in result.output
    assert result.output.count("Error:") == 1
    assert "Traceback" not in result.output and "TensorBoard" not in result.output


def test_train_refuses_an_unwritable_checkpoint_folder(mmar_41, unwritable):
    result = CliRunner().invoke(
        cli,
        ["train", "-m", str(mmar_41), "--device", "cpu"]
        + ["--set", "epochs=1", f"MMAR_CKPT_DIR={unwritable}"],
    )

    _check_refused(result, unwritable, "checkpoint folder MMAR_CKPT_DIR")
    assert "epoch 1" not in result.output  # refused before training started


def test_validate_refuses_an_unwritable_evaluation_folder_before_validating(mmar_41, unwritable):
    result = CliRunner().invoke(
        cli,
        ["validate", "-m", str(mmar_41), "--device", "cpu"]
        + ["--set", f"MMAR_EVAL_OUTPUT_PATH={unwritable}"],
    )

    # Refused before the (missing) checkpoint is even looked at.
    _check_refused(result, unwritable, "evaluation folder MMAR_EVAL_OUTPUT_PATH")


def test_infer_refuses_an_unwritable_output_folder(phantom_dir, tmp_path, unwritable):
    model = tmp_path / "identity.ts"
    torch.jit.save(torch.jit.script(torch.nn.Identity()), str(model))
    image = phantom_dir / "imagesTr" / "spleen_01.nii.gz"

    result = CliRunner().invoke(
        cli,
        ["infer", "-m", str(SPLEEN), "--device", "cpu", "-i", str(image), "-o", str(unwritable)]
        + ["--set", f"MMAR_TORCHSCRIPT={model}", "dont_load_ts_model=false"],
    )

    _check_refused(result, unwritable, "output folder")


def test_export_refuses_an_unwritable_target_folder(mmar_41, unwritable):
    result = CliRunner().invoke(
        cli,
        ["export", "-m", str(mmar_41), "--format", "onnx"]
        + ["--set", f"MMAR_TORCHSCRIPT={unwritable / 'model.ts'}"],
    )

    # Refused before the (missing) checkpoint is even looked at.
    _check_refused(result, unwritable, "onnx export folder")


def test_a_folder_that_can_be_created_is_accepted_and_not_created(tmp_path):
    folder = tmp_path / "new" / "models"

    assert require_writable_folder(folder, "checkpoint folder") == folder
    assert not (tmp_path / "new").exists()


def test_a_path_below_a_file_is_refused_naming_the_file(tmp_path):
    blocker = tmp_path / "models"
    blocker.write_text("", encoding="utf-8")

    with pytest.raises(ClaraError, match=f"{blocker} is a file, not a folder"):
        require_writable_folder(blocker / "run1", "checkpoint folder")
