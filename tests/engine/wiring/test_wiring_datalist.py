"""Datasets read their datalist file: this rank's shard, padded for training only."""

from __future__ import annotations

import json
import re

import pytest
from monai.data import CacheDataset, Dataset

from clara_cli.engine.wiring.datalist import load_rank_datalist
from clara_cli.engine.wiring.rules import RunFacts
from clara_cli.errors import DataError


@pytest.fixture
def datalist(tmp_path):
    names = ["a", "b", "c"]
    for name in names:
        (tmp_path / f"{name}.nii.gz").write_bytes(b"")
    path = tmp_path / "datalist.json"
    path.write_text(
        json.dumps(
            {
                "training": [{"image": f"{n}.nii.gz"} for n in names],
                "validation": [{"image": "a.nii.gz"}],
            }
        )
    )
    return path


def _spec(datalist, key="training", **extra):
    return {"name": "Dataset", "data_list_file_path": str(datalist), "data_list_key": key, **extra}


def test_a_dataset_gets_this_ranks_shard_of_its_datalist_and_the_pre_transforms(kit, datalist):
    section = kit.Section(pre_transforms="pre")
    variables = {"DATA_ROOT": str(datalist.parent)}
    ctx = kit.context(
        CacheDataset, section=section, spec=_spec(datalist), variables=variables, rank=1,
        world_size=2,
    )  # fmt: skip
    args = kit.before("datalist.dataset_items", ctx)
    # Three items over two ranks: training pads, so rank 1 also runs two steps.
    assert len(args["data"]) == 2
    assert all(item["image"].startswith(str(datalist.parent)) for item in args["data"])
    assert args["transform"] == "pre"


def test_the_base_dir_of_the_spec_wins_over_data_root(kit, datalist, tmp_path):
    spec = _spec(datalist, data_file_base_dir=str(datalist.parent))
    ctx = kit.context(Dataset, spec=spec, variables={"DATA_ROOT": str(tmp_path / "elsewhere")})
    items = kit.before("datalist.dataset_items", ctx)["data"]
    assert [item["image"] for item in items] == [
        str(datalist.parent / f"{n}.nii.gz") for n in "abc"
    ]


def test_a_dataset_without_a_datalist_is_left_alone(kit):
    assert not kit.applies("datalist.dataset_items", kit.context(Dataset, {"data": []}))


def test_a_rank_beyond_the_evaluation_cases_gets_none_and_no_copy(datalist):
    facts = RunFacts({"DATA_ROOT": str(datalist.parent)}, "cpu", rank=1, world_size=2)
    spec = _spec(datalist, "validation")
    # Evaluation is not padded: no case scored twice (the empty rank joins the reduction).
    assert load_rank_datalist(spec, facts, "config.json: validate.dataset", even=False) == []
    # Training pads the list instead, so that every rank runs the same number of steps.
    assert len(load_rank_datalist(spec, facts, "config.json: train.dataset", even=True)) == 1


def test_an_unreadable_datalist_names_the_config_key(kit, tmp_path):
    ctx = kit.context(Dataset, spec=_spec(tmp_path / "missing.json"))
    with pytest.raises(DataError, match="config.json: train.thing: "):
        kit.before("datalist.dataset_items", ctx)


def _pair(folder, name, label_change=None):
    import SimpleITK as sitk

    image = sitk.Image([8, 8, 6], sitk.sitkFloat32)
    image.SetSpacing((0.8, 0.8, 2.5))
    image.SetOrigin((-12.0, 30.5, 7.25))
    label = sitk.Image([8, 8, 6], sitk.sitkUInt8)
    label.CopyInformation(image)
    if label_change is not None:
        label = label_change(label)
    sitk.WriteImage(image, str(folder / f"{name}.nii.gz"))
    sitk.WriteImage(label, str(folder / f"{name}_seg.nii.gz"))
    return {"image": f"{name}.nii.gz", "label": f"{name}_seg.nii.gz"}


def _shifted(label):
    label.SetOrigin((-12.0, 30.5, 9.75))
    return label


def _flipped(label):
    label.SetDirection((-1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
    return label


def _respaced(label):
    label.SetSpacing((0.8, 0.8, 3.0))
    return label


@pytest.mark.parametrize(
    "change, expected",
    [
        (lambda label: label[:, :, :-1], r"size \(8, 8, 6\) vs \(8, 8, 5\)"),
        (_respaced, r"spacing \(.*2\.5\) vs \(.*3\.0\)"),
        (_shifted, r"origin \(.*7\.25\) vs \(.*9\.75\)"),
        (_flipped, r"direction \(1\.0, .*\) vs \(-1\.0, .*\)"),
    ],
)
def test_an_image_and_label_on_different_grids_are_refused(kit, tmp_path, change, expected):
    items = [_pair(tmp_path, "good"), _pair(tmp_path, "bad", change)]
    (tmp_path / "datalist.json").write_text(json.dumps({"training": items}), encoding="utf-8")
    ctx = kit.context(
        Dataset, spec=_spec(tmp_path / "datalist.json"), variables={"DATA_ROOT": str(tmp_path)}
    )

    with pytest.raises(DataError) as caught:
        kit.before("datalist.dataset_items", ctx)

    message = str(caught.value)
    assert "train.thing: image and label are not on the same grid" in message
    assert f"{tmp_path / 'bad.nii.gz'} / {tmp_path / 'bad_seg.nii.gz'}: " in message
    assert "good.nii.gz" not in message
    assert re.search(expected, message), message


def test_a_label_within_tolerance_of_its_image_is_accepted(kit, tmp_path):
    def nudged(label):
        label.SetOrigin((-12.0, 30.5, 7.2504))
        return label

    items = [_pair(tmp_path, "a", nudged)]
    (tmp_path / "datalist.json").write_text(json.dumps({"training": items}), encoding="utf-8")
    ctx = kit.context(
        Dataset, spec=_spec(tmp_path / "datalist.json"), variables={"DATA_ROOT": str(tmp_path)}
    )
    assert len(kit.before("datalist.dataset_items", ctx)["data"]) == 1


@pytest.mark.parametrize("label_depth, accepted", [(6, True), (5, False)])
def test_a_4d_image_is_compared_with_its_3d_label_on_the_spatial_axes(
    kit, tmp_path, label_depth, accepted
):
    # BraTS in one file: four MRI channels as a 4th axis, a 3D label on the same grid.
    import SimpleITK as sitk

    image = sitk.JoinSeries([sitk.Image([8, 8, 6], sitk.sitkFloat32)] * 4)
    image.SetSpacing((0.8, 0.8, 2.5, 1.0))
    sitk.WriteImage(image, str(tmp_path / "case.nii.gz"))
    label = sitk.Image([8, 8, label_depth], sitk.sitkUInt8)
    label.SetSpacing((0.8, 0.8, 2.5))
    sitk.WriteImage(label, str(tmp_path / "case_seg.nii.gz"))
    items = [{"image": "case.nii.gz", "label": "case_seg.nii.gz"}]
    (tmp_path / "datalist.json").write_text(json.dumps({"training": items}), encoding="utf-8")
    ctx = kit.context(
        Dataset, spec=_spec(tmp_path / "datalist.json"), variables={"DATA_ROOT": str(tmp_path)}
    )
    if accepted:
        assert len(kit.before("datalist.dataset_items", ctx)["data"]) == 1
    else:
        with pytest.raises(DataError, match=r"size \(8, 8, 6\) vs \(8, 8, 5\)"):
            kit.before("datalist.dataset_items", ctx)
