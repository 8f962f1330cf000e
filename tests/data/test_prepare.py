from __future__ import annotations

import json

import pytest
import SimpleITK as sitk

from clara_cli.data.prepare import find_msd_cases, prepare_datalist
from clara_cli.errors import DataError


@pytest.fixture
def msd_root(tmp_path, make_ct_pair):
    """Six cases in MSD layout without dataset.json, plus two test images."""
    root = tmp_path / "Task99"
    for i in range(1, 7):
        image, label = make_ct_pair(seed=i)
        (root / "imagesTr").mkdir(parents=True, exist_ok=True)
        (root / "labelsTr").mkdir(parents=True, exist_ok=True)
        sitk.WriteImage(image, str(root / "imagesTr" / f"case_{i}.nii.gz"))
        sitk.WriteImage(label, str(root / "labelsTr" / f"case_{i}.nii.gz"))
    (root / "imagesTs").mkdir()
    for i in (7, 8):
        sitk.WriteImage(make_ct_pair(seed=i)[0], str(root / "imagesTs" / f"case_{i}.nii.gz"))
    return root


def cases_of(items):
    return sorted(item["image"] for item in items)


def test_split_is_deterministic_relative_and_complete(msd_root):
    report = prepare_datalist(msd_root, seed=3)
    [path] = report.datalists
    assert path == msd_root / "dataset_0.json"
    datalist = json.loads(path.read_text())
    assert (len(datalist["training"]), len(datalist["validation"])) == (5, 1)
    everything = cases_of(datalist["training"] + datalist["validation"])
    assert everything == [f"imagesTr/case_{i}.nii.gz" for i in range(1, 7)]
    assert datalist["training"][0]["label"].startswith("labelsTr/")
    assert cases_of(datalist["test"]) == ["imagesTs/case_7.nii.gz", "imagesTs/case_8.nii.gz"]

    again = prepare_datalist(msd_root, msd_root / "again.json", seed=3)
    assert json.loads(again.datalists[0].read_text()) == datalist
    splits = set()
    for seed in range(6):
        other = prepare_datalist(msd_root, msd_root / f"s{seed}.json", seed=seed)
        splits.add(tuple(cases_of(json.loads(other.datalists[0].read_text())["validation"])))
    assert len(splits) > 1


def test_k_folds_partition_the_cases(msd_root):
    report = prepare_datalist(msd_root, folds=3, seed=1)
    assert [p.name for p in report.datalists] == [f"dataset_fold{k}.json" for k in range(3)]
    validations = []
    for path in report.datalists:
        datalist = json.loads(path.read_text())
        training, validation = cases_of(datalist["training"]), cases_of(datalist["validation"])
        assert not set(training) & set(validation)
        assert len(training) + len(validation) == 6
        validations.extend(validation)
    assert sorted(validations) == [f"imagesTr/case_{i}.nii.gz" for i in range(1, 7)]


def test_too_many_folds(msd_root):
    with pytest.raises(DataError, match="cannot make 7 folds from 6"):
        prepare_datalist(msd_root, folds=7)


def test_unmatched_files_and_geometry_are_reported(msd_root, make_ct_pair):
    image, label = make_ct_pair(seed=9)
    sitk.WriteImage(image, str(msd_root / "imagesTr" / "lonely.nii.gz"))
    sitk.WriteImage(label, str(msd_root / "labelsTr" / "orphan.nii.gz"))
    shifted = sitk.ReadImage(str(msd_root / "labelsTr" / "case_2.nii.gz"))
    shifted.SetOrigin((0.0, 0.0, 0.0))
    sitk.WriteImage(shifted, str(msd_root / "labelsTr" / "case_2.nii.gz"))
    report = prepare_datalist(msd_root)
    assert report.cases.unmatched_images == ["imagesTr/lonely.nii.gz"]
    assert report.cases.unmatched_labels == ["labelsTr/orphan.nii.gz"]
    [problem] = report.geometry_problems
    assert problem.startswith("imagesTr/case_2.nii.gz / labelsTr/case_2.nii.gz: origin")
    text = "\n".join(report.warnings())
    assert "1 image(s) without a label" in text and "1 pair(s) whose geometry disagrees" in text


def test_dataset_json_is_used_when_present(msd_root):
    description = {
        "training": [
            {"image": f"./imagesTr/case_{i}.nii.gz", "label": f"./labelsTr/case_{i}.nii.gz"}
            for i in (1, 2, 3, 4)
        ]
        + [{"image": "./imagesTr/gone.nii.gz", "label": "./labelsTr/gone.nii.gz"}],
        "test": ["./imagesTs/case_7.nii.gz"],
    }
    (msd_root / "dataset.json").write_text(json.dumps(description))
    cases = find_msd_cases(msd_root)
    assert len(cases.pairs) == 4
    assert cases.missing == ["imagesTr/gone.nii.gz", "labelsTr/gone.nii.gz"]
    assert cases.test == ["imagesTs/case_7.nii.gz"]
    assert cases.unmatched_images == ["imagesTr/case_5.nii.gz", "imagesTr/case_6.nii.gz"]


def test_dataset_json_without_test_list_takes_images_ts(msd_root):
    description = {
        "training": [{"image": "imagesTr/case_1.nii.gz", "label": "labelsTr/case_1.nii.gz"}]
    }
    (msd_root / "dataset.json").write_text(json.dumps(description))
    assert find_msd_cases(msd_root).test == ["imagesTs/case_7.nii.gz", "imagesTs/case_8.nii.gz"]
    description["test"] = []  # an explicit empty list is respected
    (msd_root / "dataset.json").write_text(json.dumps(description))
    assert find_msd_cases(msd_root).test == []


def test_nnunet_channel_suffix_is_matched(tmp_path, make_ct_pair):
    image, label = make_ct_pair()
    for folder, name, item in (("imagesTr", "a_0000", image), ("labelsTr", "a", label)):
        (tmp_path / folder).mkdir()
        sitk.WriteImage(item, str(tmp_path / folder / f"{name}.nii.gz"))
    cases = find_msd_cases(tmp_path)
    assert cases.pairs == [{"image": "imagesTr/a_0000.nii.gz", "label": "labelsTr/a.nii.gz"}]


def test_existing_datalist_needs_overwrite(msd_root):
    prepare_datalist(msd_root)
    with pytest.raises(DataError, match="(?s)already exists.*--force"):
        prepare_datalist(msd_root)
    prepare_datalist(msd_root, overwrite=True)


def test_not_an_msd_folder(tmp_path):
    with pytest.raises(DataError, match="no dataset.json and no imagesTr"):
        prepare_datalist(tmp_path)


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_a_datalist_gets_the_umask_s_mode_not_0600(tmp_path, umask):
    import os

    from clara_cli.io.datalist import write_datalist

    previous = os.umask(umask)
    try:
        path = write_datalist(tmp_path / "dataset_0.json", {"training": []})
    finally:
        os.umask(previous)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
