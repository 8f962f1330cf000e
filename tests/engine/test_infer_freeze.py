"""`freeze_network`: the inference network scripted and frozen (BatchNorm folded into the
convolutions) gives the same segmentation; a network TorchScript cannot take runs as it is.
Also the per-stage times every case reports."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from clara_cli.engine.inference import freeze_for_inference, prepare_for_inference
from clara_cli.workflows.infer import InferOptions, infer
from clara_cli.workflows.session import RunRequest

REPO = Path(__file__).resolve().parents[2]
SPLEEN = REPO / "mmars" / "clara_pt_spleen_ct_segmentation"


class ConvBatchNormNet(torch.nn.Module):
    """Conv-BN-ReLU twice, with running statistics far from the identity."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv1 = torch.nn.Conv3d(1, 4, 3, padding=1)
        self.bn1 = torch.nn.BatchNorm3d(4)
        self.conv2 = torch.nn.Conv3d(4, 2, 3, padding=1)
        self.bn2 = torch.nn.BatchNorm3d(2)
        for bn in (self.bn1, self.bn2):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.data.uniform_(0.5, 1.5)
            bn.bias.data.uniform_(-0.2, 0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn1(self.conv1(x)))
        return self.bn2(self.conv2(x))


class Unscriptable(torch.nn.Module):
    """Variadic forward: TorchScript refuses it."""

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return inputs[0] * 2


def test_freezing_folds_batchnorm_and_keeps_the_output():
    network = ConvBatchNormNet().eval()
    x = torch.rand(2, 1, 16, 16, 16)
    with torch.inference_mode():
        expected = network(x)
        frozen = freeze_for_inference(network)
        got = frozen(x)

    assert isinstance(frozen, torch.jit.ScriptModule)
    assert "batch_norm" not in str(frozen.graph)  # folded into the convolutions
    scale = float(expected.abs().max())
    assert float((got - expected).abs().max()) <= 1e-5 * scale
    agree = (got.argmax(1) == expected.argmax(1)).float().mean()
    assert float(agree) >= 0.999


def test_a_network_torchscript_cannot_take_runs_unfrozen_with_one_warning(caplog):
    network = Unscriptable()
    with caplog.at_level(logging.WARNING, logger="clara"):
        kept = freeze_for_inference(network)
    assert kept is network
    assert [r.getMessage() for r in caplog.records if "cannot be scripted" in r.getMessage()]
    assert "Unscriptable" in caplog.text


def test_freezing_is_for_fp32_only(caplog):
    with caplog.at_level(logging.WARNING, logger="clara"):
        prepared = prepare_for_inference(ConvBatchNormNet(), torch.bfloat16, freeze=True)
    assert not any(isinstance(m, torch.jit.ScriptModule) for m in prepared.modules())
    assert "fp32 inference only" in caplog.text


@pytest.fixture(scope="module")
def conv_bn_model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("model") / "convbn.ts"
    torch.jit.save(torch.jit.script(ConvBatchNormNet().eval()), str(path))
    return path


def _request(phantom_dir: Path, model: Path, tmp: Path, **extra) -> RunRequest:
    overrides = {
        "DATA_ROOT": str(phantom_dir),
        "DATASET_JSON": str(phantom_dir / "dataset_0.json"),
        "MMAR_TORCHSCRIPT": str(model),
        "MMAR_EVAL_OUTPUT_PATH": str(tmp / "eval"),
        "dont_load_ts_model": False,
        "dont_load_ckpt_model": True,
        "pixdim": [2.0, 2.0, 2.0],
        "roi_size": [32, 32, 32],
        "amp": False,
        **extra,
    }
    return RunRequest(SPLEEN, "config/config_inference.json", overrides=overrides, device="cpu")


def test_a_frozen_network_gives_the_same_segmentation(phantom_dir, conv_bn_model, tmp_path):
    image_path = phantom_dir / "imagesTr" / "spleen_01.nii.gz"
    cases = []
    for freeze, out in ((False, "plain"), (True, "frozen")):
        request = _request(phantom_dir, conv_bn_model, tmp_path, freeze_network=freeze)
        (case,) = infer(request, InferOptions(input=image_path, output_dir=tmp_path / out)).cases
        assert case.error is None
        cases.append(case)

    plain, frozen = (sitk.ReadImage(str(case.segmentation)) for case in cases)
    source = sitk.ReadImage(str(image_path))
    for image in (plain, frozen):
        assert image.GetPixelID() == sitk.sitkUInt8
        assert image.GetSize() == source.GetSize()
        assert image.GetSpacing() == source.GetSpacing()
        assert image.GetOrigin() == source.GetOrigin()
        assert image.GetDirection() == source.GetDirection()
    labels_plain, labels_frozen = (sitk.GetArrayFromImage(i) for i in (plain, frozen))
    assert 0 < np.count_nonzero(labels_plain) < labels_plain.size  # both classes present
    assert np.mean(labels_plain == labels_frozen) >= 0.999


def test_every_case_reports_where_its_time_went(phantom_dir, conv_bn_model, tmp_path):
    image_path = phantom_dir / "imagesTr" / "spleen_01.nii.gz"
    request = _request(phantom_dir, conv_bn_model, tmp_path)
    (case,) = infer(request, InferOptions(input=image_path, output_dir=tmp_path / "out")).cases

    assert list(case.stages) == ["read", "predict", "post", "write"]
    assert all(seconds >= 0 for seconds in case.stages.values())
    assert sum(case.stages.values()) <= case.seconds + 1e-6
