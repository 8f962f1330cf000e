"""`clara export` through the CLI: pt2, TorchScript and ONNX from a checkpoint, then used by
`clara validate` and `clara infer` in place of the checkpoint."""

from __future__ import annotations

import re

import pytest
import SimpleITK as sitk
from click.testing import CliRunner

from clara_cli.cli.main import cli
from clara_cli.errors import ClaraError

USE_CKPT = ["--set", "dont_load_ts_model=true", "dont_load_ckpt_model=false"]
USE_TS = ["--set", "dont_load_ts_model=false", "dont_load_ckpt_model=true"]


def _max_diffs(output: str) -> list[tuple[float, float]]:
    """(max abs diff, bound) of each export the output reports."""
    found = re.findall(r"max abs diff vs eager (\S+) \(bound (\S+) ", output)
    return [(float(diff), float(bound)) for diff, bound in found]


def test_export_writes_both_formats_with_their_parity(trained_41):
    result = CliRunner().invoke(
        cli, ["export", "-m", str(trained_41), "--format", "torchscript", "--format", "onnx"]
    )
    assert result.exit_code == 0, result.output
    models = trained_41 / "models"
    assert (models / "model.ts").is_file() and (models / "model.onnx").is_file()
    assert "input shape [1, 1, 16, 16, 16]" in result.output  # the config's patch_size
    diffs = _max_diffs(result.output)
    assert len(diffs) == 2 and all(diff <= bound for diff, bound in diffs)


def test_export_writes_pt2_by_default(trained_41):
    result = CliRunner().invoke(cli, ["export", "-m", str(trained_41)])
    assert result.exit_code == 0, result.output
    models = trained_41 / "models"
    assert (models / "model.pt2").is_file() and not (models / "model.ts").exists()
    assert "(pt2 via torch.export)" in result.output
    assert "labels agree on 100 % of voxels" in result.output
    assert "warning" not in result.output


def test_default_falls_back_to_torchscript_with_one_warning(trained_41, monkeypatch):
    import clara_cli.export.pt2

    def cannot_export(*args, **kwargs):
        raise ClaraError("cannot export UNet with torch.export: forced failure")

    monkeypatch.setattr(clara_cli.export.pt2, "export_pt2", cannot_export)
    result = CliRunner().invoke(cli, ["export", "-m", str(trained_41)])
    assert result.exit_code == 0, result.output
    models = trained_41 / "models"
    assert (models / "model.ts").is_file() and not (models / "model.pt2").exists()
    assert result.output.count("warning:") == 1
    assert "no pt2 export (cannot export UNet with torch.export: forced failure)" in result.output


def test_asked_for_pt2_a_failure_is_an_error(trained_41, monkeypatch):
    import clara_cli.export.pt2

    def cannot_export(*args, **kwargs):
        raise ClaraError("cannot export UNet with torch.export: forced failure")

    monkeypatch.setattr(clara_cli.export.pt2, "export_pt2", cannot_export)
    result = CliRunner().invoke(cli, ["export", "-m", str(trained_41), "--format", "pt2"])
    assert result.exit_code == 1
    assert "Error: cannot export UNet with torch.export: forced failure" in result.output
    assert not (trained_41 / "models" / "model.ts").exists()


def test_export_takes_claras_input_shape_form(trained_41):
    result = CliRunner().invoke(
        cli,
        [
            "export",
            "-m",
            str(trained_41),
            "-f",
            "torchscript",
            "--input-shape",
            "[1, 1, 32, 32, 16]",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "on input [1, 1, 32, 32, 16]" in result.output


def test_bad_input_shape_is_a_usage_error(trained_41):
    result = CliRunner().invoke(cli, ["export", "-m", str(trained_41), "--input-shape", "96,96"])
    assert result.exit_code == 2
    assert "expected [batch, channels, spatial...]" in result.output


def test_missing_checkpoint_says_how_to_get_one(mmar_41):
    result = CliRunner().invoke(cli, ["export", "-m", str(mmar_41)])
    assert result.exit_code == 1
    assert "Error: checkpoint not found: " in result.output
    assert "train first" in result.output


@pytest.mark.slow
@pytest.mark.parametrize("export_format", ["pt2", "torchscript"])
def test_validate_and_infer_from_the_export_match_the_checkpoint(
    trained_41, tmp_path, export_format
):
    """The configs' `ts_path: {MMAR_TORCHSCRIPT}` loader: model.ts, or model.pt2 without it."""
    runner = CliRunner()
    exported = runner.invoke(cli, ["export", "-m", str(trained_41), "-f", export_format])
    assert exported.exit_code == 0, exported.output
    scores = {}
    for name, loader in (("ckpt", USE_CKPT), ("ts", USE_TS)):
        out = tmp_path / name
        # The training's grid and window: an export brings its own preprocessing (its
        # clara.json), a checkpoint takes the config's, so both must be the training's here.
        same = ["pixdim=[2,2,2]", "roi_size=[32,32,32]"]
        args = ["-m", str(trained_41), *loader, f"MMAR_EVAL_OUTPUT_PATH={out}", *same]
        result = runner.invoke(cli, ["validate", *args])
        assert result.exit_code == 0, result.output
        scores[name] = (out / "metrics_per_case.csv").read_text()
        # Without --input: the datalist's test list (the two validation images).
        result = runner.invoke(cli, ["infer", *args, "-o", str(out / "seg")])
        assert result.exit_code == 0, result.output
    assert scores["ts"] == scores["ckpt"]
    ckpt_segs = sorted((tmp_path / "ckpt" / "seg").glob("*_seg.nii.gz"))
    assert len(ckpt_segs) == 2
    for path in ckpt_segs:
        ours = sitk.GetArrayFromImage(sitk.ReadImage(str(path)))
        theirs = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "ts" / "seg" / path.name)))
        assert (ours == theirs).all()
