"""`clara infer` through the CLI: what the user sees, exit codes, and worker processes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

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
def model(tmp_path) -> Path:
    path = tmp_path / "threshold.ts"
    torch.jit.save(torch.jit.script(ThresholdNet()), str(path))
    return path


def _args(model: Path, *extra: str) -> list[str]:
    return [
        "infer",
        "-m",
        str(SPLEEN),
        "--set",
        f"MMAR_TORCHSCRIPT={model}",
        "dont_load_ts_model=false",
        "dont_load_ckpt_model=true",
        "pixdim=[2,2,2]",
        "roi_size=[32,32,32]",
        "amp=false",
        *extra,
    ]


def test_a_corrupt_input_is_reported_and_the_others_are_written(phantom_dir, model, tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    for name in ("spleen_01", "spleen_02"):
        shutil.copy(phantom_dir / "imagesTr" / f"{name}.nii.gz", images)
    (images / "spleen_00.nii.gz").write_bytes(b"\x1f\x8b not really gzip")

    result = CliRunner().invoke(cli, _args(model, "-i", str(images), "-o", str(tmp_path / "out")))

    assert result.exit_code == 1
    assert "2 of 3 case(s) segmented" in result.output
    assert f"Error: 1 case(s) failed:\n  spleen_00: cannot read {images}/spleen_00.nii.gz: " in (
        result.output
    )
    assert "Traceback" not in result.output
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == [
        "manifest.csv",
        "run.json",
        "run.log",
        "spleen_01_seg.nii.gz",
        "spleen_02_seg.nii.gz",
    ]
    record = json.loads((tmp_path / "out" / "run.json").read_text(encoding="utf-8"))
    assert record["result"]["failed_cases"] == ["spleen_00"]


def test_a_missing_model_is_an_error_before_any_case(phantom_dir, tmp_path):
    image = phantom_dir / "imagesTr" / "spleen_01.nii.gz"
    result = CliRunner().invoke(cli, _args(tmp_path / "none.ts", "-i", str(image)))
    assert result.exit_code == 1
    assert "Error: TorchScript model not found: " in result.output
    assert "clara export" in result.output


@pytest.mark.slow
def test_two_worker_processes_share_out_the_inputs(phantom_dir, model, tmp_path):
    images = tmp_path / "images"
    shutil.copytree(phantom_dir / "imagesTr", images)
    out = tmp_path / "out"

    result = CliRunner().invoke(
        cli, _args(model, "-i", str(images), "-o", str(out), "--device", "cpu", "--gpus", "2")
    )

    assert result.exit_code == 0, result.output
    assert "6 of 6 case(s) segmented" in result.output
    for image in sorted(images.iterdir()):
        seg = sitk.ReadImage(str(out / image.name.replace(".nii.gz", "_seg.nii.gz")))
        assert seg.GetSize() == sitk.ReadImage(str(image)).GetSize()
    # One manifest, every rank's rows in input order; the per-rank partials are gone.
    lines = (out / "manifest.csv").read_text(encoding="utf-8").splitlines()
    names = sorted(image.name.replace(".nii.gz", "") for image in images.iterdir())
    assert [line.split(",")[0] for line in lines[1:]] == names
    assert all(line.split(",")[4] == "ok" for line in lines[1:])
    assert not list(out.glob(".manifest-rank*"))


@pytest.mark.parametrize("inside", ["", "seg"])
def test_an_output_folder_in_the_input_folder_is_refused(tmp_path, inside):
    scans = tmp_path / "scans"
    scans.mkdir()
    (scans / "case.nii.gz").write_bytes(b"")
    output = scans / inside if inside else scans
    result = CliRunner().invoke(
        cli, ["infer", "-m", str(SPLEEN), "-i", str(scans), "-o", str(output)]
    )
    assert result.exit_code == 2
    assert f"output folder '{output}' is" in result.output
    assert "a later run would segment its own outputs" in result.output
    assert sorted(p.name for p in scans.iterdir()) == ["case.nii.gz"]


def test_the_default_output_folder_inside_the_input_is_refused_too(tmp_path):
    from clara_cli.errors import DataError
    from clara_cli.workflows.infer import InferOptions, infer
    from clara_cli.workflows.session import RunRequest

    scans = tmp_path / "scans"
    scans.mkdir()
    sitk.WriteImage(sitk.Image([4, 4, 4], sitk.sitkInt16), str(scans / "case.nii.gz"))
    overrides = {"MMAR_EVAL_OUTPUT_PATH": str(scans / "eval"), "MMAR_CKPT": str(tmp_path / "m.pt")}
    request = RunRequest(SPLEEN, "config/config_inference.json", overrides=overrides, device="cpu")
    with pytest.raises(DataError, match="is inside the input folder"):
        infer(request, InferOptions(scans, None))
