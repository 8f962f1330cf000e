"""`clara validate|infer --checkpoint/--model` through the CLI: exit codes and help."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from click.testing import CliRunner

from clara_cli.cli.main import cli

SPLEEN = Path(__file__).resolve().parents[2] / "mmars" / "clara_pt_spleen_ct_segmentation"


class ThresholdNet(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([0.5 - x, x - 0.5], dim=1)


@pytest.fixture
def mmar(tmp_path: Path) -> Path:
    """The spleen MMAR's configs with a TorchScript and an ONNX export of one threshold net."""
    root = tmp_path / "mmar"
    shutil.copytree(SPLEEN / "config", root / "config")
    models = root / "models"
    models.mkdir()
    net = ThresholdNet()
    torch.jit.save(torch.jit.script(net), str(models / "model.ts"))
    axes = {0: "batch", 2: "x", 3: "y", 4: "z"}
    torch.onnx.export(
        net,
        (torch.zeros(1, 1, 8, 8, 8),),
        str(models / "model.onnx"),
        dynamo=False,
        input_names=["input"],
        output_names=["output"],
        dynamic_axes={"input": axes, "output": axes},
    )
    from clara_cli.export.pt2 import export_pt2

    export_pt2(ThresholdNet(), [1, 1, 32, 32, 32], models / "model.pt2")
    return root


def _infer(mmar: Path, image: Path, out: Path, *options: str):
    settings = ["pixdim=[2,2,2]", "roi_size=[32,32,32]", "amp=false"]
    args = ["infer", "-m", str(mmar), "-i", str(image), "-o", str(out), "--set", *settings]
    return CliRunner().invoke(cli, [*args, *options])


@pytest.mark.parametrize("model", ["onnx", "pt2"])
def test_each_export_segments_like_the_torchscript_export(mmar, phantom_dir, tmp_path, model):
    image = phantom_dir / "imagesTr" / "spleen_01.nii.gz"
    ts = _infer(mmar, image, tmp_path / "ts", "--model", "ts")
    other = _infer(mmar, image, tmp_path / model, "--model", model)
    assert ts.exit_code == 0, ts.output
    assert other.exit_code == 0, other.output
    read = [
        sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / d / "spleen_01_seg.nii.gz")))
        for d in ("ts", model)
    ]
    assert read[0].any()
    np.testing.assert_array_equal(read[0], read[1])
    record = (tmp_path / model / "run.json").read_text(encoding="utf-8")
    assert f"model.{model}" in record and "model.ts" not in record


def test_a_contradicting_set_is_a_usage_error(mmar, phantom_dir, tmp_path):
    image = phantom_dir / "imagesTr" / "spleen_01.nii.gz"
    result = _infer(
        mmar, image, tmp_path / "o", "--model", "onnx", "--set", "dont_load_ts_model=true"
    )
    assert result.exit_code == 2
    assert "Error: --model onnx loads the ONNX, but --set dont_load_ts_model=true" in (
        result.output
    )
    assert not (tmp_path / "o").exists()


def test_checkpoint_with_an_export_format_is_a_usage_error(mmar, tmp_path):
    result = CliRunner().invoke(
        cli, ["validate", "-m", str(mmar), "--checkpoint", "best", "--model", "pt2"]
    )
    assert result.exit_code == 2
    assert "give one of them" in result.output
    assert "Traceback" not in result.output


def test_a_missing_best_checkpoint_is_one_error_line(mmar):
    result = CliRunner().invoke(cli, ["validate", "-m", str(mmar), "--checkpoint", "best"])
    assert result.exit_code == 1
    assert "Error: --checkpoint best: " in result.output
    assert "model.pt does not exist" in result.output


@pytest.mark.parametrize("command", ["validate", "infer"])
def test_help_explains_the_choice(command):
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0
    for text in ("--checkpoint best|final|PATH", "--model [ckpt|ts|onnx|pt2]", "dont_load"):
        assert text in result.output
