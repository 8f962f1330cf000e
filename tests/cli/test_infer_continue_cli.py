"""`clara infer --continue` through the CLI: what the user reads on a resumed run."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch
from click.testing import CliRunner

from clara_cli.cli.main import cli

SPLEEN = Path(__file__).resolve().parents[2] / "mmars" / "clara_pt_spleen_ct_segmentation"


class ThresholdNet(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([0.5 - x, x - 0.5], dim=1)


def test_a_continued_run_says_what_was_done_earlier(phantom_dir, tmp_path):
    model = tmp_path / "threshold.ts"
    torch.jit.save(torch.jit.script(ThresholdNet()), str(model))
    images = tmp_path / "images"
    images.mkdir()
    for name in ("spleen_01", "spleen_02"):
        shutil.copy(phantom_dir / "imagesTr" / f"{name}.nii.gz", images)
    args = ["infer", "-m", str(SPLEEN), "-i", str(images), "-o", str(tmp_path / "out")]
    args += ["--set", f"MMAR_TORCHSCRIPT={model}", "pixdim=[2,2,2]", "roi_size=[32,32,32]"]
    args += ["amp=false", "--model", "ts"]
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    (tmp_path / "out" / "spleen_02_seg.nii.gz").unlink()

    again = CliRunner().invoke(cli, [*args, "--continue"])

    assert again.exit_code == 0, again.output
    assert "2 of 2 case(s) segmented" in again.output
    assert "1 done earlier" in again.output
    assert (tmp_path / "out" / "spleen_02_seg.nii.gz").is_file()
