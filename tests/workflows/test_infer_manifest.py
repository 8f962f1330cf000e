"""`clara infer`'s manifest.csv and `--continue`: rows per case, volumes, what is skipped."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from clara_cli.workflows.infer import InferOptions, infer
from clara_cli.workflows.session import RunRequest

SPLEEN = Path(__file__).resolve().parents[2] / "mmars" / "clara_pt_spleen_ct_segmentation"


class ThresholdNet(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([0.5 - x, x - 0.5], dim=1)


@pytest.fixture
def setup(phantom_dir, tmp_path):
    model = tmp_path / "threshold.ts"
    torch.jit.save(torch.jit.script(ThresholdNet()), str(model))
    images = tmp_path / "images"
    images.mkdir()
    for name in ("spleen_01", "spleen_02", "spleen_03"):
        shutil.copy(phantom_dir / "imagesTr" / f"{name}.nii.gz", images)
    overrides = {
        "MMAR_TORCHSCRIPT": str(model),
        "dont_load_ts_model": False,
        "dont_load_ckpt_model": True,
        "pixdim": [2.0, 2.0, 2.0],
        "roi_size": [32, 32, 32],
        "amp": False,
    }
    request = RunRequest(SPLEEN, "config/config_inference.json", overrides=overrides, device="cpu")
    return request, images, tmp_path / "out"


def _manifest(out: Path) -> dict[str, dict[str, str]]:
    with (out / "manifest.csv").open(encoding="utf-8", newline="") as handle:
        return {row["case"]: row for row in csv.DictReader(handle)}


def test_every_case_has_a_row_with_its_volume(setup):
    request, images, out = setup
    (images / "spleen_00.nii.gz").write_bytes(b"not an image")
    infer(request, InferOptions(input=images, output_dir=out))

    rows = _manifest(out)
    assert list(rows) == ["spleen_00", "spleen_01", "spleen_02", "spleen_03"]  # input order
    assert list(rows["spleen_01"])[:6] == ["case", "input", "output", "seconds", "status", "error"]
    assert rows["spleen_00"]["status"] == "failed" and "cannot read" in rows["spleen_00"]["error"]
    assert rows["spleen_00"]["volume_ml_spleen"] == ""
    for name in ("spleen_01", "spleen_02", "spleen_03"):
        row = rows[name]
        assert row["status"] == "ok" and row["error"] == ""
        assert row["input"] == str((images / f"{name}.nii.gz").resolve())
        assert row["output"] == str((out / f"{name}_seg.nii.gz").resolve())
        assert float(row["seconds"]) > 0
        seg = sitk.ReadImage(row["output"])
        expected = np.count_nonzero(sitk.GetArrayFromImage(seg) == 1) * np.prod(seg.GetSpacing())
        assert float(row["volume_ml_spleen"]) == pytest.approx(expected / 1000.0, abs=1e-3)
        assert float(row["volume_ml_spleen"]) > 0


def test_continue_skips_finished_cases_and_redoes_the_rest(setup):
    request, images, out = setup
    infer(request, InferOptions(input=images, output_dir=out))
    first = _manifest(out)
    # spleen_02's output is truncated (a killed copy), spleen_03's row says failed.
    seg_02 = out / "spleen_02_seg.nii.gz"
    data = seg_02.read_bytes()
    seg_02.write_bytes(data[: len(data) // 2])
    text = (out / "manifest.csv").read_text(encoding="utf-8")
    lines = [
        line.replace(",ok,", ",failed,") if line.startswith("spleen_03,") else line
        for line in text.splitlines()
    ]
    (out / "manifest.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    stamp_01 = (out / "spleen_01_seg.nii.gz").stat().st_mtime_ns

    result = infer(request, InferOptions(input=images, output_dir=out, skip_done=True))

    assert [case.name for case in result.skipped] == ["spleen_01"]
    assert sorted(c.name for c in result.cases if not c.skipped) == ["spleen_02", "spleen_03"]
    assert (out / "spleen_01_seg.nii.gz").stat().st_mtime_ns == stamp_01  # not rewritten
    rows = _manifest(out)
    assert rows["spleen_01"] == first["spleen_01"]  # carried over as it was
    assert rows["spleen_02"]["status"] == rows["spleen_03"]["status"] == "ok"
    assert (
        sitk.ReadImage(str(seg_02)).GetSize()
        == sitk.ReadImage(str(images / "spleen_02.nii.gz")).GetSize()
    )


def test_without_continue_every_case_runs_again(setup):
    request, images, out = setup
    infer(request, InferOptions(input=images, output_dir=out))
    result = infer(request, InferOptions(input=images, output_dir=out))
    assert result.skipped == [] and len(result.cases) == 3


def test_click_models_refuse_continue(tmp_path):
    from clara_cli.errors import ConfigError
    from clara_cli.families.deepgrow.infer import infer_with_clicks

    deepgrow = SPLEEN.parent / "clara_pt_deepgrow_3d_annotation"
    request = RunRequest(deepgrow, "config/config_inference.json", device="cpu")
    with pytest.raises(ConfigError, match="is a click model: .*--continue"):
        infer_with_clicks(request, InferOptions(output_dir=tmp_path / "out", skip_done=True))
    assert not (tmp_path / "out").exists()
