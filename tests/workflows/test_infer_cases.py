"""Which images `clara infer` runs on: files, folders, datalists, and clear refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clara_cli.errors import ConfigError, DataError
from clara_cli.workflows.infer_cases import collect_cases


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def test_a_folder_gives_its_image_files_in_order(tmp_path):
    for name in ("b.nii.gz", "a.nrrd", "notes.txt", ".hidden.nii.gz", "c.mha"):
        _touch(tmp_path / "in" / name)
    cases = collect_cases(tmp_path / "in", None, None, "cfg")
    assert [(c.name, Path(c.reference).name) for c in cases] == [
        ("a", "a.nrrd"),
        ("b", "b.nii.gz"),
        ("c", "c.mha"),
    ]


def test_a_datalist_uses_the_configs_subset_relative_to_its_folder(tmp_path):
    _touch(tmp_path / "data" / "imagesTs" / "x.nii.gz")
    _touch(tmp_path / "data" / "imagesTs" / "y.nii.gz")
    datalist = tmp_path / "data" / "list.json"
    datalist.write_text(json.dumps({"test": ["imagesTs/x.nii.gz", {"image": "imagesTs/y.nii.gz"}]}))
    cases = collect_cases(datalist, {"data_list_key": "test"}, None, "cfg")
    assert [c.name for c in cases] == ["x", "y"]
    assert cases[0].image == str(tmp_path / "data" / "imagesTs" / "x.nii.gz")


def test_without_input_the_configs_dataset_is_read(tmp_path):
    _touch(tmp_path / "root" / "v.nii.gz")
    datalist = tmp_path / "list.json"
    datalist.write_text(json.dumps({"validation": [{"image": "v.nii.gz", "label": "l.nii.gz"}]}))
    spec = {"data_list_file_path": str(datalist), "data_list_key": "validation"}
    with pytest.raises(DataError, match="l.nii.gz"):  # listed files must exist, labels too
        collect_cases(None, spec, str(tmp_path / "root"), "cfg")
    _touch(tmp_path / "root" / "l.nii.gz")
    (case,) = collect_cases(None, spec, str(tmp_path / "root"), "cfg")
    assert case.image == str(tmp_path / "root" / "v.nii.gz")


def test_no_input_and_no_dataset_asks_for_input():
    with pytest.raises(ConfigError, match=r"cfg: no 'dataset'[\s\S]*--input FILE\|DIR\|DATALIST"):
        collect_cases(None, None, None, "cfg")


def test_same_case_names_would_overwrite_each_other(tmp_path):
    datalist = tmp_path / "list.json"
    _touch(tmp_path / "a" / "ct.nii.gz")
    _touch(tmp_path / "b" / "ct.nii.gz")
    datalist.write_text(json.dumps({"test": ["a/ct.nii.gz", "b/ct.nii.gz"]}))
    with pytest.raises(DataError, match=r"would overwrite another's output:\n  .*a/ct.nii.gz and"):
        collect_cases(datalist, None, None, "cfg")


@pytest.mark.parametrize(
    ("name", "message"),
    [("scan.png", "is not a supported input"), ("missing.nii.gz", "input not found")],
)
def test_unsupported_or_missing_inputs_are_refused(tmp_path, name, message):
    if name == "scan.png":
        _touch(tmp_path / name)
    with pytest.raises(DataError, match=message):
        collect_cases(tmp_path / name, None, None, "cfg")


def test_a_folder_without_images_is_refused(tmp_path):
    _touch(tmp_path / "in" / "readme.txt")
    with pytest.raises(DataError, match="no image files in"):
        collect_cases(tmp_path / "in", None, None, "cfg")
