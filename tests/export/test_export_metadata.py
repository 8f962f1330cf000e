"""Exports carry their preprocessing (clara.json): written by each format, read back, and used
by `clara infer` in place of the config's values."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from clara_cli.export.metadata import (
    METADATA_NAME,
    apply_to_section_spec,
    preprocessing_metadata,
    read_metadata,
)

META = {
    "clara_export_metadata": 1,
    "orientation": "RAS",
    "pixdim": [2.0, 2.0, 2.0],
    "intensity": [{"name": "ScaleIntensityRanged", "args": {"a_min": -57, "a_max": 164}}],
    "roi_size": [16, 16, 16],
    "class_names": ["spleen"],
    "out_channels": 2,
}


def _conv() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Conv3d(1, 2, 3, padding=1)


def test_torchscript_round_trip(tmp_path):
    from clara_cli.export.torchscript import export_torchscript

    path = export_torchscript(_conv(), [1, 1, 8, 8, 8], tmp_path / "m.ts", metadata=META).path
    assert read_metadata(path) == META
    # A standard extra file: torch itself reads it back.
    extra = {METADATA_NAME: ""}
    torch.jit.load(str(path), _extra_files=extra)
    assert json.loads(extra[METADATA_NAME]) == META


def test_pt2_round_trip(tmp_path):
    from clara_cli.export.pt2 import export_pt2

    path = export_pt2(_conv(), [1, 1, 8, 8, 8], tmp_path / "m.pt2", metadata=META).path
    assert read_metadata(path) == META
    extra = {METADATA_NAME: ""}
    torch.export.load(str(path), extra_files=extra)
    assert json.loads(extra[METADATA_NAME]) == META


def test_onnx_round_trip(tmp_path):
    pytest.importorskip("onnxruntime", reason="the optional onnx extra is not installed")
    import onnx

    from clara_cli.export.onnx import export_onnx

    path = export_onnx(_conv(), [1, 1, 8, 8, 8], tmp_path / "m.onnx", metadata=META).path
    assert read_metadata(path) == META
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert json.loads(props[METADATA_NAME]) == META


def test_export_without_metadata_reads_none(tmp_path):
    from clara_cli.export.torchscript import export_torchscript

    path = export_torchscript(_conv(), [1, 1, 8, 8, 8], tmp_path / "m.ts").path
    assert read_metadata(path) is None


def test_extractor_finds_the_preprocessing_by_transform_name():
    conf = {
        "train": {
            "model": {
                "name": "UNet",
                "args": {"spatial_dims": 3, "in_channels": 1, "out_channels": 3},
            },
            "pre_transforms": [
                {"name": "LoadImaged", "args": {"keys": "image"}},
                {"name": "Orientationd", "args": {"keys": "image", "axcodes": "LPS"}},
                {"name": "Spacingd", "args": {"keys": "image", "pixdim": [1.5, 1.5, 2.0]}},
                {"name": "NormalizeIntensityd", "args": {"keys": "image", "nonzero": True}},
                {"name": "RandScaleIntensityd", "args": {"keys": "image", "factors": 0.1}},
            ],
        },
        "validate": {
            "pre_transforms": [
                {"ref": "LoadImaged"},
                {"ref": "Orientationd"},
                {"ref": "Spacingd"},
                {"ref": "NormalizeIntensityd"},
            ],
            "inferer": {"name": "SlidingWindowInferer", "args": {"roi_size": [64, 64, 32]}},
        },
    }
    meta = preprocessing_metadata(
        conf, {"patch_size": [32, 32, 16], "class_names": ["a", "b"]}, "c.json"
    )
    assert meta["orientation"] == "LPS"
    assert meta["pixdim"] == [1.5, 1.5, 2.0]
    # Deterministic intensity transforms only, without their keys; augmentation left out.
    assert meta["intensity"] == [{"name": "NormalizeIntensityd", "args": {"nonzero": True}}]
    assert meta["roi_size"] == [64, 64, 32] and meta["patch_size"] == [32, 32, 16]
    assert (meta["spatial_dims"], meta["in_channels"], meta["out_channels"]) == (3, 1, 3)
    assert meta["class_names"] == ["a", "b"] and meta["source_config"] == "c.json"
    assert meta["clara_version"]


def test_apply_replaces_only_what_differs():
    raw = {
        "pre_transforms": [
            {"name": "Orientationd", "args": {"keys": "image", "axcodes": "RAS"}},
            {
                "name": "Spacingd",
                "args": {"keys": "image", "pixdim": "{pixdim}", "mode": "bilinear"},
            },
            {
                "name": "ScaleIntensityRanged",
                "args": {"keys": "image", "a_min": -100, "a_max": 164},
            },
        ],
        "inferer": {"name": "SlidingWindowInferer", "args": {"roi_size": "{roi_size}"}},
    }
    resolved = copy.deepcopy(raw)
    resolved["pre_transforms"][1]["args"]["pixdim"] = [1.0, 1.0, 1.0]
    resolved["inferer"]["args"]["roi_size"] = [16, 16, 16]
    changes = apply_to_section_spec(raw, resolved, META)
    assert raw["pre_transforms"][1]["args"] == {
        "keys": "image",
        "pixdim": [2.0, 2.0, 2.0],
        "mode": "bilinear",
    }
    assert raw["pre_transforms"][2]["args"]["a_min"] == -57
    assert raw["inferer"]["args"]["roi_size"] == "{roi_size}"  # already the model's 16^3
    assert len(changes) == 2 and any("pixdim" in c for c in changes)


@pytest.fixture
def exported_41(trained_41: Path) -> Path:
    """The tiny UNet MMAR with a random-weight checkpoint exported to TorchScript by clara."""
    from clara_cli.cli.main import cli

    result = CliRunner().invoke(cli, ["export", "-m", str(trained_41), "--format", "torchscript"])
    assert result.exit_code == 0, result.output
    return trained_41


@pytest.mark.slow
def test_clara_export_records_the_training_preprocessing(exported_41):
    meta = read_metadata(exported_41 / "models" / "model.ts")
    assert meta is not None
    assert meta["pixdim"] == [2.0, 2.0, 2.0] and meta["orientation"] == "RAS"
    assert meta["intensity"][0]["name"] == "ScaleIntensityRanged"
    assert meta["intensity"][0]["args"]["a_min"] == -57
    assert meta["patch_size"] == [16, 16, 16] and meta["out_channels"] == 2
    assert "config_train.json" in meta["source_config"]
    # No class_names variable: the names of the MSD dataset.json beside the datalist
    assert meta["class_names"] == ["spleen"]


@pytest.mark.slow
def test_infer_from_the_export_uses_its_preprocessing(exported_41, tmp_path):
    import SimpleITK as sitk

    from clara_cli.cli.main import cli

    image = sorted((exported_41 / "data" / "imagesTr").iterdir())[0]
    out = tmp_path / "out"
    args = ["infer", "-m", str(exported_41), "-i", str(image), "-o", str(out)]
    # The inference config says 1 mm and a 160^3 window; the model was trained at 2 mm.
    sets = ["--set", "dont_load_ts_model=false", "dont_load_ckpt_model=true", "amp=false"]
    result = CliRunner().invoke(cli, [*args, *sets])
    assert result.exit_code == 0, result.output
    assert (
        "was exported with its preprocessing: orientation RAS, pixdim [2.0, 2.0, 2.0]"
        in result.output
    )
    assert "Spacingd pixdim [1.0, 1.0, 1.0] -> [2.0, 2.0, 2.0]" in result.output
    segmentation = next(out.glob("*_seg.nii.gz"))
    assert sitk.ReadImage(str(segmentation)).GetSize() == sitk.ReadImage(str(image)).GetSize()
