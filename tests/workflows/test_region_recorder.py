"""The multi-label case recorder `clara validate` uses with `multi_label: true`."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from monai.data import MetaTensor

from clara_cli.errors import DataError
from clara_cli.workflows.infer_cases import channels_case_name
from clara_cli.workflows.region_recorder import RegionCaseRecorder

NAMES = ["TC", "WT", "ET"]


def _item(pred_shift: int = 0) -> dict:
    label = torch.zeros(3, 12, 12, 8)
    label[1, 2:10, 2:10, 1:7] = 1
    label[0, 4:8, 4:8, 2:6] = 1
    label[2, 5:7, 5:7, 3:5] = 1
    pred = torch.roll(label, pred_shift, dims=1)
    meta = {"filename_or_obj": "/data/labelsTr/brats_007.nii.gz"}
    affine = torch.diag(torch.tensor([2.0, 2.0, 2.0, 1.0]))  # 2 mm voxels
    image_meta = {"filename_or_obj": "/data/imagesTr/brats_007_t1c.nii.gz"}
    image = MetaTensor(torch.randn(4, 12, 12, 8), meta=image_meta)
    return {
        "image": image,
        "label": MetaTensor(label, affine=affine, meta=dict(meta)),
        "pred": MetaTensor(pred, affine=affine, meta=dict(meta)),
    }


def test_rows_score_every_region_and_name_the_case_after_its_label():
    recorder = RegionCaseRecorder(NAMES)
    recorder(SimpleNamespace(state=SimpleNamespace(output=[_item(), _item(pred_shift=1)])))
    first, second = recorder.rows
    assert first["case"] == "brats_007"  # not brats_007_t1c, the first channel's file
    assert first["dice"] == {"TC": 1.0, "WT": 1.0, "ET": 1.0}
    assert 0.0 < second["dice"]["ET"] < second["dice"]["WT"] < 1.0
    assert second["hd95"]["WT"] == pytest.approx(2.0)  # one voxel at 2 mm
    image, label, pred = recorder.slices["brats_007"]
    assert image.shape == (12, 12) and label.shape == pred.shape == (3, 12, 12)
    assert label[2].any()  # the slice with the largest labelled area holds ET


def test_soft_predictions_are_refused_with_the_fix():
    item = _item()
    item["pred"] = item["pred"] * 0.7
    recorder = RegionCaseRecorder(NAMES)
    with pytest.raises(DataError, match="AsDiscreted"):
        recorder(SimpleNamespace(state=SimpleNamespace(output=[item])))


@pytest.mark.parametrize(
    ("paths", "name"),
    [
        (
            ["d/brats_001_t1c.nii.gz", "d/brats_001_t1.nii.gz", "d/brats_001_flair.nii.gz"],
            "brats_001",
        ),
        (["Brats18_2013_2_1_t1ce.nii.gz", "Brats18_2013_2_1_t2.nii.gz"], "Brats18_2013_2_1"),
        (["case1_0000.nii.gz", "case1_0001.nii.gz"], "case1"),
        (["a.nii.gz", "b.nii.gz"], "a"),
    ],
)
def test_a_case_given_as_one_file_per_channel_is_named_after_their_common_stem(paths, name):
    assert channels_case_name(paths) == name


def test_region_recorder_works_on_numpy_too():
    item = {k: np.asarray(v) for k, v in _item().items()}
    recorder = RegionCaseRecorder(NAMES, keep_slices=False)
    recorder(SimpleNamespace(state=SimpleNamespace(output=item)))
    assert recorder.rows[0]["case"] == "case_0000" and recorder.rows[0]["dice"]["TC"] == 1.0


@pytest.mark.parametrize(
    ("value", "multi"), [(True, True), ("true", True), (False, False), (None, False)]
)
def test_validate_scores_regions_when_the_config_says_multi_label(value, multi):
    from clara_cli.engine.case_recorder import CaseRecorder
    from clara_cli.workflows.validate import _recorder_type

    variables = {} if value is None else {"multi_label": value}
    session = SimpleNamespace(var=lambda name, default=None: variables.get(name, default))
    chosen = _recorder_type(session)
    assert (chosen is RegionCaseRecorder) is multi and issubclass(chosen, CaseRecorder)
