from __future__ import annotations

import sys

import pytest
import torch
from monai.networks.nets import AHNet, SegResNet, UNet

from clara_cli.errors import ClaraError
from clara_cli.export.onnx import export_onnx
from clara_cli.export.torchscript import export_torchscript


def _small_unet() -> torch.nn.Module:
    torch.manual_seed(0)
    return UNet(spatial_dims=3, in_channels=1, out_channels=2, channels=(8, 16, 32), strides=(2, 2))


class UnscriptableNet(torch.nn.Module):
    """Uses a Python callable attribute in forward(): torch.jit.script rejects it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 2, 3, padding=1)
        self.activation = lambda tensor: torch.relu(tensor)

    def forward(self, x):  # no annotations on purpose, like much user code
        return self.activation(self.conv(x))


def _left_behind(directory):
    return [path.name for path in directory.iterdir() if path.name.startswith(".")]


def test_torchscript_unet_is_scripted_and_matches(tmp_path):
    result = export_torchscript(_small_unet(), [1, 1, 32, 32, 32], tmp_path / "models" / "model.ts")
    assert result.method == "script"
    assert result.max_abs_diff <= 1e-4
    loaded = torch.jit.load(str(result.path))
    assert loaded(torch.zeros(1, 1, 32, 32, 32)).shape == (1, 2, 32, 32, 32)
    assert _left_behind(result.path.parent) == []


def test_torchscript_falls_back_to_trace_with_a_note(tmp_path, caplog):
    result = export_torchscript(UnscriptableNet(), [1, 1, 16, 16], tmp_path / "model.ts")
    assert result.method == "trace"
    assert result.max_abs_diff <= 1e-4
    assert "torch.jit.script failed" in result.notes[0]
    assert "falling back to torch.jit.trace" in caplog.text


def test_torchscript_mismatch_fails_and_writes_nothing(noisy_net, tmp_path):
    target = tmp_path / "model.ts"
    with pytest.raises(
        ClaraError, match=r"differs from the eager model on a seeded input.*needs <= "
    ):
        export_torchscript(noisy_net, [1, 1, 8, 8, 8], target)
    assert not target.exists()
    assert _left_behind(tmp_path) == []


def test_bad_input_shape_is_a_clear_error(tmp_path):
    with pytest.raises(ClaraError, match=r"\[batch, channels, spatial...\]"):
        export_torchscript(_small_unet(), [32, 32, 32], tmp_path / "model.ts")


def test_onnx_unet_matches_with_dynamic_batch_and_spatial_axes(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    result = export_onnx(_small_unet(), [1, 1, 32, 32, 32], tmp_path / "model.onnx")
    assert result.max_abs_diff <= 1e-4
    assert result.dynamic_axes == {0: "batch", 2: "spatial_0", 3: "spatial_1", 4: "spatial_2"}
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    (output,) = session.run(None, {"input": torch.zeros(3, 1, 48, 32, 16).numpy()})
    assert output.shape == (3, 2, 48, 32, 16)


def test_onnx_mismatch_fails_and_writes_nothing(noisy_net, tmp_path):
    pytest.importorskip("onnxruntime")
    target = tmp_path / "model.onnx"
    with pytest.raises(ClaraError, match="ONNX export to .* differs from the eager model"):
        export_onnx(noisy_net, [1, 1, 8, 8, 8], target)
    assert not target.exists()
    assert _left_behind(tmp_path) == []


@pytest.mark.parametrize("missing", ["onnx", "onnxruntime"])
def test_missing_onnx_packages_give_the_install_hint(tmp_path, monkeypatch, missing):
    monkeypatch.setitem(sys.modules, missing, None)  # makes `import <missing>` raise ImportError
    with pytest.raises(ClaraError, match=r"pip install 'clara-mmar\[onnx\]'"):
        export_onnx(_small_unet(), [1, 1, 16, 16, 16], tmp_path / "model.onnx")


@pytest.mark.slow
def test_segresnet_exports_to_both_formats(tmp_path):
    pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    net = SegResNet(spatial_dims=3, in_channels=1, out_channels=2, init_filters=8)
    assert export_torchscript(net, [1, 1, 32, 32, 32], tmp_path / "m.ts").max_abs_diff <= 1e-4
    assert export_onnx(net, [1, 1, 32, 32, 32], tmp_path / "m.onnx").max_abs_diff <= 1e-4


@pytest.mark.slow
def test_smp_unet_2d_exports_to_both_formats(tmp_path):
    pytest.importorskip("onnxruntime")
    smp = pytest.importorskip("segmentation_models_pytorch")
    torch.manual_seed(0)
    net = smp.Unet(encoder_name="resnet18", encoder_weights=None, in_channels=1, classes=2)
    assert export_torchscript(net, [1, 1, 64, 64], tmp_path / "m.ts").max_abs_diff <= 1e-4
    result = export_onnx(net, [1, 1, 64, 64], tmp_path / "m.onnx")
    assert result.max_abs_diff <= 1e-4
    assert set(result.dynamic_axes) == {0, 2, 3}


@pytest.mark.slow
def test_ahnet_onnx_passes_on_a_bound_relative_to_its_huge_logits(tmp_path):
    """AHNet with psp_block_num=1 (sizes divisible by 32); default AHNet needs 128x128x32.

    Untrained AHNet outputs reach ~1e6, so fp32 rounding alone exceeds an absolute 1e-4 in
    onnxruntime; relative to the outputs' scale the export is exact, and every voxel's label
    agrees.
    """
    pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    net = AHNet(spatial_dims=3, in_channels=1, out_channels=2, psp_block_num=1)
    result = export_torchscript(net, [1, 1, 32, 32, 32], tmp_path / "m.ts")
    assert (result.method, result.max_abs_diff) == ("script", 0.0)
    result = export_onnx(net, [1, 1, 32, 32, 32], tmp_path / "m.onnx")
    assert result.parity.scale > 1e4
    assert 1e-4 < result.max_abs_diff <= 1e-4 * result.parity.scale
    assert result.parity.label_agreement >= 0.9999
    assert (tmp_path / "m.onnx").is_file()
