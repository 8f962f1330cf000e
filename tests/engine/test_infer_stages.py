"""Every `clara infer` case says where its time went: read, predict, post, write."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
import torch

from clara_cli.workflows.infer import InferOptions, infer
from clara_cli.workflows.session import RunRequest

REPO = Path(__file__).resolve().parents[2]
SPLEEN = REPO / "mmars" / "clara_pt_spleen_ct_segmentation"


class TwoClassConv(torch.nn.Module):
    """A 3D convolution to two class scores."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv3d(1, 2, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


@pytest.fixture(scope="module")
def conv_model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("model") / "conv.ts"
    torch.jit.save(torch.jit.script(TwoClassConv().eval()), str(path))
    return path


def _request(phantom_dir: Path, model: Path, tmp: Path) -> RunRequest:
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
    }
    return RunRequest(SPLEEN, "config/config_inference.json", overrides=overrides, device="cpu")


def test_every_case_reports_where_its_time_went(phantom_dir, conv_model, tmp_path, caplog):
    image_path = phantom_dir / "imagesTr" / "spleen_01.nii.gz"
    request = _request(phantom_dir, conv_model, tmp_path)
    options = InferOptions(input=image_path, output_dir=tmp_path / "out")
    with caplog.at_level(logging.DEBUG, logger="clara"):
        (case,) = infer(request, options).cases

    assert case.error is None
    assert list(case.stages) == ["read", "predict", "post", "write"]
    assert all(seconds >= 0 for seconds in case.stages.values())
    assert sum(case.stages.values()) <= case.seconds + 1e-6
    assert re.search(r"case spleen_01: read [\d.]+ s, predict [\d.]+ s, post .* write", caplog.text)


def test_a_case_that_cannot_be_read_has_no_later_stages(phantom_dir, conv_model, tmp_path):
    broken = tmp_path / "broken.nii.gz"
    broken.write_bytes(b"not an image")
    request = _request(phantom_dir, conv_model, tmp_path)
    (case,) = infer(request, InferOptions(input=broken, output_dir=tmp_path / "out")).cases

    assert case.error is not None
    assert case.stages == {}
